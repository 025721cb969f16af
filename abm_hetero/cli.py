"""The ``abm-hetero`` console command.

Imports stay lean at the top: each subcommand imports what it needs when it runs, so that
``abm-hetero --help`` answers at once and rule-based runs never import torch.
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Sequence

from .defaults import BURN_IN, SEEDS, TICKS, TRADERS
from . import training  # loads torch only when a command uses Trainer
from .errors import AbmHeteroError
from .training.engine import BACKENDS
from .training.workers import backend_session
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


def _backend(args: argparse.Namespace) -> dict:
    """The backend options as keywords (an --address needs the ray backend)."""
    if args.address and args.backend != "ray":
        raise AbmHeteroError(f"--address names a Ray cluster; it needs --backend ray, not "
                             f"--backend {args.backend}")
    return dict(backend=args.backend, workers=args.workers, address=args.address)


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


def _with_overrides(path: str | None, overrides: dict, build):
    """The settings of a run: the file at ``path`` (if any), then every option the user gave
    (the ``None`` values are options left out), built with ``build`` into a settings object;
    an error names the file."""
    from .config_io import read_mapping

    data = read_mapping(path) if path else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return build(data)
    except AbmHeteroError as exc:
        raise AbmHeteroError(f"{path}: {exc}" if path else str(exc)) from None


def _market_settings(args: argparse.Namespace, **overrides):
    """A market's settings from ``--settings`` or ``--population`` and ``--traders``, with
    the other options applied on top."""
    from .scenarios import scenario
    from .settings import Settings

    if args.settings:
        if args.traders is not None:
            raise AbmHeteroError("--traders cannot be combined with --settings (edit the file)")
        return _with_overrides(args.settings, overrides, Settings.from_dict)
    base = scenario(args.population, traders=args.traders or TRADERS)
    return base.replace(**{k: v for k, v in overrides.items() if v is not None})


def _use_policy(settings, policy: str | None, option: str = "--policy") -> None:
    """Give the learning traders of ``settings`` the policy ``policy`` (if given)."""
    learners = [g for g in settings.traders if g.kind == "learning"]
    if not learners:
        raise AbmHeteroError(f"{option}: population {settings.name!r} has no learning traders")
    if policy is not None:
        for group in learners:
            group.params.policy = policy


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
    p.set_defaults(run=_run_simulate)


def _run_simulate(args: argparse.Namespace) -> int:
    from .experiments import run_market
    from .output import reserve, save_run

    settings = _market_settings(args, ticks=args.ticks, seed=args.seed,
                                batched=False if args.per_trader else None)
    if args.policy is not None:
        _use_policy(settings, args.policy)
    out = args.out if args.out is not None else f"runs/{settings.name}-seed{settings.seed}"
    with reserve(out, overwrite=args.force, kind="simulation") as target:
        model = run_market(settings, progress=not args.quiet)
        target.write(lambda tmp: save_run(model, tmp))
    print(f"wrote {len(model.exchange.trades)} trades over {settings.ticks} ticks to {target.out}")
    return 0


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
    p.set_defaults(run=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    Trainer, TrainingSettings = training.Trainer, training.TrainingSettings
    backend = _backend(args)
    if args.resume:
        if args.out is None:
            raise AbmHeteroError("--resume needs --out, the folder of the run to continue")
        if args.settings or args.traits or args.seed is not None or args.device or \
                args.mask_traits:
            raise AbmHeteroError("--resume takes the run's saved settings; only --steps and "
                                 "where episodes run (--backend, --workers, --address, "
                                 "--update-threads) may change")
        trainer = Trainer(TrainingSettings(), args.out, resume=True, progress=not args.quiet,
                          update_threads=args.update_threads, **backend)
        if args.steps is not None:
            trainer.settings.total_steps = args.steps
    else:
        settings = _with_overrides(
            args.settings, {"traits": args.traits, "total_steps": args.steps,
                            "seed": args.seed, "device": args.device,
                            "mask_traits": args.mask_traits or None},
            TrainingSettings.from_dict)
        name = (args.traits or "custom") + ("-masked" if settings.mask_traits else "")
        out = args.out if args.out is not None else f"runs/train-{name}-seed{settings.seed}"
        trainer = Trainer(settings, out, progress=not args.quiet,
                          update_threads=args.update_threads, **backend)
    per_rollout = trainer.settings.episodes_per_rollout
    if trainer.runner.cpus > per_rollout:
        print(f"abm-hetero: note: a rollout is {per_rollout} episodes, so only {per_rollout} of "
              f"the {trainer.runner.cpus} workers have work; raise episodes_per_rollout (in "
              "--settings) to use them all", file=sys.stderr)
    try:
        policy = trainer.train()
    except KeyboardInterrupt:
        if (trainer.out / "checkpoint.pt").exists():
            left = (f"the checkpoint of step {trainer.steps} is in {trainer.out}; continue "
                    f"with: abm-hetero train --resume --out {trainer.out}")
        else:
            left = (f"no rollout had finished, so {trainer.out} holds only the settings; start "
                    "again with the same command")
        print(f"abm-hetero: interrupted; {left}", file=sys.stderr)
        return 130
    print(f"trained {trainer.steps} steps; policy: {policy}; metrics: "
          f"{trainer.out / 'metrics.csv'}")
    return 0


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
    p.set_defaults(run=_run_run)


def _run_run(args: argparse.Namespace) -> int:
    from .analysis.compare import SCENARIOS, ExperimentSettings, compare
    from .analysis.data import load_reference
    from .analysis.report import write_report
    from .output import reserve

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
    p.set_defaults(run=_run_diagnose)


def _run_diagnose(args: argparse.Namespace) -> int:
    from .analysis.diagnostics import run_diagnosis, write_diagnosis
    from .output import reserve

    settings = _market_settings(args, ticks=args.ticks)
    _use_policy(settings, args.policy, option="diagnose")
    with reserve(args.out, overwrite=args.force, kind="diagnosis") as target:
        diagnosis = run_diagnosis(settings, list(range(args.seeds)))
        out = target.write(lambda tmp: write_diagnosis(diagnosis, tmp))
    for line in diagnosis.summary():
        print(line)
    print(f"diagnostics: {out}/summary.md (tables and trait_sensitivity.png beside it)")
    return 0


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
    p.set_defaults(run=_run_calibrate)


def _run_calibrate(args: argparse.Namespace) -> int:
    # reason: the analysis and the shipped policies load pandas, SciPy and torch
    from .analysis.calibrate import (
        CalibrationSettings,
        calibrate,
        scenario_distances,
        write_results,
    )
    from .analysis.data import load_reference
    from .config_io import build_dataclass
    from .learning.pretrained import pretrained_path
    from .output import Workspace

    settings = _with_overrides(
        args.settings, {"target": args.target, "search": args.search, "ticks": args.ticks,
                        "traders": args.traders, "policy": args.policy,
                        "seeds": list(range(args.seeds)) if args.seeds else None},
        lambda data: build_dataclass(CalibrationSettings, data, "calibration"))
    load_reference(settings.target)  # a bad file fails before any simulation
    if not settings.policy.endswith(".pt"):
        pretrained_path(settings.policy)
    say = (lambda _: None) if args.quiet else (lambda m: print(m, flush=True))
    run = _backend(args)
    args.interrupted = (f"the simulations that finished are saved in {args.out}/tasks and "
                        f"the scored candidates in {args.out}/candidates.csv; the same command "
                        "resumes from them")
    # the folder rule and the lock hold for the whole command (calibrate takes them again)
    with Workspace(args.out, "calibration"), backend_session(**run):
        cal = calibrate(settings, args.out, progress=say, **run)
        scen = None if args.no_scenarios else scenario_distances(settings, args.out, **run)
        write_results(cal, args.out, scen, **run)
    best = ", ".join(f"{k} {v:.4g}" for k, v in cal.best.items())
    print(f"best of {len(cal.table)} candidates: {best}")
    print(f"results: {args.out}/ranked.csv, best.json, best_facts.csv, landscape.png")
    return 0


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
    p.set_defaults(run=_run_viz)


def _viz_host(text: str) -> str:
    from .viz.hosts import allowed_host

    try:
        return allowed_host(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _run_viz(args: argparse.Namespace) -> int:
    import importlib.util
    import socket

    if importlib.util.find_spec("solara") is None:
        raise AbmHeteroError("the page needs Solara: pip install 'abm-hetero[viz]'")
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", args.port))
        except OSError:
            raise AbmHeteroError(f"port {args.port} is in use; choose another with --port"
                                 ) from None
    url = f"http://127.0.0.1:{args.port}/"
    print(f"abm-hetero page: {url}  (Ctrl-C to stop)", flush=True)
    from .viz.serve import serve

    serve(args.port, args.allow_hosts)  # this process is the server: stopping it stops the page
    return 0


# ---------------------------------------------------------------------------- bench


def _add_bench(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="measure simulation and training speed on this machine",
        description=(
            f"Measure, in one run: decisions per second of {TRADERS} learning traders with one "
            "batched policy call per tick and with one call per trader, training steps per "
            f"second including PPO updates, ticks per second of {TRADERS} FCN traders, orders "
            "per second of the bare order book, and (with the rl extra) steps per second "
            "through the PettingZoo environment against the package's own loop. Prints a "
            "table; --json writes the figures."
        ),
    )
    p.add_argument("--json", metavar="FILE", default=None,
                   help="write the figures as JSON (keys sim_decisions_per_s_batched, "
                        "sim_decisions_per_s_per_trader, train_steps_per_s, "
                        "env_steps_per_s_pettingzoo, env_overhead, ...)")
    p.add_argument("--quick", action="store_true", help="smaller workloads (less precise)")
    p.set_defaults(run=_run_bench)


def _run_bench(args: argparse.Namespace) -> int:
    import contextlib
    import json

    from .bench import run_all
    from .output import reserve_file

    with contextlib.ExitStack() as stack:
        target = None
        if args.json is not None:  # an earlier bench result may be replaced, nothing else
            target = stack.enter_context(reserve_file(args.json, _is_bench_result, "--json"))
        results = run_all(quick=args.quick)
        if target is not None:
            target.write_text(json.dumps(results, indent=2))
            print(f"wrote {args.json}")
    return 0


def _is_bench_result(content: bytes) -> bool:
    """Whether a file holds the figures of an earlier ``bench --json`` (it may be replaced)."""
    import json

    try:
        data = json.loads(content)
    except ValueError:
        return False
    return isinstance(data, dict) and "sim_decisions_per_s_batched" in data


# ---------------------------------------------------------------------------- main


#: errors of the operating system that a user meets by a limit of the machine, not by a bug:
#: reported in one line like any other error
_SYSTEM_LIMITS = {errno.ENOSPC, errno.EFBIG, errno.EMFILE, errno.ENFILE, errno.EDQUOT,
                  errno.ENAMETOOLONG, errno.ELOOP, errno.EROFS, errno.EACCES, errno.EPERM}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="abm-hetero", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from . import __version__

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
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return args.run(args)
    except AbmHeteroError as exc:
        print(f"abm-hetero: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the system refused a write: full disk, file size or file limits
        if exc.errno not in _SYSTEM_LIMITS:
            raise
        out = getattr(args, "out", None) or getattr(args, "json", None)
        where = f": {exc.filename}" if exc.filename else f" (writing {out})" if out else ""
        print(f"abm-hetero: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        left = getattr(args, "interrupted", "nothing was written")
        print(f"abm-hetero: interrupted; {left}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
