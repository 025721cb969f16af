"""Training the shared policy: rollouts from whole episodes, PPO updates, evaluation, checkpoints.

An episode is a fresh market (new cash, holdings and traits for every trader, drawn from the
training distribution) run for ``episode_ticks`` ticks; decisions in the first ``warmup_ticks``
ticks, while the book fills, are not learned from. A rollout is ``episodes_per_rollout``
episodes; then PPO updates the policy. Every ``eval_interval`` steps, deterministic evaluation
episodes on fixed seeds report the mean reward and a quick stylized-facts summary. Progress
goes to ``metrics.csv``; ``checkpoint.pt`` (the whole training state) is written atomically
after every rollout and ``policy.pt`` (the latest policy) and ``best.pt`` (the best evaluation)
beside it, so a crash or Ctrl-C loses at most one rollout and ``resume`` continues from there.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..analysis.stylized_facts import AnalysisError, quick_summary
from ..errors import AbmHeteroError, SettingsError
from ..learning.buffer import compute_gae
from ..learning.checkpoint import (
    CheckpointError,
    load_checkpoint,
    policy_from_checkpoint,
    save_checkpoint,
)
from ..learning.policy import Policy, resolve_device
from ..learning.ppo import RunningStd, ppo_update
from ..output import Workspace
from ..validation import MAX_WORKERS
from .episodes import EpisodeResult
from .rollouts import EpisodeRunner, concatenate, torch_threads
from .settings import TrainingSettings, episode_seed
from .workers import available_cpus

__all__ = ["Trainer", "TrainingSettings", "episode_seed", "evaluate"]


def evaluate(settings: TrainingSettings, policy: Policy, episodes: int, seed: int,
             deterministic: bool = True, runner: EpisodeRunner | None = None
             ) -> dict[str, float]:
    """Mean reward per decision over evaluation episodes on fixed seeds, and quick facts of
    the episodes' market-price returns after the warm-up (episodes run on ``runner``, by
    default in this process)."""
    seeds = [episode_seed(seed, k) for k in range(episodes)]
    results = (runner or EpisodeRunner()).run(settings, policy, seeds, record=False,
                                              deterministic=deterministic, with_returns=True)
    rewards = sum(r.reward_sum for r in results)
    counts = sum(r.decisions for r in results)
    out = {"eval_reward": rewards / counts if counts else math.nan}
    try:
        out.update({f"eval_{k}": v for k, v in
                    quick_summary(np.concatenate([r.returns for r in results])).items()})
    except (AnalysisError, ValueError):  # markets without trades have no returns
        out.update({f"eval_{k}": math.nan for k in ("kurtosis", "hill_5pct", "acf_abs_1",
                                                      "acf_abs_10")})
    return out


METRIC_COLUMNS = (
    "steps", "rollouts", "episodes", "seconds", "steps_per_s", "train_reward", "learning_rate",
    "policy_loss", "value_loss", "entropy", "approx_kl", "clip_frac", "eval_reward",
    "eval_kurtosis", "eval_hill_5pct", "eval_acf_abs_1", "eval_acf_abs_10",
)


#: the default number of update threads is the CPUs available, at most this many: the update
#: of networks this small is split into few large pieces, and more threads than that only
#: compete with the workers for the machine
DEFAULT_UPDATE_THREADS_CAP = 4


def default_update_threads() -> int:
    """Torch threads of the learner's update unless a run says otherwise."""
    return min(available_cpus(), DEFAULT_UPDATE_THREADS_CAP)


