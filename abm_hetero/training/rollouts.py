"""Where training's episodes run: in the learner's process, on local worker processes, or on Ray.

The learner sends each worker the current policy's weights and the seeds of the episodes to
run; a worker runs each episode (``training.run_episode``) and sends back its transitions and
reward tally (:class:`EpisodeResult`). An episode's result depends only on the settings, the
weights and its seed, and the learner assembles the results in the episodes' order, so the
batch, and therefore the whole run, is the same on every backend and for every number of
workers. A worker that dies takes no episode half-counted with it: the learner rebuilds its
workers (local) or Ray retries the task, and the episode runs again from its seed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import AbmHeteroError
from ..experiments import price_returns
from ..learning.buffer import RolloutBuffer
from ..learning.network import ACT_DIM, OBS_DIM, ActorCritic, Architecture
from ..learning.policy import Policy
from ..parallel import BACKENDS, available_cpus, check_ray, spawn_pool, start_ray
from ..validation import MAX_WORKERS

#: why spawned workers die at once in a script, and the cure
MAIN_GUARD = ("a script that trains on local workers must start under "
              "if __name__ == '__main__':")

#: fields of a rollout buffer an episode sends back
TRANSITION_FIELDS = RolloutBuffer.FIELDS


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run a block with ``threads`` torch threads, then restore the count."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class EpisodeResult:
    """What one episode sends back to the learner."""

    reward_sum: float
    decisions: int
    #: the transitions (``TRANSITION_FIELDS``), ``next_index`` counted within the episode
    transitions: dict[str, np.ndarray] = field(default_factory=dict)
    #: market-price returns after the warm-up (when asked for)
    returns: np.ndarray | None = None

    @property
    def size(self) -> int:
        return len(self.transitions["reward"]) if self.transitions else 0


def concatenate(results: list[EpisodeResult]) -> dict[str, np.ndarray]:
    """The transitions of several episodes as one batch, in order, links shifted to match."""
    parts: dict[str, list[np.ndarray]] = {f: [] for f in TRANSITION_FIELDS}
    offset = 0
    for result in results:
        t = result.transitions
        for name in TRANSITION_FIELDS:
            value = t[name]
            if name == "next_index":
                value = np.where(value >= 0, value + offset, value)
            parts[name].append(value)
        offset += result.size
    return {name: np.concatenate(values) for name, values in parts.items()}


def policy_payload(policy: Policy) -> dict[str, Any]:
    """A policy as plain data a worker can rebuild it from (CPU weights as numpy arrays); its
    ``version`` is unique, so a worker rebuilds it once and never mistakes another for it."""
    return {"version": uuid.uuid4().hex, "architecture": policy.net.arch.to_dict(),
            "state": {k: v.detach().cpu().numpy() for k, v in policy.net.state_dict().items()},
            "bounds": policy.bounds, "masked_traits": policy.masked_traits}


def cpu_policy(policy: Policy) -> Policy:
    """The policy itself if it lives on the CPU, else a CPU copy to act with: markets run on
    the CPU, one small forward pass per tick, where a GPU would only add transfers."""
    if policy.device.type == "cpu":
        return policy
    net = ActorCritic(policy.net.arch)
    net.load_state_dict({k: v.detach().cpu() for k, v in policy.net.state_dict().items()})
    net.eval()
    return Policy(net, policy.bounds, name=policy.name, masked_traits=policy.masked_traits)


_WORKER_POLICY: dict[str, Any] = {"version": None, "policy": None}


def _rebuild(payload: dict[str, Any]) -> Policy:
    """The payload's policy, rebuilt once per version in each worker process."""
    if _WORKER_POLICY["version"] != payload["version"] or _WORKER_POLICY["policy"] is None:
        net = ActorCritic(Architecture.from_dict(payload["architecture"]))
        net.load_state_dict({k: torch.as_tensor(v) for k, v in payload["state"].items()})
        net.eval()
        _WORKER_POLICY.update(version=payload["version"], policy=Policy(
            net, payload["bounds"], masked_traits=payload["masked_traits"]))
    return _WORKER_POLICY["policy"]


def run_one(settings_data: Any, policy: Policy | dict, seed: int, record: bool,
            deterministic: bool, with_returns: bool) -> EpisodeResult:
    """Run one episode and pack what the learner needs (a task: top-level, picklable).

    ``record``: send back the transitions; ``deterministic``: actions without exploration
    noise; ``with_returns``: send back the market-price returns after the warm-up."""
    from .trainer import TrainingSettings, run_episode  # training imports this module

    torch.set_num_threads(1)
    settings = (settings_data if isinstance(settings_data, TrainingSettings)
                else TrainingSettings.from_dict(settings_data))
    if isinstance(policy, dict):
        policy = _rebuild(policy)
    buffer = RolloutBuffer(OBS_DIM, ACT_DIM) if record else None
    episode = run_episode(settings, policy, seed, buffer, deterministic=deterministic)
    result = EpisodeResult(episode.reward_sum, episode.decisions)
    if buffer is not None:
        n = buffer.size
        if len(buffer.complete()) != n:
            raise RuntimeError("an episode ended with open transitions")
        result.transitions = {name: getattr(buffer, name)[:n].copy()
                              for name in TRANSITION_FIELDS}
    if with_returns:
        result.returns = price_returns(episode.model, settings.warmup_ticks, kind="market")
    return result


