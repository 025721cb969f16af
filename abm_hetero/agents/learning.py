"""Learning traders: Mesa agents with their own preferences that share one policy network.

Each tick the active learning traders of a group decide as one batch: the group's
:class:`~abm_hetero.learning.observer.Observer` builds their observations (the feature list is
``learning/observer.py``), the shared policy is evaluated once for the whole batch, and each
trader turns its action into one limit order; the group's
:class:`~abm_hetero.learning.reward.Reward` scores each trader's previous decision (its named
terms are ``learning/reward.py``), and the group hands the transitions to the rollout buffer
while training and the decisions and reward terms to the audit (docs/learning.md).

Action ``(r, v)`` in (-1, 1)^2: if ``v > 0`` buy at ``m (1 - range * r)``, else sell at
``m (1 + range * r)``, where ``m`` is the reference price; volume ``ceil(|max_order_volume *
v|)``; the order lives ``order_ttl`` ticks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ..learning.compiled import limit_orders
from ..learning.observer import EXTRA_FEATURE_NAMES, MAX_HISTORY, Observer, feature_names
from ..learning.reward import REWARDS, RISK_VARIANCES, VALUATIONS, Reward, Snapshot
from ..market import BUY, SELL
from ..validation import MAX_COUNT, MAX_TICKS, check, check_ranges
from .base import OrderBatch, Trader, TraderGroup

if TYPE_CHECKING:
    from ..learning.buffer import RolloutBuffer
    from ..model import MarketModel
    from .audit import DecisionAudit


@dataclass
class LearningParams:
    """Parameters of a group of learning traders (docs/learning.md explains each choice)."""

    #: a shipped policy ("heterogeneous", "homogeneous", "prior") or a checkpoint file path
    policy: str = "heterogeneous"
    #: act with the mean action instead of sampling
    deterministic: bool = False
    #: an order's price is the reference price times (1 -/+ limit_order_range * r)
    limit_order_range: float = 0.01
    max_order_volume: int = 20
    #: order lifetime in ticks; None: one decision interval, round(1 / activity_rate)
    order_ttl: int | None = None
    depth_ratio_cap: float = 5.0
    #: "mean_variance" (marked wealth change minus a risk charge on the position held),
    #: "utility_change" or "utility_level" (the reference's bounded CARA utility)
    reward: str = "mean_variance"
    #: price at which holdings are marked: "anchored" (the fundamental times the market's
    #: smoothed premium), "fundamental", or "market" (the last trade, as in the reference)
    valuation: str = "anchored"
    #: ticks over which the anchored mark averages the market's premium over the fundamental
    mark_smoothing: float = 10.0
    #: at the episode's end the holding is settled at the fundamental value
    settle_at_fundamental: bool = True
    #: risk charge per decision: alpha * risk_scale / 2 * (q mark / p0)^2 * s^2 * ticks held
    risk_scale: float = 0.75
    #: the variance per tick s^2 of the risk charge: "fundamental" (the fundamental's constant
    #: variance), "since_decision" (the realized variance of the reference price's tick returns
    #: since the trader's previous decision) or "ewma" (the market's exponentially weighted
    #: average of squared tick returns, half-life risk_halflife ticks)
    risk_variance: str = "fundamental"
    risk_halflife: float = 50.0
    #: optional observation features (learning/observer.py, EXTRA_FEATURES), observed after the
    #: traits in that table's order; a policy reads exactly the features it was trained on
    extra_features: list[str] = field(default_factory=list)
    #: memory: the trader's own previous ``history`` observations (their market and extra
    #: features, the most recent first; zeros before its first decisions) follow the current one
    history: int = 0
    #: include the zero-mean revaluation of the held position by the fundamental's own moves
    reward_fundamental_moves: bool = False
    #: scale of the reference's utility (utility rewards only)
    utility_scale: float = 6e-5
    #: multiplies the utility change (utility rewards only), to compare it with the penalties
    reward_scale: float = 100.0
    short_selling_penalty: float = 0.1
    cash_shortage_penalty: float = 0.1
    liquidity_penalty: float = 0.0
    fundamental_penalty: float = 0.0
    fundamental_penalty_cap: float = 1.0

    RANGES: ClassVar[dict] = {
        "limit_order_range": (0.0, 1.0, (True, True)), "max_order_volume": (1, MAX_COUNT),
        "order_ttl": (0, MAX_TICKS), "depth_ratio_cap": (0.0, 1e6),
        "history": (0, MAX_HISTORY),
        "mark_smoothing": (1.0, MAX_TICKS), "risk_scale": (0.0, 1e6),
        "risk_halflife": (0.0, MAX_TICKS, (True, False)),
        "utility_scale": (0.0, 1.0), "reward_scale": (0.0, 1e6),
        **{name: (0.0, 1e6) for name in ("short_selling_penalty", "cash_shortage_penalty",
                                         "liquidity_penalty", "fundamental_penalty",
                                         "fundamental_penalty_cap")},
    }

    def __post_init__(self) -> None:
        # reason: none now: learning.pretrained loads no torch and could sit at the top
        from ..learning.pretrained import SHIPPED

        check(self.policy in SHIPPED or bool(Path(self.policy).suffix),
              f"learning.policy must be a shipped policy ({', '.join(SHIPPED)}) or the path of "
              f"a checkpoint file (.pt), got {self.policy!r}")
        check(self.reward in REWARDS,
              f"learning.reward must be one of {', '.join(REWARDS)}, got {self.reward!r}")
        check(self.valuation in VALUATIONS,
              f"learning.valuation must be one of {', '.join(VALUATIONS)}, got "
              f"{self.valuation!r}")
        check(self.risk_variance in RISK_VARIANCES,
              f"learning.risk_variance must be one of {', '.join(RISK_VARIANCES)}, got "
              f"{self.risk_variance!r}")
        check(isinstance(self.extra_features, (list, tuple)),
              f"learning.extra_features must be a list, got {self.extra_features!r}")
        self.extra_features = list(self.extra_features)
        unknown = [f for f in self.extra_features if f not in EXTRA_FEATURE_NAMES]
        check(not unknown, f"learning.extra_features: unknown feature(s) "
                           f"{', '.join(map(repr, unknown))}; known: "
                           f"{', '.join(EXTRA_FEATURE_NAMES)}")
        check(len(set(self.extra_features)) == len(self.extra_features),
              f"learning.extra_features names a feature twice: {self.extra_features!r}")
        check_ranges(self, "learning.")
        check(float(self.history).is_integer(),
              f"learning.history must be a whole number of decisions, got {self.history!r}")
        self.history = int(self.history)

    @property
    def features(self) -> tuple[str, ...]:
        """The observation features of these traders (the policy must read the same)."""
        return feature_names(self.extra_features, self.history)


_POLICY_CACHE: dict[str, object] = {}


def load_named_policy(name: str, features: tuple[str, ...] | None = None):
    """A shipped policy by name, or a checkpoint by path (cached: loaded once per process),
    for traders that observe ``features`` (default: no extra features)."""
    features = feature_names() if features is None else tuple(features)
    key = name if features == feature_names() else f"{name}\0{','.join(features)}"
    if key not in _POLICY_CACHE:
        # reason: checkpoint loads torch (pretrained does not; it sits beside it)
        from ..learning.checkpoint import load_policy
        from ..learning.pretrained import pretrained_path

        path = pretrained_path(name) if not Path(name).suffix else Path(name)
        _POLICY_CACHE[key] = load_policy(path, features=features)
    return _POLICY_CACHE[key]


def _filled(n: int, value, dtype=np.float64) -> np.ndarray:
    """``np.full(n, value, dtype)``, without its per-call overhead (a snapshot makes three a
    tick)."""
    out = np.empty(n, dtype)
    out.fill(value)
    return out


@dataclass
class Decision:
    """The first half of a batched decision: who acts, their accounts, their observations,
    and the rewards (with their terms) of their previous decisions (NaN where none)."""

    active: np.ndarray
    snapshot: Snapshot
    obs: np.ndarray
    reward: np.ndarray
    terms: dict[str, np.ndarray]
    known: np.ndarray


class LearningTrader(Trader):
    """A trader that asks the shared policy what to do; its state lives in its group's arrays."""

    @property
    def last_decision(self) -> int:
        return int(self.group.last.tick[self.index])


