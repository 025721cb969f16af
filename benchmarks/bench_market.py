"""Order-book and market speed: orders per second, ticks per second for 200 and 2,000 FCN traders.

    python benchmarks/bench_market.py [--json FILE]

The order stream is recorded from a simulated FCN market (200 traders, 1,000 ticks) and then
replayed into a bare order book, so the book is timed on realistic prices, sizes and lifetimes.
"""

from __future__ import annotations

import argparse
import json

from abm_hetero.bench import market_ticks_per_second, order_book_throughput, recorded_order_stream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    args = parser.parse_args()
    results = {}
    for population in ("fcn", "zero-intelligence"):
        stream = recorded_order_stream(population)
        results[f"book_{population}"] = book = order_book_throughput(stream)
        print(f"order book, {population} stream: {book['orders']} orders, "
              f"{book['orders_per_s']:,.0f} orders/s")
    for traders in (200, 2000):
        for batched in (True, False):
            r = market_ticks_per_second("fcn", traders=traders, ticks=500, batched=batched)
            mode = "batched" if batched else "per-trader"
            results[f"fcn_{traders}_{mode}"] = r
            print(f"market, {traders} FCN traders, {mode}: {r['ticks_per_s']:,.0f} ticks/s, "
                  f"{r['orders_per_s']:,.0f} orders/s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
