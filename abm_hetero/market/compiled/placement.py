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
from ...validation import MAX_SHARES
from ...validation import MAX_TICKS as MAX_TTL
from .book import MAX_TICKS
from .kernels import close_tick, open_tick, place_batch
from .layout import (
    INVALID,
    NO_ROOM,
    NO_TTL,
    PLACED,
    TOO_LARGE,
    X_SIZE,
    X_TICK_VOLUME,
    XF_LAST_TRADE,
    XF_REFUSED,
    XF_SIZE,
)


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
        self._quotes = np.full(2, -1, dtype=np.int64)  # ids of the backstop quotes just posted
        self._state = np.zeros(6, dtype=np.float64)  # close_tick's prices and depths
        self._no_ids = np.zeros(0, dtype=np.int64)

    def place_checked(self, rows, sides, prices, volumes, ttls) -> bool:
        """Check and place a batch of int64 rows, sides, volumes and ttls and float64 prices
        in one compiled call; False, having placed nothing, if an order fails the exchange's
        checks (the caller then raises the matching error)."""
        ex = self.exchange
        out = np.empty(len(rows), dtype=np.int64)
        return self._run(rows, sides, prices, volumes, ttls, out, ex.n_traders) != INVALID

    def place(self, rows, sides, prices, volumes, ttls) -> np.ndarray:
        """Place orders in the given order (a NaN price is a market order, a ttl of ``NO_TTL``
        none); the ids of their resting rests (-1 for none). The caller
        (``Exchange.submit_batch``) has validated rows, sides, prices, volumes and ttls; here
        only ttls that are not whole numbers and prices of ``MAX_TICKS`` ticks or more are
        refused (:class:`InvalidOrderError`, nothing placed)."""
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

    def _load(self) -> None:
        """Hand the exchange's counters to the compiled side."""
        ex = self.exchange
        low, high = ex._band
        self.xi[:] = (ex.time, 1 if ex.price_band > 0 else 0, low, 0 if high is None else high,
                      0 if ex._ticks_per_unit is None else ex._ticks_per_unit, ex.tick_volume,
                      ex.tick_trades, ex.orders.count, ex.trades.count)
        xf = self.xf
        xf[0] = ex.tick_size
        xf[1] = ex.last_trade

    def _store(self) -> None:
        """Take the counters back from the compiled side."""
        ex = self.exchange
        (ex.tick_volume, ex.tick_trades, ex.orders.count,
         ex.trades.count) = self.xi[X_TICK_VOLUME:].tolist()
        ex.last_trade = float(self.xf[XF_LAST_TRADE])

    def _reserve(self, n: int, max_row: int) -> None:
        """Grow the book and logs for ``n`` more submissions by rows up to ``max_row``."""
        ex = self.exchange
        ex.book.arrays.reserve(n, max_row)
        ex.orders.reserve(n)
        ex.trades.reserve(len(ex.book) + 2 * n + 1)

    def _run(self, rows, sides, prices, volumes, ttls, out, n_traders: int = 0) -> int:
        """Hand the exchange's counters over, place, and take the counters back (growing the
        arrays and placing again if they were short of room). With ``n_traders > 0`` the
        batch is checked first; ``INVALID`` if an order fails (nothing placed)."""
        ex = self.exchange
        self._load()
        max_price = MAX_TICKS * ex.tick_size
        status = self._call(rows, sides, prices, volumes, ttls, out, n_traders, max_price)
        if status == INVALID:
            return status
        if status == NO_ROOM:
            self._reserve(len(rows), max(ex.row, int(rows.max())))
            status = self._call(rows, sides, prices, volumes, ttls, out, n_traders, max_price)
        if status != PLACED:
            raise RuntimeError("the compiled core ran out of room inside a batch")
        self._store()
        return status

    def _call(self, rows, sides, prices, volumes, ttls, out, n_traders, max_price) -> int:
        ex = self.exchange
        a = ex.book.arrays
        return place_batch(a.pool, a.slot_of, a.free, a.levels, a.thead, a.meta, a.fills,
                           ex.accounts.cash, ex.accounts.shares, ex.orders.ints,
                           ex.orders.floats, ex.trades.ints, ex.trades.floats, self.xi, self.xf,
                           rows, sides, prices, volumes, ttls, out, n_traders, max_price,
                           int(MAX_SHARES), MAX_TTL)

    def open_tick(self, stale: list[int], expire: bool, volume: int) -> list[int]:
        """``Exchange.begin_tick``'s book work in one compiled call: expire stale orders (if
        ``expire``), cancel the orders ``stale`` that still rest, and post the backstop bid
        and offer of ``volume`` (none for 0). Returns the ids of the quotes that rest."""
        ex = self.exchange
        book = ex.book
        if expire:
            if len(book._expired) < len(book.arrays.pool):
                book._expired = np.empty(len(book.arrays.pool), dtype=np.int64)
            expired = book._expired
        else:
            expired = self._no_ids
        ids = np.array(stale, dtype=np.int64) if stale else self._no_ids
        self._load()
        status = self._tick_call(open_tick, expired, ids, volume)
        if status == NO_ROOM:
            self._reserve(2, ex.row)
            status = self._tick_call(open_tick, expired, ids, volume)
        return self._quotes_posted(status)

    def close_tick(self) -> tuple[float, float, float, float, float, float]:
        """``Exchange.publish``'s book work in one compiled call: re-post the backstop quotes
        the tick pushed out of the band (their ids join ``exchange._backstop_orders``), then
        ``(best_bid, best_ask, mid, market_price, bid_depth, ask_depth)``."""
        ex = self.exchange
        self._load()
        status = self._close_call()
        if status == NO_ROOM:
            self._reserve(2, ex.row)
            status = self._close_call()
        ex._backstop_orders.extend(self._quotes_posted(status))
        return tuple(self._state.tolist())

    def _quotes_posted(self, status: int) -> list[int]:
        """Take the counters back and the ids of the backstop quotes that rest; raise as the
        exchange does for a quote price beyond the tick range."""
        self._store()
        posted = [i for i in self._quotes.tolist() if i >= 0]
        if status == TOO_LARGE:
            self.exchange._backstop_orders.extend(posted)
            too_large(float(self.xf[XF_REFUSED]))
        if status != PLACED:
            raise RuntimeError("the compiled core ran out of room posting the backstop")
        return posted

    def _tick_call(self, kernel, expired, stale, volume) -> int:
        ex = self.exchange
        a = ex.book.arrays
        return kernel(a.pool, a.slot_of, a.free, a.levels, a.thead, a.meta, a.fills,
                      ex.accounts.cash, ex.accounts.shares, ex.orders.ints, ex.orders.floats,
                      ex.trades.ints, ex.trades.floats, self.xi, self.xf, expired, stale,
                      volume, ex.row, MAX_TICKS * ex.tick_size, self._quotes)

    def _close_call(self) -> int:
        ex = self.exchange
        a = ex.book.arrays
        return close_tick(a.pool, a.slot_of, a.free, a.levels, a.thead, a.meta, a.fills,
                          ex.accounts.cash, ex.accounts.shares, ex.orders.ints,
                          ex.orders.floats, ex.trades.ints, ex.trades.floats, self.xi, self.xf,
                          ex.backstop_volume, ex.row, MAX_TICKS * ex.tick_size, self._quotes,
                          ex._initial_price, ex.depth_range, ex.depth_decay, self._state)

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
