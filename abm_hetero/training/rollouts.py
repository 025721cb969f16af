"""A rollout: a batch of training episodes run with the current policy on the worker engine.

The learner cuts the rollout's episodes, in order, into groups of ``markets_per_worker``
(the last one may be smaller) and sends each group to a worker with the current policy's
weights; a worker runs the group's markets in lockstep with one policy call per tick for all
of them (:func:`run_episodes`, ``lockstep.py``; a group of one runs on ``episodes.run_market``)
and sends back each episode's transitions and reward tally (``episodes.EpisodeResult``). A
group's results depend only on the settings, the weights and its seeds, the groups are cut
the same way on every backend, and the learner assembles the results in the episodes' order,
so the batch, and therefore the whole run, is the same on every backend and for every number
of workers. A worker that dies takes no episode half-counted with it: the engine rebuilds its
workers (local) or Ray retries the task, and the group runs again from its seeds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from ..learning.buffer import RolloutBuffer
from ..learning.network import ActorCritic, Architecture
from ..learning.policy import Policy
from .engine import Engine
from .episodes import EpisodeResult, price_returns, run_market
from .lockstep import run_markets
from .settings import TrainingSettings

#: what every worker imports before its first episode
PRELOAD = __name__

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
            "bounds": policy.bounds, "masked_traits": policy.masked_traits,
            "features": list(policy.features)}


def cpu_policy(policy: Policy) -> Policy:
    """The policy itself if it lives on the CPU, else a CPU copy to act with: markets run on
    the CPU, one small forward pass per tick, where a GPU would only add transfers."""
    if policy.device.type == "cpu":
        return policy
    net = ActorCritic(policy.net.arch)
    net.load_state_dict({k: v.detach().cpu() for k, v in policy.net.state_dict().items()})
    net.eval()
    return Policy(net, policy.bounds, name=policy.name, masked_traits=policy.masked_traits,
                  features=policy.features)


_WORKER_POLICY: dict[str, Any] = {"version": None, "policy": None}


def _rebuild(payload: dict[str, Any]) -> Policy:
    """The payload's policy, rebuilt once per version in each worker process (into the
    previous version's network when the architecture is the same: a new network would first
    draw initial weights that the payload's replace at once)."""
    if _WORKER_POLICY["version"] != payload["version"] or _WORKER_POLICY["policy"] is None:
        arch = Architecture.from_dict(payload["architecture"])
        previous = _WORKER_POLICY["policy"]
        net = previous.net if previous is not None and previous.net.arch == arch else \
            ActorCritic(arch)
        net.load_state_dict({k: torch.as_tensor(v) for k, v in payload["state"].items()})
        net.eval()
        _WORKER_POLICY.update(version=payload["version"], policy=Policy(
            net, payload["bounds"], masked_traits=payload["masked_traits"],
            features=payload["features"]))
    return _WORKER_POLICY["policy"]


_WORKER_SETTINGS: dict[str, Any] = {"key": None, "settings": None}


def _settings(data: dict[str, Any]) -> TrainingSettings:
    """The settings of a task, parsed once per worker process while they stay the same (a
    training sends the same settings with every task; parsing them takes milliseconds)."""
    key = repr(data)
    if _WORKER_SETTINGS["key"] != key:
        _WORKER_SETTINGS.update(key=key, settings=TrainingSettings.from_dict(data))
    return _WORKER_SETTINGS["settings"]


def run_episodes(settings_data: Any, policy: Policy | dict, seeds: Sequence[int], record: bool,
                 deterministic: bool, with_returns: bool) -> list[EpisodeResult]:
    """Run one episode per seed, the markets in lockstep, and pack what the learner needs (a
    task: top-level, picklable); the results in the seeds' order.

    ``record``: send back the transitions; ``deterministic``: actions without exploration
    noise; ``with_returns``: send back the market-price returns after the warm-up."""
    torch.set_num_threads(1)
    settings = (settings_data if isinstance(settings_data, TrainingSettings)
                else _settings(settings_data))
    if isinstance(policy, dict):
        policy = _rebuild(policy)
    arch = policy.net.arch
    markets = [settings.episode_settings(seed, deterministic=deterministic) for seed in seeds]
    buffers = [RolloutBuffer(arch.obs_dim, arch.act_dim) if record else None for _ in seeds]
    if len(markets) == 1:
        models = [run_market(markets[0], policy=policy, recorder=buffers[0],
                             warmup_ticks=settings.warmup_ticks)]
    else:
        models = run_markets(markets, policy, buffers, settings.warmup_ticks)
    results = []
    for model, buffer in zip(models, buffers):
        result = EpisodeResult.of(model)
        if buffer is not None:
            n = buffer.size
            if len(buffer.complete()) != n:
                raise RuntimeError("an episode ended with open transitions")
            result.transitions = {name: getattr(buffer, name)[:n].copy()
                                  for name in TRANSITION_FIELDS}
        if with_returns:
            result.returns = price_returns(model, settings.warmup_ticks, kind="market")
        results.append(result)
    return results


def run_one(settings_data: Any, policy: Policy | dict, seed: int, record: bool,
            deterministic: bool, with_returns: bool) -> EpisodeResult:
    """Run one episode alone (:func:`run_episodes` of one seed)."""
    return run_episodes(settings_data, policy, [seed], record, deterministic, with_returns)[0]


def episode_groups(seeds: Sequence[int], size: int) -> list[list[int]]:
    """The seeds cut, in order, into groups of ``size`` run in lockstep (the last may be
    smaller): the same groups on every backend and for every number of workers."""
    seeds = list(seeds)
    return [seeds[i:i + size] for i in range(0, len(seeds), size)]


class EpisodeRunner:
    """Runs batches of episodes on the worker engine (see the module docstring).

    ``backend``: ``"sequential"`` (the learner's process), ``"local"`` (``workers`` worker
    processes, default all CPUs, kept for the whole training) or ``"ray"`` (a Ray cluster at
    ``address``, or a local Ray with ``workers`` CPUs).
    """

    def __init__(self, backend: str = "sequential", workers: int | None = None,
                 address: str | None = None, retries: int = 2) -> None:
        self.engine = Engine(backend, workers, address, retries, what="episodes")

    @property
    def backend(self) -> str:
        return self.engine.backend

    @property
    def cpus(self) -> int:
        """CPUs the episodes run on at once: 1 for sequential, else the workers."""
        return self.engine.cpus

    def start(self) -> None:
        """Start the workers now (otherwise the first rollout does): a second or two per
        worker process to import torch; nothing if they are running."""
        self.engine.start(preload=(PRELOAD,))

    def run(self, settings: Any, policy: Policy, seeds: list[int], record: bool = True,
            deterministic: bool = False, with_returns: bool = False) -> list[EpisodeResult]:
        """Run one episode of ``settings`` (a ``TrainingSettings``) per seed with ``policy``,
        ``settings.markets_per_worker`` markets in lockstep per task; the results in the seeds'
        order (see :func:`run_episodes` for the flags)."""
        groups = episode_groups(seeds, settings.markets_per_worker)
        if self.backend == "sequential":
            acting = cpu_policy(policy)
            jobs = [(settings, acting, group, record, deterministic, with_returns)
                    for group in groups]
        else:
            payload, data = policy_payload(policy), settings.to_dict()
            jobs = [(data, payload, group, record, deterministic, with_returns)
                    for group in groups]
        return [result for results in self.engine.map(run_episodes, jobs, shared=(1,))
                for result in results]

    def close(self) -> None:
        """Stop the workers (and a Ray started for the run)."""
        self.engine.close()
