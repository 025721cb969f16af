"""Rollout storage for shared-policy PPO, and GAE with each trader's own discount factor.

Transitions of all learning traders go into one buffer. A transition is *open* from the moment
its action is taken until the same trader's next decision (or the end of the episode), when its
reward becomes known: what its own action (and its exposure to the market in between) earned
over that interval, as ``learning/reward.py`` computes it (by default the change of its marked
wealth minus a risk charge on its position, plus the settlement at the episode's end, minus
penalties). Closing a transition
links it to the trader's next transition, so GAE can follow each trader's chain of decisions.
"""

from __future__ import annotations

import numpy as np


class RolloutBuffer:
    """Growable arrays of transitions; ``next_index`` links a trader's consecutive decisions."""

    #: transitions the arrays hold at first; they double whenever a rollout needs more
    INITIAL_CAPACITY = 8192

    def __init__(self, obs_dim: int, act_dim: int, capacity: int = INITIAL_CAPACITY) -> None:
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self._alloc(capacity)
        self.size = 0

    def _alloc(self, capacity: int) -> None:
        self.obs = np.zeros((capacity, self.obs_dim), np.float32)
        self.raw = np.zeros((capacity, self.act_dim), np.float32)
        self.logp = np.zeros(capacity, np.float32)
        self.value = np.zeros(capacity, np.float32)
        self.gamma = np.zeros(capacity, np.float32)
        self.reward = np.full(capacity, np.nan, np.float32)
        self.done = np.zeros(capacity, bool)
        self.next_index = np.full(capacity, -1, np.int64)
        self.trader = np.zeros(capacity, np.int64)

    #: the arrays of a transition
    FIELDS = ("obs", "raw", "logp", "value", "gamma", "reward", "done", "next_index", "trader")

    def _grow(self, need: int) -> None:
        capacity = len(self.logp)
        if need <= capacity:
            return
        old = {f: getattr(self, f) for f in self.FIELDS}
        self._alloc(max(need, 2 * capacity))
        for f, arr in old.items():
            getattr(self, f)[: self.size] = arr[: self.size]

    def add(self, obs, raw, logp, value, gamma, trader) -> np.ndarray:
        """Append open transitions; returns their indices."""
        n = len(obs)
        self._grow(self.size + n)
        idx = np.arange(self.size, self.size + n)
        self.obs[idx] = obs
        self.raw[idx] = raw
        self.logp[idx] = logp
        self.value[idx] = value
        self.gamma[idx] = gamma
        self.trader[idx] = trader
        self.size += n
        return idx

    def close(self, idx, reward, next_index=None) -> None:
        """Set the rewards of open transitions; ``next_index`` None means the episode ended."""
        self.reward[idx] = reward
        if next_index is None:
            self.done[idx] = True
        else:
            self.next_index[idx] = next_index

    def clear(self) -> None:
        self.size = 0
        self.reward[:] = np.nan
        self.done[:] = False
        self.next_index[:] = -1

    def complete(self) -> np.ndarray:
        """Indices of transitions whose reward is known (open ones wait for the next rollout)."""
        return np.flatnonzero(~np.isnan(self.reward[: self.size]))


def compute_gae(reward, value, gamma, done, next_index, lam: float):
    """Generalised advantage estimation along each trader's chain of decisions.

    ``delta_i = r_i + gamma_i V(s_next(i)) (1 - done_i) - V(s_i)`` and
    ``A_i = delta_i + gamma_i lam (1 - done_i) A_next(i)``, with each transition's own discount
    ``gamma_i`` (the trader's trait). A transition that is neither done nor linked (the run was
    cut off) bootstraps from nothing and is best excluded by the caller. ``next_index`` always
    points later in the arrays, so one backward pass suffices.
    """
    n = len(reward)
    adv = np.zeros(n, np.float64)
    nxt = np.asarray(next_index)
    linked = nxt >= 0
    next_value = np.where(linked, value[np.where(linked, nxt, 0)], 0.0)
    cont = (~np.asarray(done)) & linked
    delta = reward + gamma * next_value * cont - value
    decay = gamma * lam * cont
    nxt_list = nxt.tolist()
    delta_list = delta.tolist()
    decay_list = decay.tolist()
    adv_list = [0.0] * n
    for i in range(n - 1, -1, -1):
        j = nxt_list[i]
        adv_list[i] = delta_list[i] + (decay_list[i] * adv_list[j] if j >= 0 else 0.0)
    adv[:] = adv_list
    return adv, adv + value
