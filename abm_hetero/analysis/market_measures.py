"""Measures of a market that say how much of its price is its traders' own doing.

* fundamental share: the R^2 of the least-squares regression (with an intercept) of the
  price's log returns on the fundamental's log returns over the same non-overlapping windows
  of ``horizon`` ticks. A share near 1 means the price tracks the fundamental and the traders'
  own dynamics are a small part of its variance; near 0, the price moves on its own.
* participation: the fraction of a set of traders (the learning traders) with no fill in the
  trade log at or after a tick (the end of the warm-up).
* the mean absolute log gap ``|log(price / fundamental)|`` and the fraction of ticks with an
  empty side of the book.

The functions take plain arrays and a run folder's tables (``market.csv``, ``trades.csv``,
``traders.csv``; see docs/market.md), so they apply to a saved run and to a live model's frames.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from .stylized_facts import AnalysisError

#: horizons (ticks) at which :func:`market_measures` reports the fundamental share
SHARE_HORIZONS = (1, 10, 100)
#: the fewest windows a fundamental share is computed from
MIN_WINDOWS = 10
#: the keys of :func:`market_measures`, in order
MEASURE_KEYS = (
    *(f"fundamental_share_{h}" for h in SHARE_HORIZONS),
    "no_fill_fraction", "mean_abs_log_gap", "empty_side_ticks",
)


def _positive(x: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.ndim != 1:
        raise AnalysisError(f"{name} must be one-dimensional, got shape {a.shape}")
    finite = a[np.isfinite(a)]
    if (finite <= 0).any():
        raise AnalysisError(f"{name} must be positive for log returns")
    return a


def window_returns(prices: Sequence[float] | np.ndarray, horizon: int) -> np.ndarray:
    """Log returns over non-overlapping windows of ``horizon`` ticks, from the first price
    (``log p[h] - log p[0]``, ``log p[2h] - log p[h]``, ...); NaN where an end is missing."""
    if int(horizon) != horizon or horizon < 1:
        raise AnalysisError(f"horizon must be a whole number of ticks >= 1, got {horizon!r}")
    p = _positive(prices, "prices")
    ends = np.log(p[:: int(horizon)])
    return np.diff(ends)


def fundamental_share(price: Sequence[float] | np.ndarray,
                      fundamental: Sequence[float] | np.ndarray, horizon: int = 10) -> float:
    """R^2 of the price's ``horizon``-tick log returns regressed on the fundamental's log
    returns over the same windows (non-overlapping, from the first tick given).

    Windows where either return is not finite are dropped. NaN when fewer than
    ``MIN_WINDOWS`` windows remain or either series does not move; for one regressor with an
    intercept the R^2 is the squared Pearson correlation.
    """
    p = _positive(price, "price")
    f = _positive(fundamental, "fundamental")
    if p.shape != f.shape:
        raise AnalysisError(f"price and fundamental must have the same length, got "
                            f"{p.size} and {f.size}")
    y = window_returns(p, horizon)
    x = window_returns(f, horizon)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < MIN_WINDOWS:
        return math.nan
    dx, dy = x - x.mean(), y - y.mean()
    sxx, syy = float(np.dot(dx, dx)), float(np.dot(dy, dy))
    if sxx <= 0 or syy <= 0:
        return math.nan
    return float(np.dot(dx, dy) ** 2 / (sxx * syy))


def no_fill_fraction(trades: pd.DataFrame, traders: Iterable[int], after: int = 100) -> float:
    """Fraction of ``traders`` (rows, as in the trade log's ``buyer`` and ``seller`` columns)
    with no fill at or after tick ``after``; NaN for an empty set of traders."""
    who = set(int(t) for t in traders)
    if not who:
        return math.nan
    late = trades[trades["time"] >= after] if len(trades) else trades
    filled = set()
    if len(late):
        filled = set(late["buyer"].astype(int)) | set(late["seller"].astype(int))
    return len(who - filled) / len(who)


def mean_abs_log_gap(price: Sequence[float] | np.ndarray,
                     fundamental: Sequence[float] | np.ndarray) -> float:
    """Mean of ``|log(price / fundamental)|`` over the ticks where both are finite."""
    p = _positive(price, "price")
    f = _positive(fundamental, "fundamental")
    gap = np.abs(np.log(p) - np.log(f))
    gap = gap[np.isfinite(gap)]
    return float(gap.mean()) if gap.size else math.nan


def empty_side_ticks(best_bid: Sequence[float] | np.ndarray,
                     best_ask: Sequence[float] | np.ndarray) -> float:
    """Fraction of ticks where the bid or the ask side of the book is empty (a missing best
    quote: NaN, or a price <= 0)."""
    b = np.asarray(best_bid, dtype=float)
    a = np.asarray(best_ask, dtype=float)
    if b.size == 0:
        return math.nan
    empty = ~(np.isfinite(b) & (b > 0)) | ~(np.isfinite(a) & (a > 0))
    return float(empty.mean())


def learning_rows(traders: pd.DataFrame) -> np.ndarray:
    """The rows of the learning traders in a run's trader table."""
    kinds = traders.drop_duplicates("row")
    return kinds.loc[kinds["kind"] == "learning", "row"].to_numpy(int)


def market_measures(market: pd.DataFrame, trades: pd.DataFrame, traders: pd.DataFrame,
                    burn_in: int = 100, price: str = "mid") -> dict[str, float]:
    """Every measure of this module for one run, from the ticks at and after ``burn_in``.

    ``market`` has ``tick``, the ``price`` column (the mid by default), ``fundamental``,
    ``best_bid`` and ``best_ask``; ``trades`` is the trade log and ``traders`` the trader
    table (its ``row`` and ``kind`` columns name the learning traders). Keys: ``MEASURE_KEYS``;
    ``no_fill_fraction`` is NaN in a market without learning traders.
    """
    kept = market[market["tick"] >= burn_in]
    p = kept[price].to_numpy(float)
    f = kept["fundamental"].to_numpy(float)
    out = {f"fundamental_share_{h}": fundamental_share(p, f, h) for h in SHARE_HORIZONS}
    out["no_fill_fraction"] = no_fill_fraction(trades, learning_rows(traders), burn_in)
    out["mean_abs_log_gap"] = mean_abs_log_gap(p, f)
    out["empty_side_ticks"] = empty_side_ticks(kept["best_bid"], kept["best_ask"])
    return out
