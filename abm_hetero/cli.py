"""The ``abm-hetero`` console command: its parser and the error handling of ``main``.

Imports stay lean at the top: what a command does lives in its own module under
:mod:`abm_hetero.commands`, imported only when that command runs, so that ``abm-hetero --help``
answers at once and rule-based runs never import torch.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import sys
from collections.abc import Sequence

from . import __version__
from .defaults import BURN_IN, SEEDS, TICKS, TRADERS
from .errors import AbmHeteroError
from .training.engine import BACKENDS
from .validation import MAX_WORKERS

DESCRIPTION = """\
Simulate a stock market whose traders have heterogeneous preferences (risk aversion alpha,
discount factor gamma, information noise sigma) and learn to trade through one shared policy.

Start with:
  abm-hetero run                      the default experiment and its report (a few minutes)
  abm-hetero simulate --population learned-heterogeneous --out runs/het
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


def _workers(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"at most {MAX_WORKERS}, got {value}")
    return value


def _add_backend_options(p: argparse.ArgumentParser, what: str) -> None:
    """--backend, --workers and --address, the same for every command that scales out."""
    p.add_argument("--backend", default="sequential", choices=BACKENDS,
                   help=f"where {what} run: this process (sequential, the default), local "
                        "worker processes, or Ray")
    p.add_argument("--workers", type=_workers, default=None, metavar="N",
                   help="worker processes or Ray CPUs (default: all CPUs)")
    p.add_argument("--address", default=None, metavar="ADDR",
                   help="address of an existing Ray cluster (default: start a local one)")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1-65535, got {value}")
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
            "docs/market.md). Populations: learned-heterogeneous and learned-homogeneous "
            "(learning traders acting through the shipped policies), fcn (rule-based "
            "fundamentalist-chartist-noise traders), zero-intelligence (random orders around "
            "the mid)."
        ),
    )
    p.add_argument("--population", default="fcn", metavar="NAME",
                   help="named population to run (default: fcn)")
    p.add_argument("--traders", type=_positive_int, default=None, metavar="N",
                   help=f"number of traders (default: {TRADERS})")
    p.add_argument("--ticks", type=_positive_int, default=None, metavar="N",
                   help=f"number of ticks to run (default: {TICKS}, or the settings file's)")
    p.add_argument("--seed", type=_seed, default=None, metavar="S",
                   help="random seed; same seed, same run (default: 0, or the settings file's)")
    p.add_argument("--settings", default=None, metavar="FILE",
                   help="settings file (.json/.toml/.yaml) instead of --population, e.g. a "
                        "saved settings.json; --ticks and --seed override it")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (default: runs/<population>-seed<S>)")
    p.add_argument("--policy", default=None, metavar="NAME|FILE",
                   help="policy of the learning traders: a shipped one (heterogeneous, "
                        "homogeneous) or a checkpoint file from 'abm-hetero train'")
    p.add_argument("--per-trader", action="store_true",
                   help="let each trader decide alone instead of one batched pass per tick")
    p.add_argument("--force", action="store_true",
                   help="replace an earlier output of abm-hetero (never a folder of yours)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(command="simulate")


# ---------------------------------------------------------------------------- train


def _add_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train the shared policy of the learning traders (PPO)",
        description=(
            "Train one shared policy for a population of learning traders with shared-policy "
            "PPO. Every episode draws fresh traits from --traits. Writes metrics.csv, "
            "checkpoint.pt (full training state, after every rollout), policy.pt and best.pt "
            "to --out; --resume continues an interrupted run. Use the result with "
            "'abm-hetero simulate --population learned-heterogeneous --policy DIR/policy.pt'."
        ),
    )
    p.add_argument("--traits", default=None, metavar="PRESET",
                   help="trait distribution: heterogeneous (default), homogeneous, or prior "
                        "(broad: one policy for any distribution inside it)")
    p.add_argument("--steps", type=_positive_int, default=None, metavar="N",
                   help="learning decisions to train for (default: 2,000,000)")
    p.add_argument("--seed", type=_seed, default=None, metavar="S", help="random seed (0)")
    p.add_argument("--settings", default=None, metavar="FILE",
                   help="training settings file (.json/.toml/.yaml); see docs/learning.md")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (default: runs/train-<traits>-seed<S>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the training run in --out (a folder that train wrote) "
                        "from its last checkpoint")
    p.add_argument("--device", default=None, metavar="DEV",
                   help="torch device for the PPO updates: cpu (default) or cuda")
    p.add_argument("--mask-traits", action="store_true",
                   help="hold the trait features at 0: the control of a trait experiment, a "
                        "policy that never sees the traits")
    _add_backend_options(p, "the training episodes")
    p.add_argument("--update-threads", type=_workers, default=None, metavar="N",
                   help="torch threads of the PPO update (default: the CPUs available, at most "
                        "4); the same N trains the same policy on every backend, another N "
                        "rounds differently; --resume keeps the run's count unless given")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(command="train")


