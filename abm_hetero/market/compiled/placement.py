"""The exchange's batch placement in one compiled call: for each order in turn, round its price
to ticks, reprice it into the band, match it, settle its fills into the accounts, and write its
order-log and trade-log rows -- the steps of ``Exchange._place`` with the same integer and
floating-point operations in the same order, so that accounts and logs are bit-identical.

The exchange's counters travel in two small arrays: ``xi`` (ints, ``X_*``) and ``xf`` (floats,
``XF_*``). A price of NaN is a market order.
"""

from __future__ import annotations

import math

import numpy as np

from ...errors import InvalidOrderError
from .kernels import NEED_ROOM, jit, submit, to_ticks
from .layout import L_PRICE, M_FREE_TOP, M_LEVELS, M_NEXT_ID, M_RESTING, NO_TTL

# ints of the exchange
X_TIME, X_BAND, X_LOW, X_HIGH, X_PER_UNIT, X_TICK_VOLUME, X_TICK_TRADES, X_ORDERS, X_TRADES = (
    range(9))
X_SIZE = 9
# floats of the exchange
XF_TICK, XF_LAST_TRADE = range(2)
XF_SIZE = 2
# what place_batch returns
PLACED, NO_ROOM, BROKEN = range(3)


@jit
def price_of(ticks, per_unit, tick_size):
    """Money price of a tick count: divided by the whole ticks per unit when there is such a
    number (exact decimals), else multiplied by the tick size (``Exchange.price_of``)."""
    if per_unit > 0:
        return ticks / per_unit
    return ticks * tick_size


@jit
def place_batch(pool, slot_of, free, levels, thead, meta, fills, cash, shares, order_ints,
                order_floats, trade_ints, trade_floats, xi, xf, rows, sides, prices, volumes,
                ttls, out):
    """Place ``len(rows)`` orders in order; ``out[k]`` is the id of order ``k``'s resting rest
    (-1 if none). Order-log rows are ``(time, order_id, trader, side, volume, ttl)`` and
    ``(price, mid)``, trade-log rows ``(time, volume, buyer, seller, resting_side)`` and
    ``(price,)``. Returns ``NO_ROOM``, having changed nothing, if an array lacks room for the
    batch (the caller grows them and calls again), else ``PLACED``."""
    n = len(rows)
    resting = meta[M_RESTING]
    if (meta[M_FREE_TOP] < n or meta[M_NEXT_ID] + n + 1 > len(slot_of)
            or max(meta[M_LEVELS], meta[M_LEVELS + 1]) + n > levels.shape[2]
            or resting + n + 1 > fills.shape[0] or xi[X_ORDERS] + n > order_ints.shape[0]
            or xi[X_TRADES] + resting + 2 * n + 1 > trade_ints.shape[0]):
        return NO_ROOM
    for k in range(n):
        if rows[k] >= len(thead):
            return NO_ROOM
    time = xi[X_TIME]
    per_unit = xi[X_PER_UNIT]
    tick = xf[XF_TICK]
    low, high = xi[X_LOW], xi[X_HIGH]
    band = xi[X_BAND] == 1
    for k in range(len(rows)):
        trader, side, volume, ttl = rows[k], sides[k], volumes[k], ttls[k]
        market = prices[k] != prices[k]  # NaN: a market order
        ticks = np.int64(0) if market else to_ticks(prices[k], side, tick)
        mid = np.nan
        if meta[M_LEVELS] > 0 and meta[M_LEVELS + 1] > 0:
            bid = levels[0, L_PRICE, meta[M_LEVELS] - 1]
            ask = levels[1, L_PRICE, meta[M_LEVELS + 1] - 1]
            mid = 0.5 * (price_of(bid, per_unit, tick) + price_of(ask, per_unit, tick))
        market_order = False
        if band:
            if side == 1:
                if market or ticks > high:
                    market_order = market
                    ticks = high
            elif market or ticks < low:
                market_order = market
                ticks = low
        rest, nf = submit(pool, slot_of, free, levels, thead, meta, fills, 0, trader, side,
                          ticks, volume, time, ttl, market_order)
        if rest == NEED_ROOM:  # not after the check above; stop rather than write past an end
            return BROKEN
        out[k] = rest
        n = xi[X_ORDERS]
        order_ints[n, 0] = time
        order_ints[n, 1] = meta[M_NEXT_ID] - 1
        order_ints[n, 2] = trader
        order_ints[n, 3] = side
        order_ints[n, 4] = volume
        order_ints[n, 5] = -1 if ttl == NO_TTL else ttl
        order_floats[n, 0] = np.nan if ticks == 0 else price_of(ticks, per_unit, tick)
        order_floats[n, 1] = mid
        xi[X_ORDERS] = n + 1
        if nf > 0:
            n = xi[X_TRADES]
            for f in range(nf):
                fill_price = price_of(fills[f, 0], per_unit, tick)
                q = fills[f, 1]
                buyer, seller = fills[f, 2], fills[f, 3]
                amount = fill_price * q
                cash[buyer] -= amount
                cash[seller] += amount
                shares[buyer] += q
                shares[seller] -= q
                trade_ints[n, 0] = time
                trade_ints[n, 1] = q
                trade_ints[n, 2] = buyer
                trade_ints[n, 3] = seller
                trade_ints[n, 4] = fills[f, 4]
                trade_floats[n, 0] = fill_price
                n += 1
                xi[X_TICK_VOLUME] += q
            xi[X_TRADES] = n
            xi[X_TICK_TRADES] += nf
            xf[XF_LAST_TRADE] = price_of(fills[nf - 1, 0], per_unit, tick)
    return PLACED


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
