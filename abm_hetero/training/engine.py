"""The worker engine: independent tasks run in this process, on local worker processes or on Ray.

One engine serves training's episodes and calibration's simulations alike. A task is a
top-level (picklable) function and its arguments. :meth:`Engine.map` returns the results in the
order the tasks were submitted, whatever order they finished in, so that what a job computes
does not depend on the backend or the number of workers; ``on_result`` streams each result as
it arrives, for progress and for writing results out early.

Local workers are started once and kept until :meth:`Engine.close` (a training sends rollout
after rollout to the same workers); they exit when the process that started them dies
(``workers.py``). A worker that dies takes no task half-done with it: the engine starts new
workers (local) or Ray retries the task, and every task not yet back runs again from its
arguments, up to ``retries`` times before :class:`TaskError`. A task that raises is tried again
only with ``retry_errors`` (calibration's simulations, where the cause may be the machine); else
its error propagates at once (training's episodes, where an error is a bug to see). With a
:class:`~.cache.ResultCache` every finished result is saved at once and a later job with the
same folder reuses it instead of computing it again.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from ..errors import AbmHeteroError
from ..validation import MAX_WORKERS
from .cache import MISSING, ResultCache
from .workers import available_cpus, check_ray, import_ray, spawn_pool, start_ray

BACKENDS = ("sequential", "local", "ray")


class TaskError(AbmHeteroError):
    """A task failed on every try, or its workers kept dying."""


def main_guard(what: str) -> str:
    """Why spawned workers die at once in a script, and the cure."""
    return (f"a script that runs {what} on local workers must start under "
            "if __name__ == '__main__':")


def _ready(pause: float, modules: tuple[str, ...]) -> int:
    """A task that imports what the coming tasks need and holds its worker a moment, so that
    a batch of them starts every worker (see :meth:`Engine.start`)."""
    for name in modules:
        importlib.import_module(name)
    time.sleep(pause)
    return os.getpid()


class Engine:
    """Runs batches of tasks on a backend (see the module docstring).

    ``backend``: ``"sequential"`` (this process), ``"local"`` (``workers`` worker processes,
    default all CPUs) or ``"ray"`` (a Ray cluster at ``address``, or a local Ray with
    ``workers`` CPUs). ``what`` names the tasks in error messages. Use it as a context
    manager, or call :meth:`close`, to stop the workers.
    """

    def __init__(self, backend: str = "sequential", workers: int | None = None,
                 address: str | None = None, retries: int = 2, retry_errors: bool = False,
                 what: str = "tasks") -> None:
        if backend not in BACKENDS:
            raise AbmHeteroError(f"unknown backend {backend!r}; choose one of "
                                 f"{', '.join(BACKENDS)}")
        if workers is not None and not 1 <= workers <= MAX_WORKERS:
            raise AbmHeteroError(f"workers must be 1-{MAX_WORKERS}, got {workers}")
        self.backend = backend
        self.workers = workers or available_cpus()
        self.address = address
        self.retries = retries
        self.retry_errors = retry_errors
        self.what = what
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
        """CPUs the tasks run on at once: 1 for sequential, else the workers."""
        return 1 if self.backend == "sequential" else self.workers

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the API

    def start(self, preload: tuple[str, ...] = ()) -> None:
        """Start the workers now (otherwise the first batch does), each importing the modules
        ``preload`` names (a second or two per process for torch); nothing if they run."""
        if self._started:
            return
        if self.backend == "local":
            try:
                pool = self._local_pool()
                for future in [pool.submit(_ready, 0.2, preload) for _ in range(self.workers)]:
                    future.result()
            except BrokenProcessPool:
                self._discard_pool()
                raise AbmHeteroError(f"the worker processes died while starting "
                                     f"({main_guard(self.what)})") from None
        elif self.backend == "ray":
            ray = self._ray()
            ray.get([ray.remote(_ready).remote(0.2, preload) for _ in range(self.workers)])
        self._started = True

    def map(self, fn: Callable[..., Any], jobs: Sequence[tuple], *,
            keys: Sequence[Hashable] | None = None,
            on_result: Callable[[Hashable, Any], None] | None = None,
            cache: ResultCache | None = None, shared: tuple[int, ...] = ()) -> list[Any]:
        """``fn(*args)`` for every ``args`` of ``jobs``, the results in the jobs' order.

        ``keys`` name the jobs (in errors, to ``on_result`` and in the cache; default: their
        positions); ``cache`` reuses and keeps results; ``shared``: positions of arguments that
        are the same for every job (on Ray they are sent to the cluster once)."""
        jobs = list(jobs)
        names = list(keys) if keys is not None else list(range(len(jobs)))
        results: dict[int, Any] = {}
        prints: dict[int, str] = {}
        if cache is not None:
            prints = {i: cache.fingerprint(fn, args) for i, args in enumerate(jobs)}
            cache.open()
            for i in range(len(jobs)):
                value = cache.load(names[i], prints[i])
                if value is MISSING:
                    continue
                results[i] = value
                if on_result is not None:
                    on_result(names[i], value)

        def done(i: int, value: Any) -> None:
            results[i] = value
            if cache is not None:
                cache.save(names[i], prints[i], value)
            if on_result is not None:
                on_result(names[i], value)

        todo = [i for i in range(len(jobs)) if i not in results]
        if todo:
            run = {"sequential": self._run_sequential, "local": self._run_local,
                   "ray": self._run_ray}[self.backend]
            run(fn, jobs, names, todo, done, shared)
        return [results[i] for i in range(len(jobs))]

    def close(self) -> None:
        """Stop the workers (and a Ray started for the engine); a later batch starts new ones."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._started = self.backend == "sequential"
        if self._ray_started:
            import_ray().shutdown()
            self._ray_started = False

    # ------------------------------------------------------------------ this process

    def _run_sequential(self, fn, jobs, names, todo, done, shared) -> None:
        for i in todo:
            if not self.retry_errors:
                done(i, fn(*jobs[i]))
                continue
            for attempt in range(self.retries + 1):
                try:
                    value = fn(*jobs[i])
                    break
                except Exception as exc:  # a task's own failure: try again, then report
                    if attempt == self.retries:
                        raise TaskError(f"task {names[i]!r} failed {self.retries + 1} times: "
                                        f"{exc}") from exc
            done(i, value)

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

    def _run_local(self, fn, jobs, names, todo, done, shared) -> None:
        pending = dict.fromkeys(todo)
        failures = dict.fromkeys(todo, 0)
        deaths = 0
        while pending:
            try:
                pool = self._local_pool()
                futures = {pool.submit(fn, *jobs[i]): i for i in pending}
                while futures:
                    finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                    for future in finished:
                        i = futures.pop(future)
                        try:
                            value = future.result()
                        except BrokenProcessPool:
                            raise
                        except Exception as exc:
                            if not self.retry_errors:
                                raise
                            failures[i] += 1
                            if failures[i] > self.retries:
                                raise TaskError(f"task {names[i]!r} failed {failures[i]} "
                                                f"times: {exc}") from exc
                            futures[pool.submit(fn, *jobs[i])] = i
                            continue
                        del pending[i]
                        done(i, value)
            except BrokenProcessPool:
                # a worker died: new workers, and every task not yet back runs again
                deaths += 1
                self._discard_pool()
                if deaths > self.retries:
                    raise TaskError(
                        f"the worker processes died {deaths} times in one batch of {self.what} "
                        f"(out of memory? killed?; {main_guard(self.what)})") from None

    # ------------------------------------------------------------------ ray

    def _ray(self) -> Any:
        """The ``ray`` module, connected (a local Ray started for the engine if none runs)."""
        self._ray_started = start_ray(self.workers, self.address) or self._ray_started
        return import_ray()

    def _run_ray(self, fn, jobs, names, todo, done, shared) -> None:
        ray = self._ray()
        remote = ray.remote(max_retries=self.retries, retry_exceptions=self.retry_errors)(fn)
        sent = {p: ray.put(jobs[todo[0]][p]) for p in shared}
        refs = {remote.remote(*(sent.get(p, arg) for p, arg in enumerate(jobs[i]))): i
                for i in todo}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                i = refs.pop(ref)
                try:
                    value = ray.get(ref)
                except Exception as exc:
                    if not self.retry_errors:
                        raise
                    raise TaskError(f"task {names[i]!r} failed on Ray after "
                                    f"{self.retries + 1} tries: {exc}") from exc
                done(i, value)


