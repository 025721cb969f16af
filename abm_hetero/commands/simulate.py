"""``abm-hetero simulate``: run one market and write its data to a folder."""

from __future__ import annotations

import argparse

from ..experiments import run_market
from ..output import reserve, save_run
from .common import market_settings, use_policy


def run(args: argparse.Namespace) -> int:
    settings = market_settings(args, ticks=args.ticks, seed=args.seed,
                               batched=False if args.per_trader else None)
    if args.policy is not None:
        use_policy(settings, args.policy)
    out = args.out if args.out is not None else f"runs/{settings.name}-seed{settings.seed}"
    with reserve(out, overwrite=args.force, kind="simulation") as target:
        model = run_market(settings, progress=not args.quiet)
        target.write(lambda tmp: save_run(model, tmp))
    print(f"wrote {len(model.exchange.trades)} trades over {settings.ticks} ticks to {target.out}")
    return 0