# ---------------------------------------------------------------------------- run


def _scenario_list(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated scenario names")
    return names


def _add_run(sub) -> None:
    p = sub.add_parser(
        "run",
        help="the default experiment: compare scenarios with each other and real data",
        description=(
            "Simulate each scenario (learned-heterogeneous, learned-homogeneous, fcn, "
            "zero-intelligence) for several seeds on the same market, measure the stylized "
            "facts against a real series (the S&P 500 by default), measure behaviour by trait, "
            "niches and the trade network, and write a report (report.html, report.md, "
            "figures, CSV tables) answering the paper's two questions."
        ),
    )
    p.add_argument("--out", default="runs/report", metavar="DIR",
                   help="report folder (default: runs/report)")
    p.add_argument("--seeds", type=_positive_int, default=SEEDS, metavar="N",
                   help=f"seeds per scenario: 0..N-1 (default: {SEEDS})")
    p.add_argument("--ticks", type=_positive_int, default=TICKS, metavar="N",
                   help=f"ticks per run (default: {TICKS})")
    p.add_argument("--traders", type=_positive_int, default=TRADERS, metavar="N",
                   help=f"traders per market (default: {TRADERS})")
    p.add_argument("--burn-in", type=int, default=BURN_IN, metavar="N",
                   help=f"ticks discarded at the start of each run (default: {BURN_IN})")
    p.add_argument("--scenarios", type=_scenario_list, default=None, metavar="A,B",
                   help="comma-separated scenarios (default: all four)")
    p.add_argument("--reference", default="sp500", metavar="NAME|CSV",
                   help="real series: sp500 (default), nasdaq, or a CSV file with a time and a "
                        "price column (optionally volume)")
    p.add_argument("--force", action="store_true",
                   help="replace an earlier output of abm-hetero (never a folder of yours)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(command="run")


# ---------------------------------------------------------------------------- diagnose


def _add_diagnose(sub) -> None:
    p = sub.add_parser(
        "diagnose",
        help="check that each trait has work to do and that the policy uses it",
        description=(
            "Run a population of learning traders with every decision recorded and write four "
            "diagnostics (docs/learning.md): the reward audit (each reward term's share of "
            "variance, overall and by trait tercile), the policy's sensitivity to each trait "
            "feature (with a figure of action against trait), the coverage of each observation "
            "feature (pinned features flagged), and the timing of rewards (autocorrelation "
            "along a trader's decisions, and how late an order's payoff arrives)."
        ),
    )
    p.add_argument("--population", default="learned-heterogeneous", metavar="NAME",
                   help="a population with learning traders (default: learned-heterogeneous)")
    p.add_argument("--policy", default=None, metavar="NAME|FILE",
                   help="a shipped policy or a checkpoint file (default: the population's)")
    p.add_argument("--settings", default=None, metavar="FILE",
                   help="a settings file with learning traders instead of --population")
    p.add_argument("--seeds", type=_positive_int, default=3, metavar="N",
                   help="market seeds 0..N-1 (default: 3)")
    p.add_argument("--ticks", type=_positive_int, default=TICKS, metavar="N",
                   help=f"ticks per market (default: {TICKS})")
    p.add_argument("--traders", type=_positive_int, default=None, metavar="N",
                   help=f"traders per market (default: {TRADERS})")
    p.add_argument("--out", default="runs/diagnose", metavar="DIR",
                   help="output folder (default: runs/diagnose)")
    p.add_argument("--force", action="store_true",
                   help="replace an earlier output of abm-hetero (never a folder of yours)")
    p.set_defaults(command="diagnose")


# ---------------------------------------------------------------------------- calibrate


def _add_calibrate(sub) -> None:
    p = sub.add_parser(
        "calibrate",
        help="calibrate trait distributions to a real series by optimal transport",
        description=(
            "Simulate learning traders (one policy trained over a broad trait prior) at "
            "candidate trait distributions, score each by optimal-transport distances between "
            "simulated and real standardised returns (return, tail_return and return_ts "
            "clouds), and rank them. Results stream into DIR/candidates.csv; rerunning with the "
            "same --out (a new, empty or earlier calibration folder) resumes without redoing "
            "finished simulations. Writes ranked.csv, best.json, best_facts.csv, scenarios.csv "
            "and landscape.png (docs/calibration.md)."
        ),
    )
    p.add_argument("--target", default=None, metavar="NAME|CSV",
                   help="real series: sp500 (default), nasdaq or a CSV file")
    _add_backend_options(p, "simulations")
    p.add_argument("--search", default=None, choices=("grid", "halving"),
                   help="grid (default) or successive halving over random candidates")
    p.add_argument("--settings", default=None, metavar="FILE",
                   help="calibration settings file (.json/.toml/.yaml): search space, seeds, "
                        "cloud sizes, ...")
    p.add_argument("--seeds", type=_positive_int, default=None, metavar="N",
                   help="seeds per candidate: 0..N-1 (default: 3)")
    p.add_argument("--ticks", type=_positive_int, default=None, metavar="N",
                   help=f"ticks per simulation (default: {TICKS})")
    p.add_argument("--traders", type=_positive_int, default=None, metavar="N",
                   help=f"traders per market (default: {TRADERS})")
    p.add_argument("--policy", default=None, metavar="NAME|FILE",
                   help="policy to simulate (default: the shipped prior policy)")
    p.add_argument("--out", default="runs/calibration", metavar="DIR",
                   help="output folder (default: runs/calibration)")
    p.add_argument("--no-scenarios", action="store_true",
                   help="skip the distances of the four named scenarios")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(command="calibrate")


# ---------------------------------------------------------------------------- viz


def _add_viz(sub) -> None:
    p = sub.add_parser(
        "viz",
        help="watch and steer a market in the browser (Mesa SolaraViz)",
        description=(
            "Serve the browser page on 127.0.0.1: controls for the population, number of "
            "traders, trait distributions, fundamental volatility and seed; Play, Step and "
            "Reset; live charts of price against the fundamental, spread and depth, the order "
            "book, the return distribution, traders coloured by a trait, and running stylized "
            "facts. Works offline. Stop it with Ctrl-C."
        ),
    )
    p.add_argument("--port", type=_port, default=8765, metavar="P",
                   help="port to serve on (default: 8765)")
    p.add_argument("--allow-host", action="append", default=[], type=_viz_host,
                   metavar="NAME", dest="allow_hosts",
                   help="also answer requests addressed to this host name (e.g. a name that "
                        "reaches this machine through a tunnel or proxy); repeatable. By "
                        "default the page answers only localhost, 127.0.0.1 and [::1], and "
                        "only its own origin, so other web pages cannot drive it")
    p.set_defaults(command="viz")


def _viz_host(text: str) -> str:
    from .viz.hosts import allowed_host  # reason: it needs Starlette, of the optional viz extra

    try:
        return allowed_host(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# ---------------------------------------------------------------------------- bench


def _bench_runs(text: str) -> int:
    """--runs: a whole number from 1 to 1,000."""
    value = _positive_int(text)
    if value > 1000:
        raise argparse.ArgumentTypeError(f"at most 1000, got {value}")
    return value


def _add_bench(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="measure simulation and training speed on this machine",
        description=(
            f"Measure, in one run: decisions per second of {TRADERS} and of 2,000 learning "
            "traders with one batched policy call per tick, and of 200 with one call per "
            "trader; training steps per second including PPO updates (in one process, on 1 and "
            "2 local workers, and on Ray); ticks per second of 200 FCN traders; orders per "
            "second of the bare order book; and (with the rl extra) steps per second through "
            "the PettingZoo environment against the package's own loop. Each figure is the "
            "median and range of --runs runs. --compare also measures the pure-Python market "
            "core in the same runs, alternating with the compiled one, and reports the ratios. "
            "Prints a table; --json writes the figures."
        ),
    )
    p.add_argument("--json", metavar="FILE", default=None,
                   help="write the figures as JSON (keys sim_decisions_per_s_batched, "
                        "sim_decisions_per_s_per_trader, train_steps_per_s, "
                        "fcn_200_ticks_per_s, ..., each with _range and _runs; with --compare "
                        "also python_core_<key> and <key>_vs_python_core)")
    p.add_argument("--runs", metavar="N", type=_bench_runs, default=None,
                   help="how many times to run each measurement (default: 5; 1 with --quick)")
    p.add_argument("--compare", action="store_true",
                   help="also measure the pure-Python core (settings: core = \"python\") and "
                        "report each figure's ratio")
    p.add_argument("--quick", action="store_true",
                   help="smaller workloads (less precise), one run, and no Ray")
    p.set_defaults(command="bench")


# ---------------------------------------------------------------------------- main


#: errors of the operating system that a user meets by a limit of the machine or by files
#: changing under a command, not by a bug: reported in one line like any other error
_ONE_LINE_OS_ERRORS = {errno.ENOSPC, errno.EFBIG, errno.EMFILE, errno.ENFILE, errno.EDQUOT,
                  errno.ENAMETOOLONG, errno.ELOOP, errno.EROFS, errno.EACCES, errno.EPERM,
                  # a file or folder moved, removed or put in the way while a command wrote
                  errno.ENOENT, errno.EISDIR, errno.ENOTDIR, errno.ENOTEMPTY, errno.EEXIST}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="abm-hetero", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"abm-hetero {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    _add_run(sub)
    _add_simulate(sub)
    _add_train(sub)
    _add_diagnose(sub)
    _add_calibrate(sub)
    _add_viz(sub)
    _add_bench(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "command"):
        parser.print_help()
        return 2
    try:
        # reason: a command's modules (pandas, SciPy, torch) load only when that command runs
        command = importlib.import_module(f"abm_hetero.commands.{args.command}")
        return command.run(args)
    except AbmHeteroError as exc:
        print(f"abm-hetero: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the system refused a write: full disk, file size or file limits
        if exc.errno not in _ONE_LINE_OS_ERRORS:
            raise
        out = getattr(args, "out", None) or getattr(args, "json", None)
        where = f": {exc.filename}" if exc.filename else f" (writing {out})" if out else ""
        if exc.filename2:
            where += f" -> {exc.filename2}"
        print(f"abm-hetero: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except MemoryError:
        print("abm-hetero: error: out of memory; choose smaller settings (traders, ticks, "
              "layer sizes)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        left = getattr(args, "interrupted", "nothing was written")
        print(f"abm-hetero: interrupted; {left}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