def _ready(pause: float) -> int:
    """A task that loads what episodes need and holds its worker a moment, so that a batch
    of them starts every worker (see :meth:`EpisodeRunner.start`)."""
    import time

    from . import trainer  # noqa: F401

    time.sleep(pause)
    return os.getpid()


class EpisodeRunner:
    """Runs batches of episodes on a backend (see the module docstring).

    ``backend``: ``"sequential"`` (the learner's process), ``"local"`` (``workers`` worker
    processes, default all CPUs, kept for the whole training) or ``"ray"`` (a Ray cluster at
    ``address``, or a local Ray with ``workers`` CPUs).
    """

    def __init__(self, backend: str = "sequential", workers: int | None = None,
                 address: str | None = None, retries: int = 2) -> None:
        if backend not in BACKENDS:
            raise AbmHeteroError(f"unknown backend {backend!r}; choose one of "
                                 f"{', '.join(BACKENDS)}")
        if workers is not None and not 1 <= workers <= MAX_WORKERS:
            raise AbmHeteroError(f"workers must be 1-{MAX_WORKERS}, got {workers}")
        self.backend = backend
        self.workers = workers or available_cpus()
        self.address = address
        self.retries = retries
        self._pool: ProcessPoolExecutor | None = None
        self._ray_started = False
        self._started = backend == "sequential"
        if backend == "ray":
            check_ray(address)
        elif address:
            raise AbmHeteroError(f"an address names a Ray cluster; it needs the ray backend, "
                                 f"not {backend!r}")

    @property
    def cpus(self) -> int:
        """CPUs the episodes run on at once: 1 for sequential, else the workers."""
        return 1 if self.backend == "sequential" else self.workers

    # ------------------------------------------------------------------ local workers

    def _local_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = spawn_pool(self.workers)
        return self._pool

    def _discard_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self._started = False

    def _run_local(self, jobs: list[tuple]) -> list[EpisodeResult]:
        results: dict[int, EpisodeResult] = {}
        attempts = 0
        while len(results) < len(jobs):
            try:
                pool = self._local_pool()
                futures = {i: pool.submit(run_one, *job) for i, job in enumerate(jobs)
                           if i not in results}
                for i, future in futures.items():
                    results[i] = future.result()
            except BrokenProcessPool:
                # a worker died: new workers, and every episode not yet back runs again
                attempts += 1
                self._discard_pool()
                if attempts > self.retries:
                    raise AbmHeteroError(
                        f"the worker processes died {attempts} times in one batch of "
                        f"episodes (out of memory? killed?; {MAIN_GUARD})") from None
        return [results[i] for i in range(len(jobs))]

    # ------------------------------------------------------------------ ray

    def _run_ray(self, jobs: list[tuple]) -> list[EpisodeResult]:
        self._ray_started = start_ray(self.workers, self.address) or self._ray_started
        import ray

        remote = ray.remote(max_retries=self.retries)(run_one)
        payload = ray.put(jobs[0][1])
        refs = [remote.remote(job[0], payload, *job[2:]) for job in jobs]
        return ray.get(refs)

    # ------------------------------------------------------------------ the API

    def start(self) -> None:
        """Start the workers now (otherwise the first rollout does): a second or two per
        worker process to import torch; nothing if they are running."""
        if self._started:
            return
        if self.backend == "local":
            try:
                pool = self._local_pool()
                for future in [pool.submit(_ready, 0.2) for _ in range(self.workers)]:
                    future.result()
            except BrokenProcessPool:
                self._discard_pool()
                raise AbmHeteroError(
                    f"the worker processes died while starting ({MAIN_GUARD})") from None
        elif self.backend == "ray":
            self._ray_started = start_ray(self.workers, self.address) or self._ray_started
            import ray

            ray.get([ray.remote(_ready).remote(0.2) for _ in range(self.workers)])
        self._started = True

    def run(self, settings: Any, policy: Policy, seeds: list[int], record: bool = True,
            deterministic: bool = False, with_returns: bool = False) -> list[EpisodeResult]:
        """Run one episode of ``settings`` (a ``TrainingSettings``) per seed with ``policy``;
        the results in the seeds' order (see :func:`run_one` for the flags)."""
        if self.backend == "sequential":
            acting = cpu_policy(policy)
            return [run_one(settings, acting, seed, record, deterministic, with_returns)
                    for seed in seeds]
        payload = policy_payload(policy)
        data = settings.to_dict()
        jobs = [(data, payload, seed, record, deterministic, with_returns) for seed in seeds]
        if self.backend == "local":
            return self._run_local(jobs)
        return self._run_ray(jobs)

    def close(self) -> None:
        """Stop the workers (and a Ray started for the run)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._started = self.backend == "sequential"
        if self._ray_started:
            import ray

            ray.shutdown()
            self._ray_started = False
