"""The price against the fundamental, and the tick returns, of trained policies in one market.

A table of statistics cannot tell volatility that clusters from a price that crashes and
recovers, or that runs away from the fundamental; a picture of the path can. Each ``--run`` is a
training folder (``benchmarks/clustering_pilot.py`` trained it; it holds ``policy.pt`` and
``training_settings.json``), evaluated on its own training population in market ``--market-seed``
(its population and policy as the grid's evaluation uses them). One row per run: the mid and
the fundamental, then the mid's tick log returns, every tick from the first (the burn-in that
the grid's statistics leave out included)::

    python benchmarks/price_paths.py --out paths.png --run work/V16-s0/runs/V16-s0 \\
        --run work/V16-s1/runs/V16-s1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from clustering_pilot import trained_settings, training_folder_problem

from abm_hetero.experiments import run_market


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="the figure (.png)")
    ap.add_argument("--run", type=Path, action="append", required=True)
    ap.add_argument("--market-seed", type=int, default=0)
    ap.add_argument("--ticks", type=int, default=2000)
    args = ap.parse_args(argv)
    for problem in filter(None, map(training_folder_problem, args.run)):
        ap.error(problem)
    if not args.out.parent.is_dir():
        ap.error(f"--out: the folder {args.out.parent} does not exist")
    if args.ticks < 2 or args.market_seed < 0:
        ap.error("--ticks must be at least 2 and --market-seed at least 0")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(args.run), 2, figsize=(11, 2.4 * len(args.run)), squeeze=False)
    for (left, right), run in zip(axes, args.run):
        model = run_market(trained_settings(run, args.market_seed, args.ticks))
        mid, fundamental = (np.asarray(model.exchange.price_history(kind).values, dtype=float)
                            for kind in ("reference", "fundamental"))
        left.plot(mid, lw=0.7, label="mid")
        left.plot(fundamental, lw=0.7, label="fundamental")
        left.set_title(f"{run.name}, market {args.market_seed}", fontsize=9)
        left.legend(fontsize=7)
        right.plot(np.diff(np.log(mid)), lw=0.4)
        right.set_title("tick log returns of the mid", fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("tick")
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    plt.close(fig)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
