"""``abm-hetero run``: the default experiment, scenarios compared with each other and real
data, and its report."""

from __future__ import annotations

import argparse

from ..analysis.compare import SCENARIOS, ExperimentSettings, compare
from ..analysis.data import load_reference
from ..analysis.report import write_report
from ..output import reserve


def run(args: argparse.Namespace) -> int:
    settings = ExperimentSettings(
        scenarios=args.scenarios or list(SCENARIOS), seeds=list(range(args.seeds)),
        ticks=args.ticks, traders=args.traders, burn_in=args.burn_in, reference=args.reference,
    )
    reference = load_reference(args.reference)
    with reserve(args.out, overwrite=args.force, kind="report") as target:
        comparison = compare(settings, progress=(lambda _: None) if args.quiet else None,
                             reference=reference)
        out = target.write(lambda tmp: write_report(comparison, tmp))
    print(f"report: {out / 'report.html'} (also report.md, figures/ and CSV tables in {out})")
    return 0
