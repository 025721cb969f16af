"""Learning traders: Mesa agents with their own preferences that share one policy network.

Each tick the active learning traders of a group build their observations as one batch, the
shared policy is evaluated once for the whole batch, and each trader turns its action into one
limit order (REFERENCE_SPEC.md sections 1.4-1.6, adapted to ticks; docs/learning.md).

Observation (11 features, each rescaled to [-1, 1] and clipped):

====  ===========================  ==========================================  ==============
idx   name                         raw value                                   range
====  ===========================  ==========================================  ==============
0     asset_ratio                  q p / (W + 1e-6)                            [0, 1]
1     liquidable_asset_ratio       q / max_order_volume                        [0, 3]
2     inverted_buying_power        p / (cash + 1e-6)                           [0, 1]
3     log_return                   r_hat: mean log return of the reference     [-0.7, 0.7]
                                   price since the trader's last decision,
                                   times its decision interval 1/activity
4     volatility                   V_hat: population variance of the same      [0, 0.05]
                                   returns, times the decision interval
5     buy-side depth ratio         min(|q| / (bid depth + 1e-6), 5)            [0, 5]
6     sell-side depth ratio        min(|q| / (ask depth + 1e-6), 5)            [0, 5]
7     blurred_fundamental_return   log F - log p + N(0, sigma^2)               [-0.7, 0.7]
8-10  sigma, alpha, gamma          the trader's traits                         the policy's
                                                                               trait bounds
====  ===========================  ==========================================  ==============

Action ``(r, v)`` in (-1, 1)^2: if ``v > 0`` buy at ``m (1 - range * r)``, else sell at
``m (1 + range * r)``, where ``m`` is the mid (or the market price); volume
``ceil(|max_order_volume * v|)``; the order lives ``order_ttl`` ticks.

Reward of a decision, known at the trader's next decision (or the episode's end):

    U = W + q p r_hat - 0.5 * alpha * |q p| * V_hat        (= W (1 + f r_hat) - alpha/2 |f| V_hat W)
    u = 2/pi * atan(utility_scale * U)
    R = u(next decision) - u(this decision) - penalties(next decision)

with penalties for a short holding, negative cash, a thin book (off by default) and a persistent
gap between price and fundamental. ``reward = "utility_level"`` uses ``u`` itself instead of its
change (the reference's behaviour, item 1 of its quirks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import SettingsError
from ..market import BUY, SELL, ReturnWindows
from .base import OrderBatch, Trader, TraderGroup

if TYPE_CHECKING:
    from ..model import MarketModel

REWARDS = ("utility_change", "utility_level")
VALUATIONS = ("fundamental", "market")


@dataclass
class LearningParams:
    """Parameters of a group of learning traders (defaults: docs/learning.md)."""

    #: a shipped policy ("heterogeneous", "homogeneous") or the path of a checkpoint file
    policy: str = "heterogeneous"
    #: act with the mean action instead of sampling
    deterministic: bool = False
    limit_order_range: float = 0.05
    max_order_volume: int = 20
    #: order lifetime in ticks; None: one decision interval, round(1 / activity_rate)
    order_ttl: int | None = None
    depth_ratio_cap: float = 5.0
    utility_scale: float = 6e-5
    reward: str = "utility_change"
    #: price at which holdings count in the utility: "fundamental" (the asset's value) or
    #: "market" (the last trade, as in the reference)
    valuation: str = "fundamental"
    #: scales the utility term so that it is comparable with the penalties
    reward_scale: float = 100.0
    short_selling_penalty: float = 0.1
    cash_shortage_penalty: float = 0.1
    liquidity_penalty: float = 0.0
    fundamental_penalty: float = 0.0
    fundamental_penalty_cap: float = 1.0

    def __post_init__(self) -> None:
        if self.reward not in REWARDS:
            raise SettingsError(f"learning.reward must be one of {', '.join(REWARDS)}, "
                                f"got {self.reward!r}")
        if self.valuation not in VALUATIONS:
            raise SettingsError(f"learning.valuation must be one of {', '.join(VALUATIONS)}, "
                                f"got {self.valuation!r}")
        if not 0 < self.limit_order_range < 1:
            raise SettingsError("learning.limit_order_range must be in (0, 1)")
        if self.max_order_volume < 1:
            raise SettingsError("learning.max_order_volume must be >= 1")
        if self.order_ttl is not None and self.order_ttl < 0:
            raise SettingsError("learning.order_ttl must be >= 0")
        for name in ("short_selling_penalty", "cash_shortage_penalty", "liquidity_penalty",
                     "fundamental_penalty", "fundamental_penalty_cap", "utility_scale",
                     "reward_scale", "depth_ratio_cap"):
            if getattr(self, name) < 0:
                raise SettingsError(f"learning.{name} must be >= 0")


def rescale(x, low: float, high: float) -> np.ndarray:
    """Min-max rescale to [-1, 1] and clip; a degenerate range (a constant) gives 0."""
    if high <= low:
        return np.zeros_like(np.asarray(x, dtype=np.float64))
    return np.clip(2.0 * (np.asarray(x) - low) / (high - low) - 1.0, -1.0, 1.0)


_POLICY_CACHE: dict[str, object] = {}


def load_named_policy(name: str):
    """A shipped policy by name, or a checkpoint by path (cached: loaded once per process)."""
    if name not in _POLICY_CACHE:
        from ..policy.checkpoint import load_policy
        from ..policy.pretrained import pretrained_path

        path = pretrained_path(name) if not Path(name).suffix else Path(name)
        _POLICY_CACHE[name] = load_policy(path)
    return _POLICY_CACHE[name]


class LearningTrader(Trader):
    """A trader that asks the shared policy what to do; its state lives in its group's arrays."""

    @property
    def last_decision(self) -> int:
        return int(self.group.last_index[self.index])


