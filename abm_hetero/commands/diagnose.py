"""``abm-hetero diagnose``: check that each trait has work to do and that the policy uses it."""

from __future__ import annotations

import argparse

from ..analysis.diagnostics import run_diagnosis, write_diagnosis
from ..output import reserve
from .common import market_settings, use_policy


def run(args: argparse.Namespace) -> int:
    settings = market_settings(args, ticks=args.ticks)
    use_policy(settings, args.policy, option="diagnose")
    with reserve(args.out, overwrite=args.force, kind="diagnosis") as target:
        diagnosis = run_diagnosis(settings, list(range(args.seeds)))
        out = target.write(lambda tmp: write_diagnosis(diagnosis, tmp))
    for line in diagnosis.summary():
        print(line)
    print(f"diagnostics: {out}/summary.md (tables and trait_sensitivity.png beside it)")
    return 0
