"""``abm-hetero calibrate``: calibrate trait distributions to a real series by optimal
transport."""

from __future__ import annotations

import argparse

from ..analysis.calibrate import (
    CalibrationSettings,
    calibrate,
    scenario_distances,
    write_results,
)
from ..analysis.data import load_reference
from ..config_io import build_dataclass
from ..learning.pretrained import pretrained_path
from ..output import Workspace
from ..training.workers import backend_session
from .common import backend_options, with_overrides


def run(args: argparse.Namespace) -> int:
    settings = with_overrides(
        args.settings, {"target": args.target, "search": args.search, "ticks": args.ticks,
                        "traders": args.traders, "policy": args.policy,
                        "seeds": list(range(args.seeds)) if args.seeds else None},
        lambda data: build_dataclass(CalibrationSettings, data, "calibration"))
    load_reference(settings.target)  # a bad file fails before any simulation
    if not settings.policy.endswith(".pt"):
        pretrained_path(settings.policy)
    say = (lambda _: None) if args.quiet else (lambda m: print(m, flush=True))
    backend = backend_options(args)
    args.interrupted = (f"the simulations that finished are saved in {args.out}/tasks and "
                        f"the scored candidates in {args.out}/candidates.csv; the same command "
                        "resumes from them")
    # the folder rule and the lock hold for the whole command (calibrate takes them again)
    with Workspace(args.out, "calibration") as folder, backend_session(**backend):
        cal = calibrate(settings, args.out, progress=say, **backend)
        scen = None if args.no_scenarios else scenario_distances(settings, args.out,
                                                                 folder=folder, **backend)
        write_results(cal, args.out, scen, folder=folder, **backend)
    best = ", ".join(f"{k} {v:.4g}" for k, v in cal.best.items())
    print(f"best of {len(cal.table)} candidates: {best}")
    print(f"results: {args.out}/ranked.csv, best.json, best_facts.csv, landscape.png")
    return 0
