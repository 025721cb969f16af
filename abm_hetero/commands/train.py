"""``abm-hetero train``: train the shared policy of the learning traders (PPO)."""

from __future__ import annotations

import argparse
import sys

from ..errors import AbmHeteroError
from ..training import Trainer, TrainingSettings
from .common import backend_options, with_overrides


def run(args: argparse.Namespace) -> int:
    backend = backend_options(args)
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
        settings = with_overrides(
            args.settings, {"traits": args.traits, "total_steps": args.steps,
                            "seed": args.seed, "device": args.device,
                            "mask_traits": args.mask_traits or None},
            TrainingSettings.from_dict)
        name = (args.traits or "custom") + ("-masked" if settings.mask_traits else "")
        out = args.out if args.out is not None else f"runs/train-{name}-seed{settings.seed}"
        trainer = Trainer(settings, out, progress=not args.quiet,
                          update_threads=args.update_threads, **backend)
    per_rollout = trainer.settings.episodes_per_rollout
    unfilled = () if args.resume else trainer.settings.unfilled_windows  # resumed: fixed
    if unfilled:
        one = len(unfilled) == 1
        print(f"abm-hetero: note: {', '.join(unfilled)} {'looks' if one else 'look'} back "
              f"further than an episode ({trainer.settings.episode_ticks} ticks), so "
              f"{'its window never fills' if one else 'their windows never fill'} in "
              f"training; in a longer market {'it takes' if one else 'they take'} values the "
              "policy never saw (raise episode_ticks, or choose shorter windows)",
              file=sys.stderr)
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
