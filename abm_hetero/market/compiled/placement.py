"""The exchange's side of the compiled core: :class:`CompiledPlacement` hands a batch of orders,
the exchange's counters, book, accounts and logs to the compiled batch placement
(:func:`.kernels.place_batch`: for each order in turn, round its price to ticks, reprice it into
the band, match it, settle its fills and write its log rows -- the steps of ``Exchange._place``
with the same integer and floating-point operations in the same order) and reads the counters
back. The counters travel in two small arrays: ``xi`` (ints, ``X_*``) and ``xf`` (floats,
``XF_*``). A price of NaN is a market order.
"""

from __future__ import annotations

import math

import numpy as np

from ...errors import InvalidOrderError
from .kernels import place_batch
from .layout import (
    NO_ROOM,
    NO_TTL,
    PLACED,
    X_SIZE,
    X_TICK_VOLUME,
    XF_LAST_TRADE,
    XF_SIZE,
)

#: the largest price, in ticks, the compiled core holds
MAX_TICKS = 2 ** 53


class CompiledPlacement:
    """The exchange's side of the compiled core: it hands a batch of orders, the exchange's
    counters, book, accounts and logs to :func:`place_batch` in one call and reads the counters
    back. ``exchange`` needs a :class:`~.book.CompiledOrderBook` and array logs."""

    def __init__(self, exchange) -> None:
        self.exchange = exchange
        self.xi = np.zeros(X_SIZE, dtype=np.int64)
        self.xf = np.zeros(XF_SIZE, dtype=np.float64)
        # one order's arrays, reused by place_one
        self._one = (np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.float64),
                     np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64))

    def place(self, rows, sides, prices, volumes, ttls) -> np.ndarray:
        """Place validated orders in the given order (a NaN price is a market order, a ttl of
        ``NO_TTL`` none); the ids of their resting rests (-1 for none)."""
        ex = self.exchange
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        sides = np.ascontiguousarray(sides, dtype=np.int64)
        prices = np.ascontiguousarray(prices, dtype=np.float64)
        volumes = np.ascontiguousarray(volumes, dtype=np.int64)
        if np.asarray(ttls).dtype.kind not in "iu":
            whole = np.asarray(ttls, dtype=np.float64)
            if not (np.isfinite(whole) & (whole == np.floor(whole))).all():
                raise InvalidOrderError("ttl", "must be whole numbers")
        ttls = np.ascontiguousarray(ttls, dtype=np.int64)
        if (prices >= MAX_TICKS * ex.tick_size).any():
            too_large(prices[prices >= MAX_TICKS * ex.tick_size][0])
        out = np.empty(len(rows), dtype=np.int64)
        self._run(rows, sides, prices, volumes, ttls, out)
        return out

    def _run(self, rows, sides, prices, volumes, ttls, out) -> None:
        """Hand the exchange's counters over, place, and take the counters back (growing the
        arrays and placing again if they were short of room)."""
        ex = self.exchange
        low, high = ex._band
        xi, xf = self.xi, self.xf
        xi[:] = (ex.time, 1 if ex.price_band > 0 else 0, low, 0 if high is None else high,
                 0 if ex._ticks_per_unit is None else ex._ticks_per_unit, ex.tick_volume,
                 ex.tick_trades, ex.orders.count, ex.trades.count)
        xf[:] = (ex.tick_size, ex.last_trade)
        status = self._call(rows, sides, prices, volumes, ttls, out)
        if status == NO_ROOM:
            n = len(rows)
            ex.book.arrays.reserve(n, max(ex.row, int(rows.max())))
            ex.orders.reserve(n)
            ex.trades.reserve(len(ex.book) + 2 * n + 1)
            status = self._call(rows, sides, prices, volumes, ttls, out)
        if status != PLACED:
            raise RuntimeError("the compiled core ran out of room inside a batch")
        (ex.tick_volume, ex.tick_trades, ex.orders.count,
         ex.trades.count) = xi[X_TICK_VOLUME:].tolist()
        ex.last_trade = float(xf[XF_LAST_TRADE])

    def _call(self, rows, sides, prices, volumes, ttls, out) -> int:
        ex = self.exchange
        a = ex.book.arrays
        return place_batch(a.pool, a.slot_of, a.free, a.levels, a.thead, a.meta, a.fills,
                           ex.accounts.cash, ex.accounts.shares, ex.orders.ints,
                           ex.orders.floats, ex.trades.ints, ex.trades.floats, self.xi, self.xf,
                           rows, sides, prices, volumes, ttls, out)

    def place_one(self, trader: int, side: int, price: float | None, volume: int,
                  ttl: int | None) -> int | None:
        """One order (``Exchange._place``'s arguments); the id of its resting rest, if any."""
        if price is not None and price >= MAX_TICKS * self.exchange.tick_size:
            too_large(price)
        rows, sides, prices, volumes, ttls, out = self._one
        rows[0] = trader
        sides[0] = side
        prices[0] = math.nan if price is None else price
        volumes[0] = volume
        ttls[0] = NO_TTL if ttl is None else ttl
        self._run(rows, sides, prices, volumes, ttls, out)
        rest = int(out[0])
        return None if rest < 0 else rest


def too_large(price: float) -> None:
    """Refuse a price beyond the compiled core's tick range."""
    raise InvalidOrderError("price", f"must be below {MAX_TICKS} ticks, got {price!r}")