class Trainer:
    """Shared-policy PPO on a market of learning traders (see the module docstring).

    Episodes run on ``backend``: ``"sequential"`` (this process), ``"local"`` (``workers``
    processes) or ``"ray"`` (a cluster at ``address``, or a local Ray of ``workers`` CPUs); the
    run is the same on every backend (``training/rollouts.py``). The learner updates on
    ``settings.device``, with ``update_threads`` torch threads (default: the CPUs this process
    may use, at most :data:`DEFAULT_UPDATE_THREADS_CAP`); the workers simulate while the learner
    waits, and the learner's threads update while the workers wait. The thread count is the
    same whatever the backend and the number of workers, because a float reduction split over
    another number of threads rounds differently: with it fixed, every backend and worker count
    trains the same policy on one machine. A resumed run keeps the count it started with.
    """

    def __init__(self, settings: TrainingSettings, out: str | Path, resume: bool = False,
                 progress: bool = True, backend: str = "sequential", workers: int | None = None,
                 address: str | None = None, update_threads: int | None = None) -> None:
        self.runner = EpisodeRunner(backend, workers, address)
        if update_threads is not None and not 1 <= update_threads <= MAX_WORKERS:
            raise AbmHeteroError(f"update threads must be 1-{MAX_WORKERS}, got {update_threads}")
        self.update_threads = update_threads or default_update_threads()
        self.out = Path(out)
        self.progress = progress
        self.device = resolve_device(settings.device)
        torch.set_num_threads(1)
        checkpoint = self.out / "checkpoint.pt"
        # the folder rule (output.py): a new run starts in a missing or empty folder (or one of
        # its own that holds no checkpoint yet); --resume continues only a folder marked as a
        # training run. The folder stays locked until close().
        self._folder: Workspace | None = Workspace(out, "training", existing=resume)
        try:  # the lock is given up and the workers stopped if anything below fails
            self._open(settings, resume, update_threads, checkpoint)
        except OSError as exc:
            self.close()
            raise AbmHeteroError(f"cannot use {self.out}: {exc.strerror or exc}") from None
        except BaseException:
            self.close()
            raise

    def _open(self, settings: TrainingSettings, resume: bool, update_threads: int | None,
              checkpoint: Path) -> None:
        """Read or start the run in the locked folder: settings, policy, optimiser, counters."""
        self._temp_tag = f"tmp-{self._folder.token}-"
        if resume:
            data = load_checkpoint(checkpoint, check_features=False)  # the settings' below
            if "training_settings" not in data:
                raise CheckpointError(f"{checkpoint} holds a policy only, not a training state")
            try:
                settings = TrainingSettings.from_dict(data["training_settings"],
                                                      "saved settings")
            except SettingsError as exc:
                raise CheckpointError(f"{checkpoint}: training_settings: {exc}") from None
        elif checkpoint.exists():
            raise AbmHeteroError(
                f"{self.out} already holds a training run; use --resume to continue it or "
                "choose another --out"
            )
        self.settings = settings
        self._clean_temporary()
        if resume:
            self.policy = policy_from_checkpoint(data, checkpoint, settings.architecture,
                                                 settings.device, settings.features)
        else:
            self.policy = Policy.fresh(settings.traits, settings.architecture, settings.seed,
                                       settings.device, masked_traits=settings.mask_traits,
                                       features=settings.features)
        self.policy.name = f"trained-{settings.seed}"
        # foreach: Adam's update of all parameters in a few multi-tensor kernels instead of
        # a loop of small ones per parameter (torch's default on the CPU); same update
        self.optimizer = torch.optim.Adam(self.policy.net.parameters(),
                                          lr=settings.ppo.learning_rate,
                                          eps=settings.ppo.adam_eps, foreach=True)
        self.reward_scale = RunningStd()
        self.rng = np.random.default_rng(settings.seed)
        self.steps = self.rollouts = self.episodes = 0
        self.best_eval = -math.inf
        self.next_eval = settings.eval_interval
        self.seconds = 0.0
        if resume:
            self.optimizer.load_state_dict(data["optimizer_state"])
            for group in self.optimizer.param_groups:  # a checkpoint of an earlier version
                group["foreach"] = True
            self.reward_scale.load_state_dict(data["reward_normaliser"])
            self.rng.bit_generator.state = data["rng_state"]
            c = data["counters"]
            self.steps, self.rollouts, self.episodes = c["steps"], c["rollouts"], c["episodes"]
            self.best_eval, self.next_eval = c["best_eval"], c["next_eval"]
            self.seconds = c["seconds"]
            self.update_threads = update_threads or c.get("update_threads",
                                                          self.update_threads)
        self._reconcile_metrics()
        (self.out / "training_settings.json").write_text(
            json.dumps(settings.to_dict(), indent=2) + "\n")

    # ----------------------------------------------------------------- state

    def _save(self) -> None:
        c = {"steps": self.steps, "rollouts": self.rollouts, "episodes": self.episodes,
             "best_eval": self.best_eval, "next_eval": self.next_eval, "seconds": self.seconds,
             "update_threads": self.update_threads}
        save_checkpoint(
            self.out / "checkpoint.pt", self.policy,
            optimizer_state=self.optimizer.state_dict(),
            reward_normaliser=self.reward_scale.state_dict(),
            rng_state=self.rng.bit_generator.state,
            torch_rng_state=torch.get_rng_state(),
            training_settings=self.settings.to_dict(),
            counters=c, temp_tag=self._temp_tag,
        )
        save_checkpoint(self.out / "policy.pt", self.policy, counters=c,
                        temp_tag=self._temp_tag)

    def _clean_temporary(self) -> None:
        """Remove the half-written files that an interrupted run of this folder left: only
        names that carry the folder's token (a user's own hidden files are never touched)."""
        assert self._folder is not None
        self._folder.clean()

    def _reconcile_metrics(self) -> None:
        """Make ``metrics.csv`` agree with the checkpoint: a row is appended before the
        checkpoint that covers it is written, so after a kill in between (or in the middle of
        a row) the rows beyond the checkpoint's step count are dropped."""
        path = self.out / "metrics.csv"
        if not path.exists():
            return
        kept = []
        with path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                try:
                    complete = all(row.get(k) is not None for k in METRIC_COLUMNS)
                    if complete and int(row["steps"]) <= self.steps:
                        kept.append(row)
                except (TypeError, ValueError):
                    continue  # a row cut short by the kill
        tmp = path.with_name(f".{path.name}.{self._temp_tag}")
        with tmp.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=METRIC_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(kept)
        os.replace(tmp, path)

    def _append_metrics(self, row: dict[str, float]) -> None:
        path = self.out / "metrics.csv"
        new = not path.exists()
        with path.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=METRIC_COLUMNS, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow({k: row.get(k, "") for k in METRIC_COLUMNS})

    def close(self) -> None:
        """Stop the workers that run the episodes and give up the folder's lock (a later
        :meth:`train` starts new workers and takes the lock again)."""
        self.runner.close()
        if self._folder is not None:
            self._folder, folder = None, self._folder
            folder.close()

    # ----------------------------------------------------------------- the loop

    def train(self, close_workers: bool = True) -> Path:
        """Train until ``total_steps``; returns the path of the final policy. The workers
        stop at the end unless ``close_workers`` is False (then :meth:`close` stops them).

        Each iteration runs CleanRL's phases in order: collect a rollout, compute its
        advantages, update the policy, then log (evaluation, metrics and checkpoints)."""
        s = self.settings
        if self._folder is None:  # closed after an earlier train(): lock the folder again
            self._folder = Workspace(self.out, "training", existing=True)
        bar = None
        if self.progress:
            bar = tqdm(total=s.total_steps, initial=min(self.steps, s.total_steps),
                       unit="step", desc="training", mininterval=1.0)
        try:
            self.runner.start()
            while self.steps < s.total_steps:
                start = time.perf_counter()
                results = self.collect()
                batch = self.advantages(results)
                lr = self.anneal_learning_rate()
                stats = self.update(batch)
                self.log(len(batch["obs"]), time.perf_counter() - start, lr, stats, bar)
        finally:
            if close_workers:
                self.close()
            if bar is not None:
                bar.close()
        return self.out / "policy.pt"

    def collect(self) -> list[EpisodeResult]:
        """Phase 1: run the rollout's whole episodes (on the runner's workers), each with the
        current policy and its own seed; the results in the episodes' order."""
        s = self.settings
        seeds = [episode_seed(s.seed, self.episodes + k) for k in range(s.episodes_per_rollout)]
        results = self.runner.run(s, self.policy, seeds, record=True)
        self.episodes += len(results)
        self.last_train_reward = (sum(r.reward_sum for r in results)
                                  / max(sum(r.decisions for r in results), 1))
        return results

    def advantages(self, results: list[EpisodeResult]) -> dict[str, np.ndarray]:
        """Phase 2: the episodes' transitions as one batch, rewards scaled by their running
        standard deviation (and clipped), advantages and returns by GAE with each trader's
        own discount."""
        ppo = self.settings.ppo
        batch = concatenate(results)
        reward = batch["reward"].astype(np.float64)
        if ppo.normalize_rewards:
            self.reward_scale.update(reward)
            reward = np.clip(reward / (self.reward_scale.std + 1e-8), -ppo.reward_clip,
                             ppo.reward_clip)
        adv, returns = compute_gae(reward, batch["value"].astype(np.float64),
                                   batch["gamma"].astype(np.float64), batch["done"],
                                   batch["next_index"], ppo.gae_lambda)
        return {"obs": batch["obs"], "raw": batch["raw"], "logp": batch["logp"],
                "advantages": adv, "returns": returns}

    def anneal_learning_rate(self) -> float:
        """The learning rate of this update: annealed linearly to 0 over the run (CleanRL's
        ``frac``) when ``ppo.anneal_lr``; set on the optimiser."""
        ppo = self.settings.ppo
        frac = 1.0 - self.steps / self.settings.total_steps
        lr = ppo.learning_rate * (frac if ppo.anneal_lr else 1.0)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def update(self, batch: dict[str, np.ndarray]) -> dict[str, float]:
        """Phase 3: PPO's epochs of minibatch updates on the learner's device, with the run's
        number of torch threads; returns the losses and diagnostics."""
        self.policy.net.train()
        with torch_threads(self.update_threads):
            stats = ppo_update(self.policy.net, self.optimizer, batch, self.settings.ppo,
                               self.rng, self.device)
        self.policy.net.eval()
        return stats

    def log(self, n: int, elapsed: float, lr: float, stats: dict[str, float], bar) -> None:
        """Phase 4: count the rollout's ``n`` steps, evaluate when due (``best.pt`` on a new
        best), append a row to ``metrics.csv``, then write the checkpoint that covers it."""
        s = self.settings
        self.steps += n
        self.rollouts += 1
        self.seconds += elapsed
        row = {"steps": self.steps, "rollouts": self.rollouts,
               "episodes": self.episodes, "seconds": round(self.seconds, 2),
               "steps_per_s": n / elapsed, "train_reward": self.last_train_reward,
               "learning_rate": lr, **stats}
        if self.steps >= self.next_eval or self.steps >= s.total_steps:
            ev = evaluate(s, self.policy, s.eval_episodes, s.eval_seed, runner=self.runner)
            row.update(ev)
            self.next_eval = (self.steps // s.eval_interval + 1) * s.eval_interval
            if ev["eval_reward"] > self.best_eval:
                self.best_eval = ev["eval_reward"]
                self._check_folder()
                save_checkpoint(self.out / "best.pt", self.policy,
                                eval_reward=self.best_eval, temp_tag=self._temp_tag)
            if bar is not None:
                bar.set_postfix(eval_reward=f"{ev['eval_reward']:.4f}")
        self._check_folder()
        self._append_metrics(row)
        self._save()
        if bar is not None:
            bar.update(n)

    def _check_folder(self) -> None:
        """Before writing: the folder is still the one this run opened (never write on into
        a folder that replaced it meanwhile)."""
        assert self._folder is not None
        self._folder.verify()
