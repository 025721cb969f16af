"""Learning traders: Mesa agents with their own preferences that share one policy network.

Each tick the active learning traders of a group build their observations as one batch, the
shared policy is evaluated once for the whole batch, and each trader turns its action into one
limit order (docs/learning.md).

Observation (11 features, each rescaled from its range to [-1, 1] and clipped; ``P`` is the
reference price, the mid; the ranges were set from the 5-95% ranges measured in trained
markets, see docs/learning.md):

====  ===========================  ==========================================  ==============
idx   name                         raw value                                   range
====  ===========================  ==========================================  ==============
0     asset_ratio                  q P / (W + 1e-6)                            [-0.2, 0.8]
1     holding                      q / max_order_volume                        [-1, 4]
2     inverted_buying_power        P / (cash + 1e-6)                           [0, 0.1]
3     recent_return                r_hat: mean log return of the reference     [-0.01, 0.01]
                                   price since the trader's last decision,
                                   times its decision interval 1/activity
4     recent_volatility            V_hat: population variance of the same      [0, 2e-5]
                                   returns, times the decision interval
5     bid_depth_ratio              min(|q| / (bid depth + 1e-6), 5)            [0, 0.25]
6     ask_depth_ratio              min(|q| / (ask depth + 1e-6), 5)            [0, 0.25]
7     blurred_fundamental_gap      log F - log P + N(0, sigma^2)               [-0.02, 0.02]
8-10  sigma, alpha, gamma          the trader's traits (0 if the policy        the policy's
                                   masks them)                                 trait bounds
====  ===========================  ==========================================  ==============

Action ``(r, v)`` in (-1, 1)^2: if ``v > 0`` buy at ``m (1 - range * r)``, else sell at
``m (1 + range * r)``, where ``m`` is the reference price; volume ``ceil(|max_order_volume *
v|)``; the order lives ``order_ttl`` ticks.

The reward of a decision is known at the trader's next decision (or at the episode's end) and
is the sum of the terms of ``agents/reward.py``: by default the change of the trader's wealth
marked at the fundamental-anchored price, minus a risk charge on the position it holds, plus
the settlement of its holding at the fundamental at the episode's end, minus penalties.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ..defaults import OBSERVATION_SIZE
from ..market import BUY, SELL, ReturnWindows
from ..validation import MAX_COUNT, MAX_TICKS, check, check_ranges
from .base import OrderBatch, Trader, TraderGroup
from .reward import (
    REWARDS,
    UTILITY_TERMS,
    VALUATIONS,
    PremiumTracker,
    Snapshot,
    bounded_utility,
    cara_utility_parts,
    mean_variance_terms,
    utility_slope,
)

if TYPE_CHECKING:
    from ..learning.buffer import RolloutBuffer
    from ..model import MarketModel
    from .audit import DecisionAudit

#: (name, low, high) of the market features 0-7; the traits follow (module docstring)
MARKET_FEATURES: tuple[tuple[str, float, float], ...] = (
    ("asset_ratio", -0.2, 0.8),
    ("holding", -1.0, 4.0),
    ("inverted_buying_power", 0.0, 0.1),
    ("recent_return", -0.01, 0.01),
    ("recent_volatility", 0.0, 2e-5),
    ("bid_depth_ratio", 0.0, 0.25),
    ("ask_depth_ratio", 0.0, 0.25),
    ("blurred_fundamental_gap", -0.02, 0.02),
)
_LOWS = np.array([low for _, low, _ in MARKET_FEATURES])
_SPANS = np.array([high - low for _, low, high in MARKET_FEATURES])
TRAIT_FEATURES = ("sigma", "alpha", "gamma")
FEATURE_NAMES = tuple(name for name, _, _ in MARKET_FEATURES) + TRAIT_FEATURES
assert len(FEATURE_NAMES) == OBSERVATION_SIZE


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
        "mark_smoothing": (1.0, MAX_TICKS), "risk_scale": (0.0, 1e6),
        "utility_scale": (0.0, 1.0), "reward_scale": (0.0, 1e6),
        **{name: (0.0, 1e6) for name in ("short_selling_penalty", "cash_shortage_penalty",
                                         "liquidity_penalty", "fundamental_penalty",
                                         "fundamental_penalty_cap")},
    }

    def __post_init__(self) -> None:
        from ..learning.pretrained import SHIPPED

        check(self.policy in SHIPPED or bool(Path(self.policy).suffix),
              f"learning.policy must be a shipped policy ({', '.join(SHIPPED)}) or the path of "
              f"a checkpoint file (.pt), got {self.policy!r}")
        check(self.reward in REWARDS,
              f"learning.reward must be one of {', '.join(REWARDS)}, got {self.reward!r}")
        check(self.valuation in VALUATIONS,
              f"learning.valuation must be one of {', '.join(VALUATIONS)}, got "
              f"{self.valuation!r}")
        check_ranges(self, "learning.")


def rescale(x, low: float, high: float) -> np.ndarray:
    """Min-max rescale to [-1, 1] and clip; a degenerate range (a constant) gives 0."""
    if high <= low:
        return np.zeros_like(np.asarray(x, dtype=np.float64))
    return np.clip(2.0 * (np.asarray(x) - low) / (high - low) - 1.0, -1.0, 1.0)


_POLICY_CACHE: dict[str, object] = {}


def load_named_policy(name: str):
    """A shipped policy by name, or a checkpoint by path (cached: loaded once per process)."""
    if name not in _POLICY_CACHE:
        from ..learning.checkpoint import load_policy
        from ..learning.pretrained import pretrained_path

        path = pretrained_path(name) if not Path(name).suffix else Path(name)
        _POLICY_CACHE[name] = load_policy(path)
    return _POLICY_CACHE[name]


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

    The group keeps, per trader, a snapshot of its account and valuation at its last decision
    (``last``), from which the next decision's reward is computed; the open transition of each
    trader in the rollout buffer (``pending``) while training; and running reward totals.
    """

    kind = "learning"
    agent_class = LearningTrader

    def __init__(self, model: MarketModel, rows, traits, settings) -> None:
        super().__init__(model, rows, traits, settings)
        p: LearningParams = self.params
        n = len(self.rows)
        self.model = model
        self.policy = model.policy or load_named_policy(p.policy)
        #: where transitions go while training, and where decisions are audited (or None)
        self.recorder: RolloutBuffer | None = model.recorder
        self.audit: DecisionAudit | None = model.audit
        self.interval = 1.0 / self.activity_rate
        self.ttl = p.order_ttl if p.order_ttl is not None else max(1, round(self.interval))
        self.unit = float(model.settings.market.initial_price)
        self.last = Snapshot.empty(n)  # each trader's account and mark at its last decision
        self.prev_utility = np.full(n, np.nan)  # utility rewards: u and its parts at the
        self.prev_parts = {k: np.zeros(n) for k in UTILITY_TERMS[:3]}  # last decision
        self.pending = np.full(n, -1, np.int64)  # open transition in the recorder
        self.audit_pending = np.full(n, -1, np.int64)  # open decision in the audit
        self.reward_sum = 0.0
        self.reward_count = 0
        self.decisions = 0
        self._returns = ReturnWindows(model.exchange.price_history("reference"))
        self._premium = PremiumTracker(model.exchange.price_history("reference"),
                                       model.exchange.price_history("fundamental"),
                                       p.mark_smoothing)
        self._gap_run = 0.0  # integral of |log F - log p| over the current same-sign run
        self._gap_sign = 0.0
        self._gap_index = 0
        b = self.policy.bounds
        self._trait_features = np.stack([
            rescale(traits.sigma, *b["sigma"]),
            rescale(traits.alpha, *b["alpha"]),
            rescale(traits.gamma, *b["gamma"]),
        ], axis=1)
        if getattr(self.policy, "masked_traits", False):
            self._trait_features[:] = 0.0

    def start_learning(self, recorder: RolloutBuffer | None) -> None:
        """From now on, record transitions into ``recorder`` and count rewards afresh (the
        warm-up's decisions are neither learned from nor scored)."""
        self.recorder = recorder
        self.reward_sum, self.reward_count = 0.0, 0

    # ------------------------------------------------------------------ valuation

    def mark_price(self, model: MarketModel) -> float:
        """The price at which holdings are marked now (see ``agents/reward.py``)."""
        valuation = self.params.valuation
        market = model.exchange
        if valuation == "fundamental":
            return market.fundamental_price()
        if valuation == "market":
            return market.market_price()
        return market.fundamental_price() * math.exp(self._premium.premium())

    def snapshot(self, model: MarketModel, index: np.ndarray) -> Snapshot:
        """Accounts of the traders ``index`` (within the group) and the current valuation."""
        n = len(index)
        cash, shares = model.exchange.holdings(self.rows[index])
        return Snapshot(np.full(n, model.exchange.now, np.int64), cash, shares.astype(np.float64),
                        np.full(n, model.exchange.fundamental_price()),
                        np.full(n, self.mark_price(model)))

    # ------------------------------------------------------------------ observation

    def _recent_returns(self, model: MarketModel, index: np.ndarray):
        now = model.exchange.now
        last = self.last.tick[index]
        start = np.where(last >= 0, last, now - round(self.interval)).clip(0, now)
        _, mean, var = self._returns.mean_var(start, now)
        return mean * self.interval, var * self.interval

    def observe(self, model: MarketModel, active: np.ndarray, snap: Snapshot | None = None):
        """Observations of the active traders (one batch) and their recent return and
        volatility (the inputs of the reference's utility)."""
        p_ = self.params
        snap = snap if snap is not None else self.snapshot(model, active)
        state = model.exchange.state  # the latest published quotes and depths
        price = model.exchange.reference_price()
        cash, q = snap.cash, snap.shares
        r_hat, v_hat = self._recent_returns(model, active)
        wealth = cash + q * price
        gap = math.log(model.exchange.fundamental_price() / price)
        noise = self.traits.sigma[active] * model.rng.standard_normal(len(active))
        cap = p_.depth_ratio_cap
        held = np.abs(q)
        market = np.empty((len(active), len(MARKET_FEATURES)))  # raw features, a row per trader
        market[:, 0] = q * price / (wealth + 1e-6)
        market[:, 1] = q / p_.max_order_volume
        market[:, 2] = price / (cash + 1e-6)
        market[:, 3] = r_hat
        market[:, 4] = v_hat
        market[:, 5] = np.minimum(held / (state.bid_depth + 1e-6), cap)
        market[:, 6] = np.minimum(held / (state.ask_depth + 1e-6), cap)
        market[:, 7] = gap + noise
        obs = np.empty((len(active), len(FEATURE_NAMES)), np.float32)
        obs[:, :len(MARKET_FEATURES)] = np.clip(2.0 * (market - _LOWS) / _SPANS - 1.0, -1.0, 1.0)
        obs[:, len(MARKET_FEATURES):] = self._trait_features[active]
        return obs, (r_hat, v_hat)

    # ------------------------------------------------------------------ reward

    def _fundamental_gap_run(self, model: MarketModel) -> float:
        """Update and return the integral of |log F - log p| over the current same-sign run."""
        prices = model.exchange.price_history("market").values
        fundamental = model.exchange.price_history("fundamental").values
        end = min(len(prices), len(fundamental))
        for i in range(self._gap_index + 1, end):
            g = math.log(fundamental[i] / prices[i])
            sign = math.copysign(1.0, g) if g != 0 else 0.0
            self._gap_run = abs(g) + (self._gap_run if sign == self._gap_sign else 0.0)
            self._gap_sign = sign
        self._gap_index = max(self._gap_index, end - 1)
        return self._gap_run

    def penalties(self, model: MarketModel, q: np.ndarray, cash: np.ndarray) -> np.ndarray:
        p = self.params
        pen = p.short_selling_penalty * (q < 0) + p.cash_shortage_penalty * (cash < 0)
        if p.liquidity_penalty > 0:
            state = model.exchange.state
            cap = p.depth_ratio_cap
            held = np.maximum(1.0, q)
            s = np.minimum(np.abs(q) / (state.ask_depth + 1e-6), cap) / held + 1e-6
            b = np.minimum(np.abs(q) / (state.bid_depth + 1e-6), cap) / held + 1e-6
            liquidity = s + b + 0.1 * np.abs(np.maximum(s, b) / np.minimum(s, b) - 1)
            pen = pen + np.minimum(p.liquidity_penalty * liquidity, 1.0)
        if p.fundamental_penalty > 0:
            pen = pen + min(p.fundamental_penalty * self._fundamental_gap_run(model),
                            p.fundamental_penalty_cap)
        return pen

    def reward_terms(self, model: MarketModel, index: np.ndarray, now: Snapshot, r_hat,
                     v_hat, settle: bool = False) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Reward of each trader's previous decision (NaN if it has none) and its terms (those
        named ``info_*`` are recorded for the audit but are not part of the reward)."""
        p = self.params
        prev = self.last.take(index)
        penalties = -self.penalties(model, now.shares, now.cash)
        if p.reward == "mean_variance":
            terms = mean_variance_terms(
                prev, now, self.traits.alpha[index], risk_scale=p.risk_scale,
                variance_per_tick=model.exchange.fundamental.variance_per_tick, unit=self.unit,
                settle=settle and p.settle_at_fundamental and p.valuation != "fundamental")
            terms["penalties"] = penalties
            if not p.reward_fundamental_moves:  # kept for the audit, outside the reward
                terms["info_fundamental"] = terms.pop("fundamental")
            reward = sum(v for k, v in terms.items() if not k.startswith("info_"))
        else:
            parts = cara_utility_parts(now.cash, now.shares, now.mark, r_hat, v_hat,
                                       self.traits.alpha[index])
            u_now = bounded_utility(parts, p.utility_scale)
            slope = p.reward_scale * utility_slope(parts, p.utility_scale)
            if p.reward == "utility_level":
                base = u_now
                terms = {k: slope * v for k, v in parts.items()}
            else:
                base = u_now - self.prev_utility[index]
                terms = {k: slope * (v - self.prev_parts[k][index]) for k, v in parts.items()}
            self.prev_utility[index] = u_now
            for k, v in parts.items():
                self.prev_parts[k][index] = v
            terms["penalties"] = penalties
            reward = p.reward_scale * base + penalties
        reward = np.where(prev.tick >= 0, reward, np.nan)  # no previous decision to reward
        return reward, terms

    def _account_rewards(self, reward: np.ndarray) -> np.ndarray:
        known = ~np.isnan(reward)
        self.reward_sum += float(reward[known].sum())
        self.reward_count += int(known.sum())
        return known

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
        out = self.policy.act(decision.obs, noise, with_value=training, with_logp=training)
        return self.act_on(model, decision, out["action"], out)

    def begin_decision(self, model: MarketModel, active: np.ndarray) -> Decision:
        """The first half of a decision: the active traders' observations, and the rewards of
        their previous decisions (counted in the group's tally)."""
        self.decisions += len(active)
        now = self.snapshot(model, active)
        obs, (r_hat, v_hat) = self.observe(model, active, now)
        reward, terms = self.reward_terms(model, active, now, r_hat, v_hat)
        known = self._account_rewards(reward)
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
        interval = now.tick - self.last.tick[active]
        self._close(active, decision.reward, decision.terms, interval, decision.known,
                    new_transitions, new_audit)
        self.last.store(active, now)
        return self.orders(model, active, action)

    def orders(self, model: MarketModel, active: np.ndarray, action: np.ndarray) -> OrderBatch:
        """Turn actions (price offset, signed volume) into one limit order each."""
        p = self.params
        m = model.exchange.reference_price()
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
        r_hat, v_hat = self._recent_returns(model, everyone)
        reward, terms = self.reward_terms(model, everyone, now, r_hat, v_hat, settle=True)
        known = self._account_rewards(reward)
        self._close(everyone, reward, terms, now.tick - self.last.tick, known)
        self.last = Snapshot.empty(len(self.rows))
        return reward

    @property
    def mean_reward(self) -> float:
        return self.reward_sum / self.reward_count if self.reward_count else math.nan
