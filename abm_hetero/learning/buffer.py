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
        """Append open transitions; returns their indices (written as one slice per array:
        a market appends a batch every tick, so the per-call cost counts)."""
        n = len(obs)
        start, end = self.size, self.size + n
        if end > len(self.logp):
            self._grow(end)
        self.obs[start:end] = obs
        self.raw[start:end] = raw
        self.logp[start:end] = logp
        self.value[start:end] = value
        self.gamma[start:end] = gamma
        self.trader[start:end] = trader
        self.size = end
        return np.arange(start, end)

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


def _chain_advantages(delta: np.ndarray, decay: np.ndarray, nxt: np.ndarray) -> np.ndarray:
    """``A_i = delta_i + decay_i A_nxt(i)`` (``nxt`` negative at a chain's end), level by
    level from the chains' ends: each transition's distance from its chain's end is found by
    pointer jumping (a few whole-array passes), then every transition at distance ``d`` is
    computed at once from those at ``d - 1``, with the same float64 operations as a loop."""
    n = len(delta)
    linked = nxt >= 0
    rank = linked.astype(np.int64)  # links from each transition to its chain's end
    ptr = np.where(linked, nxt, -1)
    for _ in range(64):  # each pass doubles the links jumped; 2 ** 64 exceeds any chain
        live = ptr >= 0
        if not live.any():
            break
        target = ptr[live]
        rank[live] += rank[target]
        ptr[live] = ptr[target]
    order = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[order], np.arange(rank.max(initial=0) + 2))
    adv = np.zeros(n, np.float64)
    ends = order[bounds[0]:bounds[1]]
    adv[ends] = delta[ends]
    for d in range(1, len(bounds) - 1):
        level = order[bounds[d]:bounds[d + 1]]
        adv[level] = delta[level] + decay[level] * adv[nxt[level]]
    return adv


def compute_gae(reward, value, gamma, done, next_index, lam: float):
    """Generalised advantage estimation along each trader's chain of decisions.

    ``delta_i = r_i + gamma_i V(s_next(i)) (1 - done_i) - V(s_i)`` and
    ``A_i = delta_i + gamma_i lam (1 - done_i) A_next(i)``, with each transition's own discount
    ``gamma_i`` (the trader's trait). A transition that is neither done nor linked (the run was
    cut off) bootstraps from nothing and is best excluded by the caller. ``next_index`` always
    points later in the arrays, so the chains can be evaluated from their ends
    (:func:`_chain_advantages`, whole arrays at a time); each advantage is the same float64
    expression as in a backward loop over the transitions, so the numbers are the same.
    """
    nxt = np.asarray(next_index, np.int64)
    value = np.asarray(value, np.float64)
    linked = nxt >= 0
    next_value = np.where(linked, value[np.where(linked, nxt, 0)], 0.0)
    cont = (~np.asarray(done, bool)) & linked
    delta = np.asarray(reward + gamma * next_value * cont - value, np.float64)
    decay = np.asarray(gamma * lam * cont, np.float64)
    adv = _chain_advantages(delta, decay, nxt)
    return adv, adv + value
