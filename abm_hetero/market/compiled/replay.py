"""Replaying a recorded order stream into a compiled book in one call: the loop of a bare-book
benchmark (expire at each new tick, then submit), without a Python call per order, to measure
the book itself rather than the cost of calling it."""

from __future__ import annotations

import numpy as np

from .book import CompiledOrderBook
from .kernels import replay_stream
from .layout import NO_TTL


def replay(book: CompiledOrderBook, times, traders, sides, prices, volumes, ttls) -> int:
    """Feed a stream (arrays; price 0 a market order) to ``book``, expiring stale orders at
    each new time; the number of fills. Times must not decrease. Any negative ttl here means
    none (the order rests until filled), unlike ``book.submit`` and the exchange, where a
    negative ttl expires the order at the next tick and only ``ttl=None`` means none."""
    ttls = np.where(np.asarray(ttls) < 0, NO_TTL, ttls)
    columns = [np.ascontiguousarray(c, dtype=np.int64)
               for c in (times, traders, sides, prices, volumes, ttls)]
    a = book.arrays
    done = filled = 0
    while done < len(columns[0]):
        a.reserve(1024, int(columns[1].max()))
        expired = np.empty(len(a.pool), dtype=np.int64)
        part = [c[done:] for c in columns]  # expiring a tick again removes nothing more
        k, nf = replay_stream(a.pool, a.slot_of, a.free, a.levels, a.thead, a.meta, a.fills,
                        expired, *part)
        done += k
        filled += nf
    return filled