def run_tasks(
    fn: Callable[..., Any],
    tasks: dict[Hashable, tuple],
    backend: str = "sequential",
    workers: int | None = None,
    address: str | None = None,
    cache: str | Path | None = None,
    on_result: Callable[[Hashable, Any], None] | None = None,
    retries: int = 2,
    cache_salt: str = "",
    cache_token: str = "",
    cache_check: Callable[[Any], bool] | None = None,
    cache_guard: Callable[[], None] | None = None,
) -> dict[Hashable, Any]:
    """Run ``fn(*args)`` for every ``key: args`` of ``tasks`` on an engine of its own; returns
    ``{key: result}`` in the tasks' order. A task that fails is tried ``retries`` more times
    (:class:`TaskError` after that); ``cache``: a folder of reusable results, with
    ``cache_salt`` naming what the arguments only point to, ``cache_token`` the token of the
    output folder it lives in, ``cache_check`` what a reusable result looks like and
    ``cache_guard`` what must hold before a result is saved (see :class:`~.cache.ResultCache`).
    """
    keys = list(tasks)
    store = (ResultCache(Path(cache), cache_salt, cache_token, cache_check, cache_guard)
             if cache is not None else None)
    with Engine(backend, workers, address, retries, retry_errors=True) as engine:
        values = engine.map(fn, [tasks[k] for k in keys], keys=keys, on_result=on_result,
                            cache=store)
    return dict(zip(keys, values))
