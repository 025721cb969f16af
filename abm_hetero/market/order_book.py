"""A continuous double-auction limit-order book with price-time priority.

Plain Python data structures, no Mesa and no torch, so that the book can be tested and
benchmarked on its own. Prices inside the book are integers counted in ticks; converting to and
from money (and the rounding rule: buys down, sells up) is :func:`to_ticks`'s job.

Matching happens on arrival. An incoming order trades against the best opposite levels while
they cross its limit; within a level, the oldest order fills first. Each fill executes at the
resting order's price (``clearing="resting"``). The reference implementation's substrate
(pams 0.2.2) instead executes every pair of one clearing call at the price of the *last* pair,
so that a sweep fills entirely at the deepest level's price; ``clearing="last_level"`` keeps
that rule for users who want to reproduce the reference's dynamics.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, bisect_right, insort
from collections import deque
from typing import NamedTuple

BUY = 1
SELL = -1
CLEARING_RULES = ("resting", "last_level")


def to_ticks(price: float, side: int, tick_size: float) -> int:
    """Round ``price`` to the tick grid: buy prices down, sell prices up; at least one tick."""
    x = price / tick_size
    nearest = round(x)
    if abs(x - nearest) < 1e-9 * max(1.0, abs(x)):
        ticks = int(nearest)
    elif side == BUY:
        ticks = math.floor(x)
    else:
        ticks = math.ceil(x)
    return max(ticks, 1)


class Order:
    """One resting or incoming order; ``volume`` is what remains unfilled."""

    __slots__ = ("order_id", "trader", "side", "price", "volume", "time", "expiry", "alive")

    def __init__(
        self, order_id: int, trader: int, side: int, price: int, volume: int, time: int,
        expiry: float,
    ) -> None:
        self.order_id = order_id
        self.trader = trader
        self.side = side
        self.price = price
        self.volume = volume
        self.time = time
        self.expiry = expiry
        self.alive = True

    def __repr__(self) -> str:
        side = "buy" if self.side == BUY else "sell"
        return (
            f"Order(id={self.order_id}, trader={self.trader}, {side} {self.volume} "
            f"@ {self.price} ticks, t={self.time}, expiry={self.expiry}, alive={self.alive})"
        )


class Fill(NamedTuple):
    """One execution between an incoming order and a resting order."""

    price: int  # ticks
    volume: int
    buyer: int
    seller: int
    resting_side: int  # BUY if the resting order was the bid, SELL if it was the ask
    resting_order: int
    incoming_order: int


class _Level:
    __slots__ = ("orders", "volume")

    def __init__(self) -> None:
        self.orders: deque[Order] = deque()
        self.volume = 0


class OrderBook:
    """Limit-order book over integer tick prices.

    Parameters
    ----------
    clearing:
        ``"resting"`` (default): each fill at the resting order's price.
        ``"last_level"``: all fills of one incoming order at the price of its last fill
        (the reference's pams rule).
    """

    def __init__(self, clearing: str = "resting") -> None:
        if clearing not in CLEARING_RULES:
            raise ValueError(f"clearing must be one of {CLEARING_RULES}, got {clearing!r}")
        self.clearing = clearing
        self._levels: dict[int, dict[int, _Level]] = {BUY: {}, SELL: {}}
        # sorted ascending; best bid is the last element, best ask the first
        self._prices: dict[int, list[int]] = {BUY: [], SELL: []}
        self._orders: dict[int, Order] = {}
        self._expiries: list[tuple[float, int]] = []
        self._next_id = 0

    # ---------------------------------------------------------------- queries

    @property
    def best_bid(self) -> int | None:
        prices = self._prices[BUY]
        return prices[-1] if prices else None

    @property
    def best_ask(self) -> int | None:
        prices = self._prices[SELL]
        return prices[0] if prices else None

    @property
    def last_order_id(self) -> int:
        """The id given to the most recently submitted order (-1 before the first)."""
        return self._next_id - 1

    def __len__(self) -> int:
        """Number of resting orders."""
        return len(self._orders)

    def __contains__(self, order_id: int) -> bool:
        return order_id in self._orders

    def order(self, order_id: int) -> Order | None:
        """The resting order with this id, or None if it is filled, cancelled or expired."""
        return self._orders.get(order_id)

    def resting_orders(self):
        """Iterate over all resting orders (no particular order)."""
        return iter(self._orders.values())

    def levels(self, side: int, n: int | None = None) -> list[tuple[int, int]]:
        """``(price_ticks, volume)`` of the best ``n`` levels of one side, best first."""
        prices = self._prices[side]
        ordered = reversed(prices) if side == BUY else iter(prices)
        out = []
        for p in ordered:
            out.append((p, self._levels[side][p].volume))
            if n is not None and len(out) >= n:
                break
        return out

    def volume_at(self, side: int, price: int) -> int:
        level = self._levels[side].get(price)
        return level.volume if level else 0

    def weighted_depth(self, side: int, centre: float, lo: float, hi: float, decay: float) -> float:
        """Sum of ``volume * exp(-decay * |price - centre| / centre)`` over levels in [lo, hi].

        Prices in ticks (floats allowed for the bounds and the centre).
        """
        prices = self._prices[side]
        levels = self._levels[side]
        i = bisect_left(prices, lo)
        j = bisect_right(prices, hi)
        total = 0.0
        exp = math.exp
        minus_decay = -decay
        for p in prices[i:j]:
            total += levels[p].volume * exp(minus_decay * abs(p - centre) / centre)
        return total

    # ---------------------------------------------------------------- changes

    def submit(
        self, trader: int, side: int, price: int | None, volume: int, time: int,
        ttl: int | None = None,
    ) -> tuple[int | None, list[Fill]]:
        """Match an incoming order, then rest what is left of a limit order.

        ``price=None`` makes a market order: it takes whatever the opposite side offers and its
        unfilled rest is dropped. A limit order's rest stays in the book until it fills, is
        cancelled, or expires (``ttl`` ticks after ``time``; ``None`` means never).

        Returns the id of the resting rest (None if nothing rests) and the fills, in order.
        Inputs are trusted: the exchange validates orders before they get here.
        """
        order_id = self._next_id
        self._next_id += 1
        fills: list[Fill] = []
        remaining = volume
        opposite = -side
        prices = self._prices[opposite]
        levels = self._levels[opposite]
        while remaining and prices:
            best = prices[-1] if opposite == BUY else prices[0]
            if price is not None and (best > price if side == BUY else best < price):
                break
            level = levels[best]
            queue = level.orders
            while remaining and queue:
                resting = queue[0]
                if not resting.alive:
                    queue.popleft()
                    continue
                q = remaining if remaining < resting.volume else resting.volume
                if side == BUY:
                    fills.append(Fill(best, q, trader, resting.trader, SELL, resting.order_id,
                                      order_id))
                else:
                    fills.append(Fill(best, q, resting.trader, trader, BUY, resting.order_id,
                                      order_id))
                resting.volume -= q
                level.volume -= q
                remaining -= q
                if resting.volume == 0:
                    resting.alive = False
                    queue.popleft()
                    del self._orders[resting.order_id]
            if level.volume == 0:
                del levels[best]
                if opposite == BUY:
                    prices.pop()
                else:
                    prices.pop(0)
        if fills and self.clearing == "last_level" and len(fills) > 1:
            last = fills[-1].price
            fills = [f._replace(price=last) for f in fills]
        if remaining and price is not None:
            expiry = math.inf if ttl is None else time + ttl
            order = Order(order_id, trader, side, price, remaining, time, expiry)
            book_side = self._levels[side]
            level = book_side.get(price)
            if level is None:
                level = book_side[price] = _Level()
                insort(self._prices[side], price)
            level.orders.append(order)
            level.volume += remaining
            self._orders[order_id] = order
            if ttl is not None:
                heapq.heappush(self._expiries, (expiry, order_id))
            return order_id, fills
        return None, fills

    def cancel(self, order_id: int) -> Order | None:
        """Remove a resting order. Returns it, or None if it no longer rests."""
        order = self._orders.pop(order_id, None)
        if order is None:
            return None
        order.alive = False
        side_levels = self._levels[order.side]
        level = side_levels[order.price]
        level.volume -= order.volume
        if level.volume == 0:
            del side_levels[order.price]
            prices = self._prices[order.side]
            del prices[bisect_left(prices, order.price)]
        return order

    def expire(self, now: int) -> list[Order]:
        """Remove every order whose time-to-live has passed (``now > time + ttl``)."""
        expired = []
        heap = self._expiries
        while heap and heap[0][0] < now:
            _, order_id = heapq.heappop(heap)
            order = self.cancel(order_id)
            if order is not None:
                expired.append(order)
        return expired

    def check_invariants(self) -> None:
        """Raise AssertionError if the book is inconsistent (used by tests)."""
        for side in (BUY, SELL):
            prices = self._prices[side]
            assert prices == sorted(set(prices)), "price list not sorted/unique"
            assert set(prices) == set(self._levels[side]), "price list and levels disagree"
            for p, level in self._levels[side].items():
                alive = [o for o in level.orders if o.alive]
                assert level.volume > 0, "empty level kept"
                assert level.volume == sum(o.volume for o in alive), "level volume mismatch"
                assert all(o.volume > 0 and o.price == p and o.side == side for o in alive)
                times = [o.order_id for o in alive]
                assert times == sorted(times), "level not in arrival order"
        bid, ask = self.best_bid, self.best_ask
        assert bid is None or ask is None or bid < ask, "book is crossed"
