"""Where the worker engine's work runs: spawned local processes that die with their parent,
and Ray (a cluster at an address, or a local Ray started for the job).

A local worker is a fresh ``spawn`` process (nothing of the parent's state is copied into it)
whose initializer ends it when the process that started it dies, killed or not, so that no
worker outlives a killed run. An address of a Ray cluster is checked before any work starts, so
a wrong one fails within seconds instead of hanging.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from ..errors import AbmHeteroError


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(1)


def die_with_parent(parent: int) -> None:
    """Worker initializer: end this process when ``parent`` dies (a killed main process must
    not leave workers behind). Linux delivers SIGKILL at once; elsewhere a thread polls."""
    if os.getppid() != parent:
        os._exit(1)
    with contextlib.suppress(OSError, AttributeError):  # not Linux
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def available_cpus() -> int:
    """CPUs this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def spawn_pool(workers: int | None = None) -> ProcessPoolExecutor:
    """``workers`` fresh worker processes (default: one per available CPU) that exit when
    this process dies."""
    return ProcessPoolExecutor(max_workers=workers or available_cpus(),
                               mp_context=multiprocessing.get_context("spawn"),
                               initializer=die_with_parent, initargs=(os.getpid(),))


def import_ray() -> Any:
    """The ``ray`` module (an optional extra, imported only for the ray backend)."""
    try:
        import ray
    except ModuleNotFoundError:
        raise AbmHeteroError(
            "the ray backend needs Ray: pip install 'abm-hetero[ray]' (or pip install ray)"
        ) from None
    return ray


def check_ray(address: str | None) -> None:
    """Fail before any work when Ray is missing or nothing listens at ``address``."""
    import_ray()
    if address:
        _check_reachable(address)


def start_ray(workers: int | None, address: str | None) -> bool:
    """Connect to a cluster or start a local Ray; False if Ray was already running."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    if address:
        _check_reachable(address)
        try:
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise AbmHeteroError(f"cannot connect to the Ray cluster at {address}: {first}"
                                 ) from None
    else:
        ray.init(num_cpus=workers or available_cpus(), include_dashboard=False,
                 log_to_driver=False, ignore_reinit_error=True)
    return True


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail within seconds, not never, when nothing listens at a Ray address (host:port or
    ray://host:port; "auto" finds a local cluster by itself and is left to Ray)."""
    if address == "auto":
        return
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise AbmHeteroError(f"--address must be host:port, ray://host:port or auto, got "
                             f"{address!r}")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise AbmHeteroError(f"no Ray cluster answers at {address} ({exc.strerror or exc}); "
                             "start one (ray start --head) or leave out --address") from None


@contextmanager
def backend_session(backend: str, workers: int | None = None,
                    address: str | None = None) -> Iterator[None]:
    """Keep one Ray connection open across several engines' jobs (no-op for other backends)."""
    started = backend == "ray" and start_ray(workers, address)
    try:
        yield
    finally:
        if started:
            import_ray().shutdown()