class LearningGroup(TraderGroup):
    """The learning traders of a market: one batched policy call per tick for the active ones.

    The group wires its parts: the observer builds the active traders' observations, the
    policy acts on them, :meth:`orders` turns actions into orders, and the reward scores each
    trader's previous decision for the recorder (while training) and the audit. Per trader it
    keeps a snapshot of its account and mark at its last decision (``last``), from which the
    next decision's reward is computed, and its open transition in the recorder (``pending``)
    and in the audit (``audit_pending``); for the group, the running reward totals and the
    number of decisions taken.
    """

    kind = "learning"
    agent_class = LearningTrader

    def __init__(self, model: MarketModel, rows, traits, settings) -> None:
        super().__init__(model, rows, traits, settings)
        p: LearningParams = self.params
        n = len(self.rows)
        self.policy = model.policy or load_named_policy(p.policy, p.features)
        #: where transitions go while training, and where decisions are audited (or None)
        self.recorder: RolloutBuffer | None = model.recorder
        self.audit: DecisionAudit | None = model.audit
        self.interval = 1.0 / self.activity_rate
        self.ttl = p.order_ttl if p.order_ttl is not None else max(1, round(self.interval))
        #: act through the policy's NumPy forward and build observations and orders in
        #: compiled loops (the compiled core) rather than through torch and NumPy
        self.fast = model.settings.core == "compiled"
        self.observer = Observer(model.exchange, p, traits, self.policy, self.interval,
                                 self.rows, compiled=self.fast)
        self.reward = Reward(model.exchange, p, n, model.settings.market.initial_price,
                             compiled=self.fast)
        self.last = Snapshot.empty(n)  # each trader's account and mark at its last decision
        self.pending = np.full(n, -1, np.int64)  # open transition in the recorder
        self.audit_pending = np.full(n, -1, np.int64)  # open decision in the audit
        self.reward_sum = 0.0
        self.reward_count = 0
        self.decisions = 0

    def start_learning(self, recorder: RolloutBuffer | None) -> None:
        """From now on, record transitions into ``recorder`` and count rewards afresh (the
        warm-up's decisions are neither learned from nor scored)."""
        self.recorder = recorder
        self.reward_sum, self.reward_count = 0.0, 0

    def snapshot(self, model: MarketModel, index: np.ndarray) -> Snapshot:
        """Accounts of the traders ``index`` (within the group) and the current mark."""
        n = len(index)
        exchange = model.exchange
        cash, shares = exchange.holdings(self.rows[index])
        return Snapshot(_filled(n, exchange.now, np.int64), cash, shares.astype(np.float64),
                        _filled(n, exchange.fundamental_price()), _filled(n, self.reward.mark()))

    def observe(self, model: MarketModel, active: np.ndarray, snap: Snapshot | None = None):
        """Observations of the active traders (one batch) and their recent return and
        volatility (the inputs of the reference's utility)."""
        snap = snap if snap is not None else self.snapshot(model, active)
        return self.observer.observe(active, snap.cash, snap.shares, self.last.tick[active],
                                     self.traits.sigma[active], model.rng)

    def _score(self, index: np.ndarray, now: Snapshot, r_hat, v_hat, settle: bool = False):
        """Rewards (and their terms) of the traders' previous decisions, counted in the
        group's tally; ``known`` marks the traders that had one."""
        reward, terms = self.reward(index, self.last.take(index), now, self.traits, r_hat,
                                    v_hat, settle=settle)
        known = ~np.isnan(reward)
        self.reward_sum += float(reward[known].sum())
        self.reward_count += int(known.sum())
        return reward, terms, known

    def _close(self, index: np.ndarray, reward: np.ndarray, terms, interval, known,
               new_transitions=None, new_audit=None) -> None:
        """Hand the rewards of the traders' previous decisions to the recorder and the audit."""
        recorder, audit = self.recorder, self.audit
        if recorder is not None:
            waiting = known & (self.pending[index] >= 0)
            nxt = None if new_transitions is None else new_transitions[waiting]
            recorder.close(self.pending[index][waiting], reward[waiting], nxt)
            self.pending[index] = -1 if new_transitions is None else new_transitions
        if audit is not None:
            waiting = known & (self.audit_pending[index] >= 0)
            audit.rewards(self.audit_pending[index][waiting], interval[waiting],
                          {k: v[waiting] for k, v in terms.items()}, reward[waiting])
            self.audit_pending[index] = -1 if new_audit is None else new_audit

    # ------------------------------------------------------------------ acting

    def decide(self, model: MarketModel, active: np.ndarray) -> OrderBatch:
        """Reward each active trader's previous decision, then act: one policy call for the
        whole batch, one limit order per trader."""
        decision = self.begin_decision(model, active)
        noise = None if self.params.deterministic else model.rng.standard_normal(
            (len(active), 2))
        training = self.recorder is not None
        out = self.policy.act(decision.obs, noise, with_value=training, with_logp=training,
                              fast=self.fast)
        return self.act_on(model, decision, out["action"], out)

    def begin_decision(self, model: MarketModel, active: np.ndarray) -> Decision:
        """The first half of a decision: the active traders' observations, and the rewards of
        their previous decisions (counted in the group's tally)."""
        self.decisions += len(active)
        now = self.snapshot(model, active)
        obs, (r_hat, v_hat) = self.observe(model, active, now)
        reward, terms, known = self._score(active, now, r_hat, v_hat)
        return Decision(active, now, obs, reward, terms, known)

    def act_on(self, model: MarketModel, decision: Decision, action: np.ndarray,
               policy_out: dict[str, np.ndarray] | None = None) -> OrderBatch:
        """The second half: hand the transitions to the recorder and the audit, remember the
        accounts, and turn ``action`` (one row per active trader) into orders. ``policy_out``
        holds the policy's pre-squash sample, log-probability and value when the policy acted;
        an action from outside (an environment) is recorded in the audit as it is."""
        active, now, obs = decision.active, decision.snapshot, decision.obs
        recorder, audit = self.recorder, self.audit
        raw = policy_out["raw"] if policy_out is not None else action
        new_transitions = new_audit = None
        if recorder is not None:
            if policy_out is None:
                raise ValueError("a rollout buffer needs the policy's own actions")
            new_transitions = recorder.add(obs, raw, policy_out["logp"], policy_out["value"],
                                           self.traits.gamma[active], self.rows[active])
        if audit is not None:
            gap = math.log(model.exchange.fundamental_price() / model.exchange.reference_price())
            new_audit = audit.decisions(now.tick[0], self.rows[active], obs, raw, action,
                                        now.shares, gap)
        if recorder is not None or audit is not None:  # else nothing waits for the rewards
            interval = now.tick - self.last.tick[active]
            self._close(active, decision.reward, decision.terms, interval, decision.known,
                        new_transitions, new_audit)
        self.last.store(active, now)
        return self.orders(model, active, action)

    def orders(self, model: MarketModel, active: np.ndarray, action: np.ndarray) -> OrderBatch:
        """Turn actions (price offset, signed volume) into one limit order each."""
        p = self.params
        m = model.exchange.reference_price()
        if self.fast:
            ints, prices = limit_orders(self.rows[active], np.asarray(action), m,
                                        p.limit_order_range, float(p.max_order_volume),
                                        int(self.ttl))
            return OrderBatch(ints[0], ints[1], prices, ints[2], ints[3])
        offset, signed = action[:, 0].astype(np.float64), action[:, 1].astype(np.float64)
        buy = signed > 0
        prices = np.where(buy, m * (1 - p.limit_order_range * offset),
                          m * (1 + p.limit_order_range * offset))
        volumes = np.ceil(np.abs(p.max_order_volume * signed)).astype(np.int64)
        batch = OrderBatch(self.rows[active], np.where(buy, BUY, SELL), prices, volumes,
                           np.full(len(active), self.ttl))
        return batch.select(volumes >= 1)

    def finish_episode(self, model: MarketModel) -> np.ndarray:
        """Close every open decision at the episode's end: terminal, no bootstrapping; with
        ``settle_at_fundamental`` the holdings are settled at the fundamental value. Returns
        each trader's last reward (NaN for a trader that never decided)."""
        everyone = np.arange(len(self.rows))
        now = self.snapshot(model, everyone)
        r_hat, v_hat = self.observer.recent_returns(self.last.tick)
        reward, terms, known = self._score(everyone, now, r_hat, v_hat, settle=True)
        self._close(everyone, reward, terms, now.tick - self.last.tick, known)
        self.last = Snapshot.empty(len(self.rows))
        return reward

    @property
    def mean_reward(self) -> float:
        return self.reward_sum / self.reward_count if self.reward_count else math.nan
