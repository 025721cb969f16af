"""Where the compiled book keeps what: named indices into its arrays, and their growth.

The book's state is a handful of int64 arrays, so that one numba call takes few arguments:

* ``pool[slot, field]``: one row per order slot (fields ``ID`` .. ``LIVE`` below); a resting
  order sits in its price level's FIFO queue (``NEXT``/``PREV``) and in its trader's list of
  resting orders (``TNEXT``/``TPREV``, for cancelling all of a trader's orders at once);
* ``free``: a stack of free slots;
* ``slot_of[order_id]``: the slot of a resting order, -1 otherwise (ids are dense);
* ``levels[side, i, field]``: per side (0 bids, 1 asks) the price levels, best last (bids in
  ascending price, asks in descending price), each with fields ``L_PRICE`` .. ``L_TAIL``
  side by side, so that inserting or removing a level moves one block of memory;
* ``thead[trader]``: the first slot of a trader's resting orders, -1 if none;
* ``meta``: counters (``M_*``).

Capacities grow in Python (:class:`BookArrays.reserve`). A compiled call that finds an array
short of room stops before changing anything and says so (``NO_ROOM`` from the exchange's
calls, ``NEED_ROOM`` from :func:`.kernels.submit`); the Python caller then reserves room and
calls again.

The field indices and status codes are defined in :mod:`.kernels` and imported here: numba's
on-disk cache is keyed on the source file of the compiled functions only, and bakes the values
of the globals they read into the cached machine code. Defined in another module, a changed
index would leave a stale cache that reads the wrong fields; defined in ``kernels.py``, any
change to them changes that file and recompiles.
"""

from __future__ import annotations

import numpy as np

# defined in .kernels, whose source numba tracks (see above)
from .kernels import (
    BROKEN,  # noqa: F401
    EXPIRY,  # noqa: F401
    ID,  # noqa: F401
    INVALID,  # noqa: F401
    L_HEAD,  # noqa: F401
    L_PRICE,  # noqa: F401
    L_TAIL,  # noqa: F401
    L_VOLUME,  # noqa: F401
    LIVE,  # noqa: F401
    M_FREE_TOP,  # noqa: F401
    M_LAST_LEVEL,  # noqa: F401
    M_LEVELS,  # noqa: F401
    M_MIN_EXPIRY,  # noqa: F401
    M_NEXT_ID,  # noqa: F401
    M_RESTING,  # noqa: F401
    META_SIZE,  # noqa: F401
    NEXT,  # noqa: F401
    NO_EXPIRY,  # noqa: F401
    NO_ROOM,  # noqa: F401
    NO_TTL,  # noqa: F401
    PLACED,  # noqa: F401
    POOL_FIELDS,  # noqa: F401
    PREV,  # noqa: F401
    PRICE,  # noqa: F401
    SIDE,  # noqa: F401
    TIME,  # noqa: F401
    TNEXT,  # noqa: F401
    TOO_LARGE,  # noqa: F401
    TPREV,  # noqa: F401
    TRADER,  # noqa: F401
    VOLUME,  # noqa: F401
    X_BAND,  # noqa: F401
    X_HIGH,  # noqa: F401
    X_LOW,  # noqa: F401
    X_ORDERS,  # noqa: F401
    X_PER_UNIT,  # noqa: F401
    X_SIZE,  # noqa: F401
    X_TICK_TRADES,  # noqa: F401
    X_TICK_VOLUME,  # noqa: F401
    X_TIME,  # noqa: F401
    X_TRADES,  # noqa: F401
    XF_LAST_TRADE,  # noqa: F401
    XF_REFUSED,  # noqa: F401
    XF_SIZE,  # noqa: F401
    XF_TICK,  # noqa: F401
)


def side_index(side: int) -> int:
    """0 for the bid side (``BUY``), 1 for the ask side (``SELL``)."""
    return 0 if side == 1 else 1


class BookArrays:
    """The arrays of one compiled book, grown (doubled) on demand."""

    def __init__(self, last_level: bool, capacity: int = 256) -> None:
        self.pool = np.zeros((capacity, POOL_FIELDS), dtype=np.int64)
        self.free = np.arange(capacity - 1, -1, -1, dtype=np.int64)
        self.slot_of = np.full(capacity, -1, dtype=np.int64)
        self.levels = np.zeros((2, capacity, 4), dtype=np.int64)
        self.thead = np.full(16, -1, dtype=np.int64)
        self.fills = np.zeros((capacity, 7), dtype=np.int64)
        self.meta = np.zeros(META_SIZE, dtype=np.int64)
        self.meta[M_FREE_TOP] = capacity
        self.meta[M_MIN_EXPIRY] = NO_EXPIRY
        self.meta[M_LAST_LEVEL] = int(last_level)

    def reserve(self, orders: int, max_trader: int) -> None:
        """Make room for ``orders`` more submissions by traders up to ``max_trader``: slots,
        ids, levels and fills (one incoming order fills at most every resting order)."""
        meta = self.meta
        resting = int(meta[M_RESTING])
        if meta[M_FREE_TOP] < orders:
            self._grow_pool(resting + orders)
        need = int(meta[M_NEXT_ID]) + orders + 1
        if len(self.slot_of) < need:
            grown = np.full(max(need, 2 * len(self.slot_of)), -1, dtype=np.int64)
            grown[: len(self.slot_of)] = self.slot_of
            self.slot_of = grown
        levels = self.levels.shape[1]
        if max(meta[M_LEVELS], meta[M_LEVELS + 1]) + orders > levels:
            size = max(2 * levels, levels + orders)
            grown = np.zeros((2, size, 4), dtype=np.int64)
            grown[:, :levels] = self.levels
            self.levels = grown
        if len(self.fills) < resting + 2 * orders + 1:
            self.fills = np.zeros((max(2 * len(self.fills), resting + 2 * orders + 1), 7),
                                  dtype=np.int64)
        if max_trader >= len(self.thead):
            grown = np.full(max(2 * len(self.thead), max_trader + 1), -1, dtype=np.int64)
            grown[: len(self.thead)] = self.thead
            self.thead = grown

    def _grow_pool(self, at_least: int) -> None:
        old = len(self.pool)
        size = max(2 * old, at_least)
        pool = np.zeros((size, POOL_FIELDS), dtype=np.int64)
        pool[:old] = self.pool
        self.pool = pool
        top = int(self.meta[M_FREE_TOP])
        free = np.empty(size, dtype=np.int64)
        # the new slots go below the old free ones, so that the old ones are reused first
        added = np.arange(size - 1, old - 1, -1, dtype=np.int64)
        free[: len(added)] = added
        free[len(added): len(added) + top] = self.free[:top]
        self.free = free
        self.meta[M_FREE_TOP] = top + len(added)
