"""Speed measurements behind ``benchmarks/`` and ``abm-hetero bench``.

Each function returns plain numbers. Timings use the best of ``repeats`` runs of the same
work, because these machines are shared and the minimum is the least noisy estimate.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def best_time(fn: Callable[[], object], repeats: int = 3) -> float:
    """Smallest wall time of ``repeats`` calls of ``fn``."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def recorded_order_stream(population: str = "fcn", traders: int = 200, ticks: int = 1000,
                          seed: int = 0):
    """The orders of a simulated market, for replaying into a bare book.

    Returns a DataFrame with ``time, trader, side (+1/-1), price_ticks, volume, ttl``.
    """
    from .model import MarketModel
    from .scenarios import scenario

    model = MarketModel(scenario(population, traders=traders, ticks=ticks, seed=seed)).run()
    orders = model.maker.orders.to_frame()
    tick = model.settings.market.tick_size
    orders["price_ticks"] = np.rint(orders["price"] / tick).astype(np.int64)
    return orders[["time", "trader", "side", "price_ticks", "volume", "ttl"]]


def order_book_throughput(orders, repeats: int = 3) -> dict[str, float]:
    """Orders per second of the bare order book replaying ``orders`` (expiry included)."""
    from .market import OrderBook

    rows = list(orders.itertuples(index=False, name=None))

    def replay() -> None:
        book = OrderBook()
        now = -1
        for t, trader, side, price, volume, ttl in rows:
            if t != now:
                book.expire(t)
                now = t
            book.submit(trader, side, price, volume, t, None if ttl < 0 else ttl)

    seconds = best_time(replay, repeats)
    return {"orders": len(rows), "seconds": seconds, "orders_per_s": len(rows) / seconds}


def market_ticks_per_second(population: str = "fcn", traders: int = 200, ticks: int = 500,
                            batched: bool = True, repeats: int = 3) -> dict[str, float]:
    """Ticks (and orders) per second of a whole ``MarketModel`` run, data collection included."""
    from .model import MarketModel
    from .scenarios import scenario

    settings = scenario(population, traders=traders, ticks=ticks, seed=0, batched=batched)
    counts = {}

    def run() -> None:
        model = MarketModel(settings).run()
        counts["orders"] = len(model.maker.orders)

    seconds = best_time(run, repeats)
    return {
        "traders": traders, "ticks": ticks, "seconds": seconds, "ticks_per_s": ticks / seconds,
        "orders_per_s": counts["orders"] / seconds,
        "decisions_per_s": counts["orders"] / seconds,
    }
