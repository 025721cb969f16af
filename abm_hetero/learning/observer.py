"""A learning trader's observation: the feature list, defined once, and the component that
builds a batch of observations.

The observation is the market features of :data:`MARKET_FEATURES` (each a small function of the
trader's account and the market, rescaled from its range to [-1, 1] and clipped), then the
trader's traits in the order of :data:`OBSERVED_TRAITS` followed by any other registered trait
(``traits.TRAITS``), each rescaled with the policy's trait bounds. :func:`feature_names` is the
list a policy's network is built for (its input size is :func:`observation_size`) and that its
checkpoint records. ``P`` below is the reference price (the mid), ``W`` the trader's wealth at
it; the ranges were set from the 5-95% ranges measured in trained markets (docs/learning.md).

Adding a market feature is adding a :class:`Feature` row to :data:`MARKET_FEATURES`; a trait is
observed as soon as it is registered. Either changes the observation's size, so policies
trained before it no longer load (their checkpoints list the features they were trained on).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..market import ReturnWindows
from ..traits import TRAIT_NAMES

if TYPE_CHECKING:
    from ..traits import TraitSample


@dataclass
class ObservationInputs:
    """What a market feature may read, for a batch of traders."""

    cash: np.ndarray
    shares: np.ndarray
    #: the reference price and the traders' wealth at it
    price: float
    wealth: np.ndarray
    #: recent return and volatility since each trader's last decision, per decision interval
    r_hat: np.ndarray
    v_hat: np.ndarray
    bid_depth: float
    ask_depth: float
    #: the true log fundamental gap ``log F - log P`` and each trader's noise on it
    gap: float
    noise: np.ndarray
    #: the group's ``LearningParams``
    params: Any


@dataclass(frozen=True)
class Feature:
    """One market feature: its name, the range rescaled to [-1, 1], and its raw value."""

    name: str
    low: float
    high: float
    formula: str
    value: Callable[[ObservationInputs], np.ndarray]


def _depth_ratio(x: ObservationInputs, depth: float) -> np.ndarray:
    return np.minimum(np.abs(x.shares) / (depth + 1e-6), x.params.depth_ratio_cap)


#: the market features, in the observation's order
MARKET_FEATURES: tuple[Feature, ...] = (
    Feature("asset_ratio", -0.2, 0.8, "q P / (W + 1e-6)",
            lambda x: x.shares * x.price / (x.wealth + 1e-6)),
    Feature("holding", -1.0, 4.0, "q / max_order_volume",
            lambda x: x.shares / x.params.max_order_volume),
    Feature("inverted_buying_power", 0.0, 0.1, "P / (cash + 1e-6)",
            lambda x: x.price / (x.cash + 1e-6)),
    Feature("recent_return", -0.01, 0.01, "mean log return of P since the trader's last "
            "decision, times its decision interval 1/activity", lambda x: x.r_hat),
    Feature("recent_volatility", 0.0, 2e-5, "population variance of the same returns, times "
            "the decision interval", lambda x: x.v_hat),
    Feature("bid_depth_ratio", 0.0, 0.25, "min(|q| / (bid depth + 1e-6), depth_ratio_cap)",
            lambda x: _depth_ratio(x, x.bid_depth)),
    Feature("ask_depth_ratio", 0.0, 0.25, "min(|q| / (ask depth + 1e-6), depth_ratio_cap)",
            lambda x: _depth_ratio(x, x.ask_depth)),
    Feature("blurred_fundamental_gap", -0.02, 0.02, "log F - log P + N(0, sigma^2)",
            lambda x: x.gap + x.noise),
)
#: the traits' order in the observation, by name (the shipped policies' order); a registered
#: trait not listed here follows, in the registry's order
OBSERVED_TRAITS: tuple[str, ...] = ("sigma", "alpha", "gamma")
#: the features of a checkpoint that does not list them (those written before they were)
SHIPPED_FEATURES: tuple[str, ...] = (*(f.name for f in MARKET_FEATURES), *OBSERVED_TRAITS)

_LOWS = np.array([f.low for f in MARKET_FEATURES])
_SPANS = np.array([f.high - f.low for f in MARKET_FEATURES])


def observed_traits() -> tuple[str, ...]:
    """The registered traits in the observation's order."""
    listed = tuple(name for name in OBSERVED_TRAITS if name in TRAIT_NAMES)
    return listed + tuple(name for name in TRAIT_NAMES if name not in listed)


