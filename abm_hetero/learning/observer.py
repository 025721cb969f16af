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

A learning group may observe more: the optional features of :data:`EXTRA_FEATURES` that its
``extra_features`` names (longer-run volatility and returns, the order flow, the trader's own
fill rate) follow the traits, in the table's order whatever the order they are named in. They
are off by default; a policy trained with them loads only into groups that observe the same.

A group may also remember (``history``, 0 by default): its traders' own previous ``history``
observations of the market and extra features, the most recent first, follow the current one
(named ``<feature>_lag<k>``). A trader starts with zeros, the middle of every range. The
traits are not repeated, since they do not change.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..market import ReturnWindows, SeriesBuffer
from ..traits import TRAIT_NAMES
from .compiled import market_observations, recent_returns

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
    #: what the extra features read (None when the group observes none)
    extra: ExtraInputs | None = None


@dataclass(frozen=True)
class Feature:
    """One market feature: its name, the range rescaled to [-1, 1], and its raw value."""

    name: str
    low: float
    high: float
    formula: str
    value: Callable[[ObservationInputs], np.ndarray]
    #: the ticks before the current one that it looks back over (0: the current state only);
    #: its value is complete from the tick this many ticks after the run's first
    window: int = 0


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

#: the market features the compiled observation computes (``learning/compiled.py``), in order
COMPILED_FEATURES: tuple[str, ...] = (
    "asset_ratio", "holding", "inverted_buying_power", "recent_return", "recent_volatility",
    "bid_depth_ratio", "ask_depth_ratio", "blurred_fundamental_gap")

_LOWS = np.array([f.low for f in MARKET_FEATURES])
_SPANS = np.array([f.high - f.low for f in MARKET_FEATURES])

#: ticks over which ``order_flow_imbalance`` sums the trades
FLOW_TICKS = 10

#: the optional features a group may add (``extra_features``), in the observation's order
#: (after the traits); ``r`` is a tick's log return of ``P`` and a window ``N`` is the last
#: ``N`` ticks (fewer at the start of a run). Ranges: the 5-95% ranges measured in a learned
#: market (docs/learning.md), widened to keep the measured spread off the bounds.
EXTRA_FEATURES: tuple[Feature, ...] = (
    *(Feature(f"volatility_{n}", 0.0, 2e-3, f"sqrt(mean(r^2)) over the last {n} ticks",
              (lambda x, n=n: x.extra.volatility(n)), n)
      for n in (10, 100, 1000)),
    *(Feature(f"return_{n}", -high, high, f"log P - log P {n} ticks ago (the run's first P if "
              "fewer)", (lambda x, n=n: x.extra.log_return(n)), n)
      for n, high in ((10, 0.01), (100, 0.03), (1000, 0.1))),
    Feature("order_flow_imbalance", -1.0, 1.0, f"(buyer- minus seller-initiated volume) / "
            f"(traded volume + 1e-9) over the last {FLOW_TICKS} ticks (0 without trades)",
            lambda x: x.extra.flow_imbalance(), FLOW_TICKS - 1),
    Feature("fill_rate", 0.0, 1.0, "min(1, the trader's filled volume since its previous "
            "decision / the volume it ordered then) (0 if it ordered none)",
            lambda x: x.extra.fill_rate),
)
EXTRA_FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in EXTRA_FEATURES)
#: the longest memory a group may have (``history``), in decisions
MAX_HISTORY = 64


def observed_traits() -> tuple[str, ...]:
    """The registered traits in the observation's order."""
    listed = tuple(name for name in OBSERVED_TRAITS if name in TRAIT_NAMES)
    return listed + tuple(name for name in TRAIT_NAMES if name not in listed)


def chosen_extras(names=()) -> tuple[Feature, ...]:
    """The extra features named in ``names`` (``extra_features``), in :data:`EXTRA_FEATURES`'s
    order."""
    wanted = set(names)
    return tuple(f for f in EXTRA_FEATURES if f.name in wanted)


def unfilled_windows(extras=(), ticks: int = 0) -> tuple[str, ...]:
    """The extra features among ``extras`` whose window never fills in a market of ``ticks``
    ticks (a training episode; its last decision sees tick ``ticks - 1``), so a policy trained
    there never sees the values these features take later in a longer market."""
    return tuple(f.name for f in chosen_extras(extras) if f.window >= ticks)


def remembered_names(extras=()) -> tuple[str, ...]:
    """The features a trader remembers from its previous decisions: the market and extra
    features, in the observation's order."""
    return (*(f.name for f in MARKET_FEATURES), *(f.name for f in chosen_extras(extras)))


def feature_names(extras=(), history: int = 0) -> tuple[str, ...]:
    """Every feature's name, in the observation's order (``extras``: a group's
    ``extra_features``, none by default; ``history``: its memory, in decisions)."""
    remembered = remembered_names(extras)
    return (*(f.name for f in MARKET_FEATURES), *observed_traits(),
            *(f.name for f in chosen_extras(extras)),
            *(f"{name}_lag{k}" for k in range(1, history + 1) for name in remembered))


