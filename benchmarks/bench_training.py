"""Training speed with the episodes in one process, on 1 and 2 local workers, and on Ray;
the rates of its two phases, and what they project for a cluster.

    python benchmarks/bench_training.py [--rounds 3] [--steps 100000] [--no-ray] [--lockstep]
                                        [--json FILE]

Each round trains the default settings (200 learning traders) for ``--steps`` steps on every
backend one after the other, so the machine's load falls on all alike; the workers start
before the clock does. Prints each backend's range over the rounds, and the range of the
speed-up of 2 local workers over 1 within a round.

With ``--lockstep``, the speed of one process for each number of markets a worker steps in
lockstep (``markets_per_worker`` 1, 2, 4 and 8, with rollouts of 8 episodes so that every one
of them fills its groups), interleaved round by round: median and range.

Then the two phases alone: one worker's episode rate (transitions per second of simulation,
recording included) and the learner's update rate (transitions per second of PPO update, with
1 and 2 threads). A rollout on ``N`` workers of ``E`` episodes of ``b`` transitions takes about
``ceil(E / N) * b / worker_rate + E * b / update_rate``, which projects the steps per second of
a cluster with a CPU learner, and the time of the paper's budget of 60 million steps.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import tempfile
import time

import numpy as np
import torch

from abm_hetero.bench import training_scaling
from abm_hetero.learning.ppo import ppo_update
from abm_hetero.training import Trainer, TrainingSettings
from abm_hetero.training.rollouts import torch_threads

PAPER_BUDGET = 60_000_000


def phase_rates(rounds: int) -> dict[str, float]:
    """Best-of-``rounds`` rates of one worker's episodes and of the learner's update."""
    settings = TrainingSettings(total_steps=10**9)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(settings, tmp, progress=False)
        simulate, update = 0.0, {1: 0.0, 2: 0.0}
        for _ in range(rounds):
            start = time.perf_counter()
            batch = trainer.advantages(trainer.collect())
            n = len(batch["obs"])
            simulate = max(simulate, n / (time.perf_counter() - start))
            for threads in update:
                net = copy.deepcopy(trainer.policy.net)
                optimizer = torch.optim.Adam(net.parameters(), lr=3e-4, eps=1e-5)
                with torch_threads(threads):
                    start = time.perf_counter()
                    ppo_update(net, optimizer, batch, settings.ppo, np.random.default_rng(0),
                               torch.device("cpu"))
                    update[threads] = max(update[threads], n / (time.perf_counter() - start))
    return {"worker_steps_per_s": simulate, "update_steps_per_s_threads_1": update[1],
            "update_steps_per_s_threads_2": update[2],
            "transitions_per_episode": n / settings.episodes_per_rollout}


LOCKSTEP_SIZES = (1, 2, 4, 8)


def lockstep_rates(rounds: int, steps: int) -> dict[int, list[float]]:
    """Training steps per second in one process for each of :data:`LOCKSTEP_SIZES` markets
    per worker (8 episodes per rollout, PPO updates included, evaluation and checkpoints left
    out), round by round."""
    rates: dict[int, list[float]] = {k: [] for k in LOCKSTEP_SIZES}
    for _ in range(rounds):
        for k in LOCKSTEP_SIZES:
            settings = TrainingSettings.from_dict({
                "total_steps": steps, "episodes_per_rollout": 8, "markets_per_worker": k,
                "eval_interval": 10**12})
            with tempfile.TemporaryDirectory() as tmp:
                trainer = Trainer(settings, tmp, progress=False)
                start = time.perf_counter()
                while trainer.steps < steps:  # the loop of Trainer.train, evaluation left out
                    batch = trainer.advantages(trainer.collect())
                    trainer.anneal_learning_rate()
                    trainer.update(batch)
                    trainer.steps += len(batch["obs"])
                rates[k].append(trainer.steps / (time.perf_counter() - start))
                trainer.close()
    return rates


def projected_steps_per_s(workers: int, rates: dict[str, float], update_key: str) -> float:
    """Steps per second of ``workers`` workers, one episode each per rollout."""
    episodes = max(2, workers)
    b = rates["transitions_per_episode"]
    seconds = (math.ceil(episodes / workers) * b / rates["worker_steps_per_s"]
               + episodes * b / rates[update_key])
    return episodes * b / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--no-ray", action="store_true", help="leave out the Ray backend")
    parser.add_argument("--lockstep", action="store_true",
                        help="measure markets_per_worker 1, 2, 4 and 8 in one process")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    if args.lockstep:
        lockstep = lockstep_rates(args.rounds, args.steps)
        print(f"one process, 8 episodes per rollout, {args.steps:,} steps, {args.rounds} rounds:")
        for k, values in lockstep.items():
            print(f"  markets_per_worker={k}: median {np.median(values):,.0f} steps/s "
                  f"(range {min(values):,.0f} - {max(values):,.0f})")
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({"lockstep": lockstep}, fh, indent=2)
        return
    rounds = []
    for k in range(args.rounds):
        print(f"round {k + 1} of {args.rounds}")
        rounds.append(training_scaling(args.steps, ray=not args.no_ray,
                                       progress=lambda m: print("  " + m)))
    print(f"over {args.rounds} rounds of {args.steps:,} steps:")
    for key in rounds[0]:
        values = sorted(r[key] for r in rounds if key in r)
        unit = "x" if "speedup" in key else " steps/s"
        print(f"  {key:30s} {values[0]:>10,.2f} - {values[-1]:,.2f}{unit}")
    rates = phase_rates(args.rounds)
    print(f"one worker's episodes: {rates['worker_steps_per_s']:,.0f} transitions/s; the "
          f"learner's update: {rates['update_steps_per_s_threads_1']:,.0f} transitions/s on 1 "
          f"thread, {rates['update_steps_per_s_threads_2']:,.0f} on 2")
    print("projection, CPU learner on 2 threads, one episode per worker per rollout:")
    projection = {}
    for workers in (1, 2, 4, 8, 16, 64):
        rate = projected_steps_per_s(workers, rates, "update_steps_per_s_threads_2")
        projection[workers] = rate
        print(f"  {workers:>3} workers: {rate:>8,.0f} steps/s, the paper's 60M steps in "
              f"{PAPER_BUDGET / rate / 60:,.0f} min")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rounds": rounds, "phases": rates, "projection": projection}, fh,
                      indent=2)


if __name__ == "__main__":
    main()
