"""Overhead of the PettingZoo environment: its steps per second against the package's own loop.

    python benchmarks/bench_envs.py [--traders 200] [--ticks 300] [--json FILE]

Both run the same market of learning traders; in the environment the shipped policy acts from
outside (one batched call per step on the active agents' observations, as a learner would). The
target is an overhead below 2x.
"""

from __future__ import annotations

import argparse
import json

from abm_hetero.bench import environment_overhead


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traders", type=int, default=200)
    parser.add_argument("--ticks", type=int, default=300)
    parser.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    args = parser.parse_args()
    result = environment_overhead(traders=args.traders, ticks=args.ticks)
    print(f"package's own loop: {result['own_ticks_per_s']:,.0f} ticks/s")
    print(f"PettingZoo environment: {result['env_steps_per_s']:,.0f} steps/s "
          f"({result['env_overhead']:.2f}x the time)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