def observation_size(extras=(), history: int = 0) -> int:
    """The number of features a learning trader observes (a policy's input size)."""
    return len(feature_names(extras, history))


def rescale(x, low: float, high: float) -> np.ndarray:
    """Min-max rescale to [-1, 1] and clip; a degenerate range (a constant) gives 0."""
    if high <= low:
        return np.zeros_like(np.asarray(x, dtype=np.float64))
    return np.clip(2.0 * (np.asarray(x) - low) / (high - low) - 1.0, -1.0, 1.0)


class ExtraInputs:
    """What the extra features read: windows of the reference price's returns, the signed
    volume of the trades by tick and each account's ordered and filled volume, the last two
    followed lazily from the market's logs."""

    def __init__(self, exchange, returns: ReturnWindows, rows: np.ndarray) -> None:
        self.exchange = exchange
        self.returns = returns
        self.rows = rows
        self._trades_read = self._orders_read = 0
        self._flow = SeriesBuffer()  # prefix sums over ticks: signed and traded volume
        self._volume = SeriesBuffer()
        self._flow_tick = np.zeros(0)
        self._volume_tick = np.zeros(0)
        n = len(exchange.accounts.cash)
        self.ordered = np.zeros(n)  # volume ordered and filled, per account, so far
        self.filled = np.zeros(n)
        #: each trader's (of the group) ordered and filled volume at its previous decision
        self.seen_ordered = np.zeros(len(rows))
        self.seen_filled = np.zeros(len(rows))
        #: the active traders' fill rate (set by :meth:`Observer.observe`)
        self.fill_rate = np.zeros(0)

    def _window(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        now = self.exchange.now
        return self.returns.mean_var(np.array([max(0, now - n)]), now)

    def volatility(self, n: int) -> float:
        count, mean, var = self._window(n)
        return float(np.sqrt(var + mean * mean)[0]) if count[0] > 0 else 0.0

    def log_return(self, n: int) -> float:
        count, mean, _ = self._window(n)
        return float((mean * count)[0])

    def _read_logs(self) -> None:
        """Fold the trades and orders logged since the last read into the totals."""
        trades = self.exchange.trades.rows_from(self._trades_read)
        self._trades_read += len(trades)
        if len(trades):
            volume = trades["volume"].astype(np.float64)
            np.add.at(self.filled, trades["buyer"], volume)
            np.add.at(self.filled, trades["seller"], volume)
            ticks = trades["time"]
            end = int(ticks.max()) + 1
            if end > len(self._flow_tick):
                grow = end - len(self._flow_tick)
                self._flow_tick = np.concatenate([self._flow_tick, np.zeros(grow)])
                self._volume_tick = np.concatenate([self._volume_tick, np.zeros(grow)])
            # a resting bid (+1) was taken by a seller: the aggressor's sign is -resting_side
            np.add.at(self._flow_tick, ticks, -trades["resting_side"] * volume)
            np.add.at(self._volume_tick, ticks, volume)
        orders = self.exchange.orders.rows_from(self._orders_read)
        self._orders_read += len(orders)
        if len(orders):
            np.add.at(self.ordered, orders["trader"], orders["volume"].astype(np.float64))

    def flow_imbalance(self) -> float:
        """Signed (aggressor-side) over traded volume of the last ``FLOW_TICKS`` published
        ticks."""
        self._read_logs()
        now = self.exchange.now
        lo, hi = max(0, now - FLOW_TICKS + 1), min(now + 1, len(self._flow_tick))
        if hi <= lo:
            return 0.0
        return float(self._flow_tick[lo:hi].sum() / (self._volume_tick[lo:hi].sum() + 1e-9))

    def update_fill_rate(self, active: np.ndarray) -> None:
        """The active traders' fill rate since their previous decision, which this decision
        then becomes."""
        self._read_logs()
        rows = self.rows[active]
        ordered = self.ordered[rows] - self.seen_ordered[active]
        filled = self.filled[rows] - self.seen_filled[active]
        self.fill_rate = np.where(ordered > 0, np.minimum(1.0, filled / np.maximum(ordered, 1)),
                                  0.0)
        self.seen_ordered[active] = self.ordered[rows]
        self.seen_filled[active] = self.filled[rows]


class Observer:
    """Builds the observations of one group's learning traders.

    ``traits`` are the group's traits and ``policy`` the policy that will read the
    observations: its trait bounds scale the trait features (held at 0 if it masks them).
    ``interval`` is the traders' decision interval (``1 / activity_rate``) in ticks; ``rows``
    the traders' account rows (read by the ``fill_rate`` extra feature). ``compiled`` builds
    the observations of the market features in one compiled call (``learning/compiled.py``,
    equal results) where the group observes no extra feature."""

    def __init__(self, exchange, params: Any, traits: TraitSample, policy,
                 interval: float, rows: np.ndarray | None = None, compiled: bool = False) -> None:
        self.exchange = exchange
        self.params = params
        self.interval = interval
        self.extras = chosen_extras(params.extra_features)
        self.history = params.history
        self.features = feature_names(params.extra_features, self.history)
        self._reads_fill_rate = any(f.name == "fill_rate" for f in self.extras)
        wanted = tuple(getattr(policy, "features", self.features))
        if wanted != self.features:
            raise ValueError(f"the policy observes {', '.join(wanted)}; this market's traders "
                             f"observe {', '.join(self.features)}")
        self._returns = ReturnWindows(exchange.price_history("reference"))
        self._extra = None
        if self.extras:
            rows = np.arange(len(traits.sigma)) if rows is None else np.asarray(rows)
            self._extra = ExtraInputs(exchange, self._returns, rows)
        b = policy.bounds
        self._trait_features = np.stack([rescale(traits[name], *b[name])
                                         for name in observed_traits()], axis=1)
        if getattr(policy, "masked_traits", False):
            self._trait_features[:] = 0.0
        self._compiled = (compiled and not self.extras
                          and tuple(f.name for f in MARKET_FEATURES) == COMPILED_FEATURES)
        self._back = round(self.interval)
        #: what each trader observed at its previous decisions (the most recent first)
        self._memory = np.zeros((len(traits.sigma), self.history,
                                 len(remembered_names(params.extra_features))), np.float32)

    def _remember(self, active: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """``obs`` followed by the active traders' remembered observations; the current
        market and extra features then become the most recent memory."""
        if not self.history:
            return obs
        m, t = len(MARKET_FEATURES), self._trait_features.shape[1]
        now = np.concatenate([obs[:, :m], obs[:, m + t:]], axis=1)
        past = self._memory[active]
        out = np.concatenate([obs, past.reshape(len(active), -1)], axis=1)
        self._memory[active] = np.concatenate([now[:, None, :], past[:, :-1]], axis=1)
        return out

    def _observe_compiled(self, active, cash, shares, last_tick, sigma, rng):
        """:meth:`observe` in two compiled calls (the same arithmetic)."""
        market = self.exchange
        state = market.state
        price = market.reference_price()
        windows = self._returns
        windows._update()
        r_hat, v_hat = recent_returns(windows._sum1._data, windows._sum2._data,
                                      np.asarray(last_tick, np.int64), market.now, self._back,
                                      self.interval)
        gap = math.log(market.fundamental_price() / price)
        normal = rng.standard_normal(len(active))
        p = self.params
        obs = market_observations(
            np.asarray(cash, np.float64), np.asarray(shares, np.float64), price, r_hat, v_hat,
            float(state.bid_depth), float(state.ask_depth), gap, np.asarray(sigma, np.float64),
            normal, float(p.max_order_volume), float(p.depth_ratio_cap), _LOWS, _SPANS,
            self._trait_features, np.asarray(active, np.int64))
        return obs, (r_hat, v_hat)

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
        return and volatility; ``sigma`` is their information noise, drawn from ``rng``. Each
        call is a decision: with a memory, it becomes what the traders remember."""
        if self._compiled:
            obs, recent = self._observe_compiled(active, cash, shares, last_tick, sigma, rng)
        else:
            obs, recent = self._observe_now(active, cash, shares, last_tick, sigma, rng)
        return self._remember(np.asarray(active), obs), recent

    def _observe_now(self, active, cash, shares, last_tick, sigma, rng):
        """:meth:`observe` without the memory, in NumPy."""
        market = self.exchange
        state = market.state  # the latest published quotes and depths
        price = market.reference_price()
        r_hat, v_hat = self.recent_returns(last_tick)
        x = ObservationInputs(
            cash, shares, price, cash + shares * price, r_hat, v_hat, state.bid_depth,
            state.ask_depth, math.log(market.fundamental_price() / price),
            sigma * rng.standard_normal(len(active)), self.params, self._extra)
        raw = np.empty((len(active), len(MARKET_FEATURES)))  # a row per trader
        for j, feature in enumerate(MARKET_FEATURES):
            raw[:, j] = feature.value(x)
        m, t = len(MARKET_FEATURES), self._trait_features.shape[1]
        obs = np.empty((len(active), m + t + len(self.extras)), np.float32)
        obs[:, :m] = np.clip(2.0 * (raw - _LOWS) / _SPANS - 1.0, -1.0, 1.0)
        obs[:, m:m + t] = self._trait_features[active]
        if self.extras:
            if self._reads_fill_rate:
                self._extra.update_fill_rate(active)
            for j, feature in enumerate(self.extras, m + t):
                obs[:, j] = rescale(np.broadcast_to(feature.value(x), len(active)),
                                    feature.low, feature.high)
        return obs, (r_hat, v_hat)