def feature_names() -> tuple[str, ...]:
    """Every feature's name, in the observation's order."""
    return (*(f.name for f in MARKET_FEATURES), *observed_traits())


def observation_size() -> int:
    """The number of features a learning trader observes (a policy's input size)."""
    return len(MARKET_FEATURES) + len(observed_traits())


def rescale(x, low: float, high: float) -> np.ndarray:
    """Min-max rescale to [-1, 1] and clip; a degenerate range (a constant) gives 0."""
    if high <= low:
        return np.zeros_like(np.asarray(x, dtype=np.float64))
    return np.clip(2.0 * (np.asarray(x) - low) / (high - low) - 1.0, -1.0, 1.0)


class Observer:
    """Builds the observations of one group's learning traders.

    ``traits`` are the group's traits and ``policy`` the policy that will read the
    observations: its trait bounds scale the trait features (held at 0 if it masks them).
    ``interval`` is the traders' decision interval (``1 / activity_rate``) in ticks."""

    def __init__(self, exchange, params: Any, traits: TraitSample, policy,
                 interval: float) -> None:
        self.exchange = exchange
        self.params = params
        self.interval = interval
        self.features = feature_names()
        wanted = tuple(getattr(policy, "features", self.features))
        if wanted != self.features:
            raise ValueError(f"the policy observes {', '.join(wanted)}; this market's traders "
                             f"observe {', '.join(self.features)}")
        self._returns = ReturnWindows(exchange.price_history("reference"))
        b = policy.bounds
        self._trait_features = np.stack([rescale(traits[name], *b[name])
                                         for name in observed_traits()], axis=1)
        if getattr(policy, "masked_traits", False):
            self._trait_features[:] = 0.0

    def recent_returns(self, last_tick: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of the reference price's log returns since each trader's last
        decision (``last_tick``, -1 for none: one decision interval back), per decision
        interval."""
        now = self.exchange.now
        start = np.where(last_tick >= 0, last_tick, now - round(self.interval)).clip(0, now)
        _, mean, var = self._returns.mean_var(start, now)
        return mean * self.interval, var * self.interval

    def observe(self, active: np.ndarray, cash: np.ndarray, shares: np.ndarray,
                last_tick: np.ndarray, sigma: np.ndarray, rng: np.random.Generator):
        """Observations of the ``active`` traders (one row each, float32) and their recent
        return and volatility; ``sigma`` is their information noise, drawn from ``rng``."""
        market = self.exchange
        state = market.state  # the latest published quotes and depths
        price = market.reference_price()
        r_hat, v_hat = self.recent_returns(last_tick)
        x = ObservationInputs(
            cash, shares, price, cash + shares * price, r_hat, v_hat, state.bid_depth,
            state.ask_depth, math.log(market.fundamental_price() / price),
            sigma * rng.standard_normal(len(active)), self.params)
        raw = np.empty((len(active), len(MARKET_FEATURES)))  # a row per trader
        for j, feature in enumerate(MARKET_FEATURES):
            raw[:, j] = feature.value(x)
        obs = np.empty((len(active), len(self.features)), np.float32)
        obs[:, :len(MARKET_FEATURES)] = np.clip(2.0 * (raw - _LOWS) / _SPANS - 1.0, -1.0, 1.0)
        obs[:, len(MARKET_FEATURES):] = self._trait_features[active]
        return obs, (r_hat, v_hat)
