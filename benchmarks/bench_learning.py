"""Simulation and training speed of learning traders (the figures of ``abm-hetero bench``).

    python benchmarks/bench_learning.py [--json FILE] [--quick]
"""

from __future__ import annotations

import argparse
import json

from abm_hetero.bench import run_all


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--quick", action="store_true", help="smaller workloads")
    args = parser.parse_args()
    results = run_all(quick=args.quick)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
