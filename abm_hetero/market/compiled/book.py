""":class:`CompiledOrderBook`: the limit-order book of the compiled core, with the interface of
:class:`~abm_hetero.market.order_book.OrderBook` (same arguments, results and rules)."""

from __future__ import annotations

import math

import numpy as np

from ..order_book import BUY, CLEARING_RULES, SELL, Fill, Order
from . import kernels
from .layout import (
    EXPIRY,
    ID,
    L_HEAD,
    L_PRICE,
    L_TAIL,
    L_VOLUME,
    LIVE,
    M_LEVELS,
    M_NEXT_ID,
    M_RESTING,
    NEXT,
    NO_EXPIRY,
    NO_TTL,
    PRICE,
    SIDE,
    TIME,
    TNEXT,
    TRADER,
    VOLUME,
    BookArrays,
    side_index,
)

#: the largest price, in ticks, the compiled core holds (int64 with room to spare)
MAX_TICKS = 2 ** 53


class CompiledOrderBook:
    """Limit-order book over integer tick prices, kept in arrays and changed by compiled
    functions (``clearing`` as for ``OrderBook``)."""

    def __init__(self, clearing: str = "resting") -> None:
        if clearing not in CLEARING_RULES:
            raise ValueError(f"clearing must be one of {CLEARING_RULES}, got {clearing!r}")
        self.clearing = clearing
        self.arrays = BookArrays(clearing == "last_level")
        self._expired = np.empty(0, dtype=np.int64)  # slots of expired orders, reused

    def _state(self) -> tuple:
        a = self.arrays
        return a.pool, a.slot_of, a.free, a.levels, a.thead, a.meta

    # ---------------------------------------------------------------- queries

    def _best(self, s: int) -> int | None:
        a = self.arrays
        n = int(a.meta[M_LEVELS + s])
        return int(a.levels[s, n - 1, L_PRICE]) if n else None

    @property
    def best_bid(self) -> int | None:
        return self._best(0)

    @property
    def best_ask(self) -> int | None:
        return self._best(1)

    @property
    def last_order_id(self) -> int:
        """The id given to the most recently submitted order (-1 before the first)."""
        return int(self.arrays.meta[M_NEXT_ID]) - 1

    def __len__(self) -> int:
        """Number of resting orders."""
        return int(self.arrays.meta[M_RESTING])

    def _slot(self, order_id: int) -> int:
        slot_of = self.arrays.slot_of
        if isinstance(order_id, bool) or not isinstance(order_id, (int, np.integer)):
            return -1
        return int(slot_of[order_id]) if 0 <= order_id < len(slot_of) else -1

    def __contains__(self, order_id: int) -> bool:
        return self._slot(order_id) >= 0

    def _order_at(self, slot: int, alive: bool = True) -> Order:
        row = self.arrays.pool[slot].tolist()
        expiry = math.inf if row[EXPIRY] == NO_EXPIRY else row[EXPIRY]
        order = Order(row[ID], row[TRADER], row[SIDE], row[PRICE], row[VOLUME], row[TIME],
                      expiry)
        order.alive = alive
        return order

    def order(self, order_id: int) -> Order | None:
        """The resting order with this id (a copy), or None if it no longer rests."""
        slot = self._slot(order_id)
        return None if slot < 0 else self._order_at(slot)

    def resting_orders(self):
        """Iterate over all resting orders (copies, in order of arrival)."""
        pool = self.arrays.pool
        slots = np.flatnonzero(pool[:, LIVE] == 1)
        slots = slots[np.argsort(pool[slots, ID])]
        return (self._order_at(int(s)) for s in slots)

    def levels(self, side: int, n: int | None = None) -> list[tuple[int, int]]:
        """``(price_ticks, volume)`` of the best ``n`` levels of one side, best first."""
        a = self.arrays
        s = side_index(side)
        count = int(a.meta[M_LEVELS + s])
        best_first = a.levels[s, :count][::-1]
        if n is not None:  # as OrderBook.levels: at least the best level, even for n < 1
            best_first = best_first[:max(n, 1)]
        return list(zip(best_first[:, L_PRICE].tolist(), best_first[:, L_VOLUME].tolist()))

    def volume_at(self, side: int, price: int) -> int:
        a = self.arrays
        s = side_index(side)
        if price != int(price):  # off the tick grid: no level there
            return 0
        i, found = kernels.find_level(a.levels, a.meta, s, int(price))
        return int(a.levels[s, i, L_VOLUME]) if found else 0

    def weighted_depth(self, side: int, centre: float, lo: float, hi: float, decay: float) -> float:
        """Sum of ``volume * exp(-decay * |price - centre| / centre)`` over levels in [lo, hi].

        Prices in ticks (floats allowed for the bounds and the centre).
        """
        a = self.arrays
        return kernels.weighted_depth(a.levels, a.meta, side_index(side), float(centre),
                                      float(lo), float(hi), float(decay))

    # ---------------------------------------------------------------- changes

    def submit(
        self, trader: int, side: int, price: int | None, volume: int, time: int,
        ttl: int | None = None,
    ) -> tuple[int | None, list[Fill]]:
        """Match an incoming order, then rest what is left of a limit order (as
        ``OrderBook.submit``; ``price=None`` is a market order)."""
        if price is not None and not 1 <= price < MAX_TICKS:
            raise ValueError(f"price must be 1..{MAX_TICKS - 1} ticks, got {price!r}")
        a = self.arrays
        order = (int(trader), int(side), 0 if price is None else int(price), int(volume),
                 int(time), NO_TTL if ttl is None else int(ttl), False)
        rest, nf = kernels.submit(a.pool, a.slot_of, a.free, a.levels, a.thead, a.meta, a.fills,
                                  0, *order)
        if rest == kernels.NEED_ROOM:
            a.reserve(1, order[0])
            rest, nf = kernels.submit(a.pool, a.slot_of, a.free, a.levels, a.thead, a.meta,
                                      a.fills, 0, *order)
        fills = [Fill(*row) for row in a.fills[:nf].tolist()] if nf else []
        return (None if rest < 0 else rest), fills

    def cancel(self, order_id: int) -> Order | None:
        """Remove a resting order. Returns it, or None if it no longer rests."""
        if self._slot(order_id) < 0:
            return None
        slot = kernels.cancel(*self._state(), int(order_id))
        return self._order_at(slot, alive=False)

    def discard(self, order_id: int) -> bool:
        """Remove a resting order without building a copy of it; False if it no longer
        rests."""
        if self._slot(order_id) < 0:
            return False
        kernels.cancel(*self._state(), int(order_id))
        return True

    def cancel_trader(self, trader: int) -> int:
        """Cancel every resting order of ``trader``; how many there were."""
        thead = self.arrays.thead
        if not 0 <= trader < len(thead) or thead[trader] < 0:  # none rests: no compiled call
            return 0
        return int(kernels.cancel_trader(*self._state(), int(trader)))

    def _expire_slots(self, now: int) -> np.ndarray:
        """Remove every order with ``now > time + ttl``; the slots they had (readable until
        the next submission)."""
        a = self.arrays
        if len(self._expired) < len(a.pool):
            self._expired = np.empty(len(a.pool), dtype=np.int64)
        n = kernels.expire(a.pool, a.slot_of, a.free, a.levels, a.thead, a.meta, int(now),
                           self._expired)
        return self._expired[:n]

    def cancel_traders(self, traders: np.ndarray) -> int:
        """Cancel every resting order of each of ``traders`` in one compiled call."""
        traders = np.ascontiguousarray(traders, dtype=np.int64)
        return int(kernels.cancel_traders(*self._state(), traders))

    def remove_expired(self, now: int) -> int:
        """Remove every order with ``now > time + ttl`` without building copies of them; how
        many there were."""
        return len(self._expire_slots(now))

    def expire(self, now: int) -> list[Order]:
        """Remove every order whose time-to-live has passed (``now > time + ttl``), returned
        in order of expiry, then id (as ``OrderBook.expire``)."""
        slots = self._expire_slots(now)
        if not len(slots):
            return []
        orders = [self._order_at(slot, alive=False) for slot in slots.tolist()]
        orders.sort(key=lambda o: (o.expiry, o.order_id))
        return orders

    def check_invariants(self) -> None:
        """Raise AssertionError if the book is inconsistent (used by tests)."""
        a = self.arrays
        pool, meta = a.pool, a.meta
        seen = 0
        for side in (BUY, SELL):
            s = side_index(side)
            n = int(meta[M_LEVELS + s])
            prices = a.levels[s, :n, L_PRICE].tolist()
            ascending = prices if s == 0 else prices[::-1]
            assert ascending == sorted(set(ascending)), "price list not sorted/unique"
            for i in range(n):
                volume, slot, ids, prev = 0, int(a.levels[s, i, L_HEAD]), [], -1
                while slot >= 0:
                    assert pool[slot, LIVE] == 1 and pool[slot, VOLUME] > 0
                    assert pool[slot, PRICE] == prices[i] and pool[slot, SIDE] == side
                    assert a.slot_of[pool[slot, ID]] == slot, "id and slot disagree"
                    volume += int(pool[slot, VOLUME])
                    ids.append(int(pool[slot, ID]))
                    prev, slot = slot, int(pool[slot, NEXT])
                assert prev == a.levels[s, i, L_TAIL], "queue tail mismatch"
                assert int(a.levels[s, i, L_VOLUME]) > 0, "empty level kept"
                assert volume == a.levels[s, i, L_VOLUME], "level volume mismatch"
                assert ids == sorted(ids), "level not in arrival order"
                seen += len(ids)
        assert seen == meta[M_RESTING] == int((pool[:, LIVE] == 1).sum()), "resting count"
        listed = 0
        for trader in range(len(a.thead)):
            slot = int(a.thead[trader])
            while slot >= 0:
                assert pool[slot, TRADER] == trader and pool[slot, LIVE] == 1
                listed += 1
                slot = int(pool[slot, TNEXT])
        assert listed == seen, "trader lists and levels disagree"
        bid, ask = self.best_bid, self.best_ask
        assert bid is None or ask is None or bid < ask, "book is crossed"
