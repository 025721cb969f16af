"""How the cost of a learned market grows with traders and with ticks (time and memory).

    python benchmarks/bench_scaling.py [--long 100000] [--json FILE]

Markets of learning traders (the shipped heterogeneous policy) with 200, 2,000 and 20,000
traders, and a 200-trader market run for ``--long`` ticks; for each, decisions per second and
the growth of the process's resident memory over the run (Linux ``/proc``), the model kept.
"""

from __future__ import annotations

import argparse
import gc
import json
import time

import torch

from abm_hetero import MarketModel
from abm_hetero.experiments import scenario_settings


def resident_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2**20


def measure(traders: int, ticks: int) -> dict:
    settings = scenario_settings("learned-heterogeneous", 0, traders=traders, ticks=ticks)
    gc.collect()
    before = resident_mb()
    model = MarketModel(settings)
    start = time.perf_counter()
    model.run()
    seconds = time.perf_counter() - start
    gc.collect()
    decisions = model.groups[0].decisions
    return {"traders": traders, "ticks": ticks, "seconds": round(seconds, 2),
            "decisions": decisions, "decisions_per_s": round(decisions / seconds),
            "ticks_per_s": round(ticks / seconds, 1),
            "memory_mb": round(resident_mb() - before, 1),
            "orders": len(model.exchange.orders), "trades": len(model.exchange.trades)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", type=int, default=100_000, help="ticks of the long run")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [measure(200, 1000), measure(2000, 200), measure(20000, 50),
            measure(200, args.long)]
    for r in rows:
        print(f"{r['traders']:>6} traders {r['ticks']:>7} ticks: {r['decisions_per_s']:>8,} "
              f"decisions/s, {r['ticks_per_s']:>8,} ticks/s, +{r['memory_mb']} MB "
              f"({r['orders']:,} orders, {r['trades']:,} trades)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
