"""The ``abm-hetero`` console command.

Imports stay lean at the top: each subcommand imports what it needs when it runs, so that
``abm-hetero --help`` answers at once and rule-based runs never import torch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .errors import AbmHeteroError

DESCRIPTION = """\
Simulate a stock market whose traders have heterogeneous preferences (risk aversion alpha,
discount factor gamma, information noise sigma) and learn to trade through one shared policy.

Start with:
  abm-hetero simulate --population fcn --ticks 2000 --out runs/fcn
"""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error on one line, without the usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


# ---------------------------------------------------------------------------- simulate


def _add_simulate(sub) -> None:
    p = sub.add_parser(
        "simulate",
        help="run one market and write its data to a folder",
        description=(
            "Run one market for a number of ticks and write the market series, per-trader "
            "records, trade log, order log and the exact settings to a folder (CSV + JSON; see "
            "docs/market.md). Populations: fcn (rule-based fundamentalist-chartist-noise "
            "traders), zero-intelligence (random orders around the mid)."
        ),
    )
    p.add_argument("--population", default="fcn", metavar="NAME",
                   help="named population to run (default: fcn)")
    p.add_argument("--traders", type=_positive_int, default=None, metavar="N",
                   help="number of traders (default: 200)")
    p.add_argument("--ticks", type=_positive_int, default=None, metavar="N",
                   help="number of ticks to run (default: 2000, or the settings file's)")
    p.add_argument("--seed", type=_seed, default=None, metavar="S",
                   help="random seed; same seed, same run (default: 0, or the settings file's)")
    p.add_argument("--settings", default=None, metavar="FILE",
                   help="settings file (.json/.toml/.yaml) instead of --population, e.g. a "
                        "saved settings.json; --ticks and --seed override it")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (default: runs/<population>-seed<S>)")
    p.add_argument("--per-trader", action="store_true",
                   help="let each trader decide alone instead of one batched pass per tick")
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_run_simulate)


def _run_simulate(args: argparse.Namespace) -> int:
    from .model import MarketModel
    from .output import check_output_dir, write_run
    from .scenarios import scenario
    from .settings import Settings

    if args.settings:
        if args.traders is not None:
            raise AbmHeteroError("--traders cannot be combined with --settings (edit the file)")
        settings = Settings.load(args.settings)
    else:
        settings = scenario(args.population, traders=args.traders or 200)
    changes = {}
    if args.ticks is not None:
        changes["ticks"] = args.ticks
    if args.seed is not None:
        changes["seed"] = args.seed
    if args.per_trader:
        changes["batched"] = False
    settings = settings.replace(**changes)
    out = args.out or f"runs/{settings.name}-seed{settings.seed}"
    out = check_output_dir(out, overwrite=args.force)
    model = MarketModel(settings)
    model.run(progress=not args.quiet)
    write_run(model, out)
    print(f"wrote {len(model.maker.trades)} trades over {settings.ticks} ticks to {out}")
    return 0


# ---------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="abm-hetero", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"abm-hetero {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    _add_simulate(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return args.run(args)
    except AbmHeteroError as exc:
        print(f"abm-hetero: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("abm-hetero: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