class LearningGroup(TraderGroup):
    kind = "learning"
    agent_class = LearningTrader

    def __init__(self, model: MarketModel, rows, traits, settings) -> None:
        super().__init__(model, rows, traits, settings)
        p: LearningParams = self.params
        n = len(self.rows)
        self.model = model
        self.policy = model.components.get("policy") or load_named_policy(p.policy)
        self.interval = 1.0 / self.activity_rate
        self.ttl = p.order_ttl if p.order_ttl is not None else max(1, round(self.interval))
        self.last_index = np.full(n, -1, np.int64)  # series index at the last decision
        self.prev_utility = np.full(n, np.nan)
        self.pending = np.full(n, -1, np.int64)  # open transition in the recorder
        self.reward_sum = 0.0
        self.reward_count = 0
        self.decisions = 0
        self._returns = ReturnWindows(model.maker.reference_prices)
        self._gap_run = 0.0  # integral of |log F - log p| over the current same-sign run
        self._gap_sign = 0.0
        self._gap_index = 0
        b = self.policy.bounds
        self._trait_features = np.stack([
            rescale(traits.sigma, *b["sigma"]),
            rescale(traits.alpha, *b["alpha"]),
            rescale(traits.gamma, *b["gamma"]),
        ], axis=1)

    @property
    def recorder(self):
        """Where transitions go while training (None in plain simulation)."""
        return self.model.components.get("recorder")

    # ------------------------------------------------------------------ observation

    def _account_view(self, model: MarketModel, active: np.ndarray):
        state = model.maker.state
        p = state.market_price
        rows = self.rows[active]
        cash = model.accounts.cash[rows]
        q = model.accounts.shares[rows].astype(np.float64)
        now = len(model.maker.reference_prices) - 1
        last = self.last_index[active]
        start = np.where(last >= 0, last, now - round(self.interval)).clip(0, now)
        _, mean, var = self._returns.mean_var(start, now)
        return p, cash, q, mean * self.interval, var * self.interval

    def observe(self, model: MarketModel, active: np.ndarray):
        """Observations of the active traders (one batch) and the inputs of their utility."""
        p_ = self.params
        p, cash, q, r_hat, v_hat = self._account_view(model, active)
        state = model.maker.state
        wealth = cash + q * p
        gap = math.log(model.fundamental.value / p)
        noise = self.traits.sigma[active] * model.rng.standard_normal(len(active))
        cap = p_.depth_ratio_cap
        obs = np.empty((len(active), 11), np.float32)
        obs[:, 0] = rescale(q * p / (wealth + 1e-6), 0.0, 1.0)
        obs[:, 1] = rescale(q / (p_.max_order_volume + 1e-6), 0.0, 3.0)
        obs[:, 2] = rescale(p / (cash + 1e-6), 0.0, 1.0)
        obs[:, 3] = rescale(r_hat, -0.7, 0.7)
        obs[:, 4] = rescale(v_hat, 0.0, 0.05)
        obs[:, 5] = rescale(np.minimum(np.abs(q) / (state.bid_depth + 1e-6), cap), 0.0, cap)
        obs[:, 6] = rescale(np.minimum(np.abs(q) / (state.ask_depth + 1e-6), cap), 0.0, cap)
        obs[:, 7] = rescale(gap + noise, -0.7, 0.7)
        obs[:, 8:] = self._trait_features[active]
        return obs, (p, cash, q, r_hat, v_hat)

    # ------------------------------------------------------------------ reward

    def utility(self, model, active, p, cash, q, r_hat, v_hat) -> np.ndarray:
        """Bounded CARA-style mean-variance utility of each trader's current position."""
        if self.params.valuation == "fundamental":
            p = model.fundamental.value
        exposure = q * p
        u = cash + exposure + exposure * r_hat - 0.5 * self.traits.alpha[active] * np.abs(
            exposure) * v_hat
        return (2.0 / math.pi) * np.arctan(self.params.utility_scale * u)

    def _fundamental_gap_run(self, model: MarketModel) -> float:
        """Update and return the integral of |log F - log p| over the current same-sign run."""
        prices = model.maker.market_prices.values
        fundamental = model.fundamental.history.values
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
            state = model.maker.state
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

    def _rewards(self, model, active, view) -> tuple[np.ndarray, np.ndarray]:
        """Utility now, and the reward of each active trader's previous decision (NaN if none)."""
        p, cash, q, r_hat, v_hat = view
        u_now = self.utility(model, active, p, cash, q, r_hat, v_hat)
        prev = self.prev_utility[active]
        base = u_now if self.params.reward == "utility_level" else u_now - prev
        reward = self.params.reward_scale * base - self.penalties(model, q, cash)
        reward[np.isnan(prev)] = np.nan  # no previous decision to reward
        return u_now, reward

    def _account_rewards(self, reward: np.ndarray) -> np.ndarray:
        known = ~np.isnan(reward)
        self.reward_sum += float(reward[known].sum())
        self.reward_count += int(known.sum())
        return known

    # ------------------------------------------------------------------ acting

    def decide(self, model: MarketModel, active: np.ndarray) -> OrderBatch:
        p = self.params
        self.decisions += len(active)
        obs, view = self.observe(model, active)
        u_now, reward = self._rewards(model, active, view)
        known = self._account_rewards(reward)
        noise = None if p.deterministic else model.rng.standard_normal((len(active), 2))
        recorder = self.recorder
        out = self.policy.act(obs, noise, with_value=recorder is not None)
        if recorder is not None:
            new = recorder.add(obs, out["raw"], out["logp"], out["value"],
                               self.traits.gamma[active], self.rows[active])
            waiting = known & (self.pending[active] >= 0)
            recorder.close(self.pending[active][waiting], reward[waiting], new[waiting])
            self.pending[active] = new
        self.prev_utility[active] = u_now
        self.last_index[active] = len(model.maker.reference_prices) - 1
        return self.orders(model, active, out["action"])

    def orders(self, model: MarketModel, active: np.ndarray, action: np.ndarray) -> OrderBatch:
        """Turn actions (price offset, signed volume) into one limit order each."""
        p = self.params
        m = model.maker.state.reference_price
        offset, signed = action[:, 0].astype(np.float64), action[:, 1].astype(np.float64)
        buy = signed > 0
        prices = np.where(buy, m * (1 - p.limit_order_range * offset),
                          m * (1 + p.limit_order_range * offset))
        volumes = np.ceil(np.abs(p.max_order_volume * signed)).astype(np.int64)
        batch = OrderBatch(self.rows[active], np.where(buy, BUY, SELL), prices, volumes,
                           np.full(len(active), self.ttl))
        return batch.select(volumes >= 1)

    def finish_episode(self, model: MarketModel) -> None:
        """Close every open decision at the episode's end (terminal: no bootstrapping)."""
        everyone = np.arange(len(self.rows))
        view = self._account_view(model, everyone)
        _, reward = self._rewards(model, everyone, view)
        known = self._account_rewards(reward)
        if self.recorder is not None:
            waiting = known & (self.pending >= 0)
            self.recorder.close(self.pending[waiting], reward[waiting], None)
            self.pending[:] = -1

    @property
    def mean_reward(self) -> float:
        return self.reward_sum / self.reward_count if self.reward_count else math.nan
