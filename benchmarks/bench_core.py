"""The two market cores side by side: a bare order book replaying a recorded order stream (one
call per order, and the compiled book also in one call for the whole stream) and whole markets
(fcn, learned), each several times, the variants in turn; median and range of the wall times,
plus the compiled core's first-call time with an empty and with a filled numba cache.

    python benchmarks/bench_core.py [--repeats 5] [--traders 200] [--ticks 500]

The learned market is timed three ways: each ``Settings.core`` (the compiled one also switches
the learned traders' acting path) and the Python acting path with the compiled exchange, which
isolates what the market core alone saves.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import abm_hetero.model as model_module
from abm_hetero.agents import Exchange
from abm_hetero.bench import recorded_order_stream, submit_one_by_one
from abm_hetero.experiments import run_market, scenario_settings
from abm_hetero.market import CompiledOrderBook, OrderBook
from abm_hetero.market.compiled.replay import replay as replay_in_one_call

FIRST_CALL = """
import time
start = time.perf_counter()
import numpy as np, mesa
from abm_hetero.agents import Exchange
from abm_hetero.market import Accounts
imported = time.perf_counter()
exchange = Exchange(mesa.Model(rng=1), Accounts(np.full(3, 100.0), np.full(3, 5)), 2,
                    initial_price=10.0, tick_size=0.01, price_band=0.01, backstop_volume=1)
exchange.begin_tick(1)
exchange.submit_batch(np.array([0, 1]), np.array([1, -1]), np.array([10.0, 10.0]),
                      np.array([1, 1]), np.array([2, 2]))
exchange.cancel_all(0)
exchange.begin_tick(5)
exchange.publish()
exchange.book.submit(0, 1, 900, 1, 5)
exchange.book.expire(9)
print(f"{imported - start:.2f} {time.perf_counter() - imported:.2f}")
"""


def timings(fn: Callable[[], object], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def summary(name: str, seconds: list[float], work: int, unit: str) -> None:
    med = statistics.median(seconds)
    print(f"{name:48s} median {med:7.3f} s  range {min(seconds):.3f}-{max(seconds):.3f} s  "
          f"{work / med:10.0f} {unit}/s")


def first_call() -> None:
    for label, cache in (("empty numba cache", tempfile.mkdtemp()), ("filled numba cache", None)):
        env = dict(os.environ)
        if cache:
            env["NUMBA_CACHE_DIR"] = cache
        done = subprocess.run([sys.executable, "-c", FIRST_CALL], env=env, capture_output=True,
                              text=True, check=True)
        imported, first = done.stdout.split()
        print(f"first call, {label:20s} import {imported} s, compile/load + run {first} s")


def run_learned_with_compiled_exchange(settings) -> None:
    original = model_module.Exchange
    model_module.Exchange = lambda *a, core, **kw: Exchange(*a, core="compiled", **kw)
    try:
        run_market(settings.replace(core="python"))
    finally:
        model_module.Exchange = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--traders", type=int, default=200)
    parser.add_argument("--ticks", type=int, default=500)
    args = parser.parse_args()
    first_call()
    orders = recorded_order_stream("fcn", traders=args.traders, ticks=args.ticks)
    rows = list(orders.itertuples(index=False, name=None))
    columns = [orders[c].to_numpy() for c in ("time", "trader", "side", "price_ticks", "volume",
                                              "ttl")]
    books = {
        "python": lambda: submit_one_by_one(OrderBook(), rows),
        "compiled": lambda: submit_one_by_one(CompiledOrderBook(), rows),
        "compiled, one call": lambda: replay_in_one_call(CompiledOrderBook(), *columns),
    }
    for name, seconds in interleaved(books, args.repeats).items():
        summary(f"book replay ({len(rows)} orders), {name}", seconds, len(rows), "orders")
    for population in ("fcn", "learned-heterogeneous"):
        settings = scenario_settings(population, 0, traders=args.traders, ticks=args.ticks)
        runs = {f"core={core}": run_with(settings.replace(core=core))
                for core in ("python", "compiled")}
        if population.startswith("learned"):
            runs["python acting + compiled exchange"] = (
                lambda s=settings: run_learned_with_compiled_exchange(s))
        for name, seconds in interleaved(runs, args.repeats).items():
            summary(f"{population} market, {name}", seconds, args.ticks, "ticks")


def run_with(settings) -> Callable[[], object]:
    return lambda: run_market(settings)


def interleaved(jobs: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Wall times of each job, ``repeats`` rounds of one run each after a warm-up run, so that
    a change in the machine's load touches every job alike."""
    for job in jobs.values():
        job()
    seconds: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(repeats):
        for name, job in jobs.items():
            seconds[name] += timings(job, 1)
    return seconds

if __name__ == "__main__":
    main()
