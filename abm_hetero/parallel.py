"""Independent tasks run sequentially, on local worker processes, or on a Ray cluster.

One mechanism serves calibration candidates and seed sweeps alike: a task is a key and the
arguments of a top-level function. Results stream back as tasks finish (``on_result``). With a
``cache`` folder every finished result is saved at once (atomically), and a rerun with the same
folder loads those results instead of recomputing them, so an interrupted sweep resumes where it
stopped. A cached result is reused only if it was computed by the same function from the same
arguments (and the same ``cache_salt``, for inputs the arguments only name, such as the contents
of a policy file); anything else, a corrupt or unreadable entry included, is recomputed. A task
whose worker crashed or was killed is retried (``retries`` times), never silently dropped; a
task that keeps failing raises :class:`TaskError`. Local worker processes exit when the process
that started them dies.

Cached results hold data only, never code: an entry (``<key>.npz``) is an uncompressed zip of a
small ``fingerprint`` member, the result's structure as JSON (``result.json``) and its arrays
as ``.npy`` members, read with ``allow_pickle=False``; the fingerprint (a hash of the function,
arguments and salt) is compared before anything else is read. Results may be ``None``, bools,
numbers, strings, NumPy arrays and scalars (not of object dtype), and lists, tuples and
string-keyed dicts of these; any other result raises ``TypeError`` when it is cached, a
programming error to fix rather than a format to fall back on. Entries of older versions
(``.pkl``, which a planted file could abuse to run code) are never read, only recomputed.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .errors import AbmHeteroError

BACKENDS = ("sequential", "local", "ray")


class TaskError(AbmHeteroError):
    """A task failed on every try."""


#: suffix of a cache entry; entries of older versions (".pkl") are never read
CACHE_SUFFIX = ".npz"
#: the most bytes an entry's fingerprint member may declare (a SHA-256 in hex is 64)
_FINGERPRINT_BYTES = 128


def _cache_path(cache: Path, key: Hashable) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_.=" else "_" for c in str(key))
    return cache / f"{safe}{CACHE_SUFFIX}"


def _encode(value: Any, arrays: list[np.ndarray]) -> Any:
    """``value`` as JSON-ready data; its arrays are appended to ``arrays`` and referred to by
    index. Tagged objects keep what JSON alone would lose (tuples, NumPy types, non-finite
    floats)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.dtype.hasobject or array.dtype.kind not in "biufcSUmM":
            raise TypeError(f"a cached result cannot hold an array of dtype {array.dtype}")
        arrays.append(array)
        return {"array": len(arrays) - 1, "scalar": isinstance(value, np.generic)}
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, (list, tuple)):
        items = [_encode(v, arrays) for v in value]
        return {"tuple": items} if isinstance(value, tuple) else items
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("a cached result's dict keys must be strings")
        return {"dict": {k: _encode(v, arrays) for k, v in value.items()}}
    raise TypeError(f"a cached result cannot hold a {type(value).__qualname__}: only None, "
                    "bools, numbers, strings, NumPy arrays and scalars, and lists, tuples and "
                    "str-keyed dicts of them are saved (as data, never as code)")


def _decode(data: Any, arrays: Callable[[int], np.ndarray]) -> Any:
    if isinstance(data, list):
        return [_decode(v, arrays) for v in data]
    if not isinstance(data, dict):
        return data
    if "array" in data:
        array = arrays(data["array"])
        return array[()] if data["scalar"] else array
    if "float" in data:
        return float(data["float"])
    if "tuple" in data:
        return tuple(_decode(v, arrays) for v in data["tuple"])
    return {k: _decode(v, arrays) for k, v in data["dict"].items()}


def _save(path: Path, fingerprint: str, value: Any) -> None:
    """Write ``value`` (data only; see the module's docstring) atomically to ``path``."""
    arrays: list[np.ndarray] = []
    structure = json.dumps(_encode(value, arrays), allow_nan=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr("fingerprint", fingerprint)
            zf.writestr("result.json", structure)
            for i, array in enumerate(arrays):
                with zf.open(f"{i}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_MISSING = object()


def _fingerprint(fn: Callable, args: tuple, salt: str) -> str:
    text = repr((getattr(fn, "__module__", ""), getattr(fn, "__qualname__", repr(fn)), args,
                 salt))
    return hashlib.sha256(text.encode()).hexdigest()


def _read_array(zf: zipfile.ZipFile, name: str) -> np.ndarray:
    """An ``.npy`` member, its declared shape checked against its size before it is read."""
    raw = zf.read(name)  # stored, not compressed: no bigger than the file
    buf = io.BytesIO(raw)
    version = np.lib.format.read_magic(buf)
    header = {(1, 0): np.lib.format.read_array_header_1_0,
              (2, 0): np.lib.format.read_array_header_2_0}[version]
    shape, _, dtype = header(buf)
    if dtype.hasobject or math.prod(shape) * dtype.itemsize != len(raw) - buf.tell():
        raise ValueError(f"{name} is not a plain array of its declared shape")
    buf.seek(0)
    return np.lib.format.read_array(buf, allow_pickle=False)


def _load(path: Path, fingerprint: str) -> Any:
    """The cached result at ``path`` if it matches ``fingerprint``; ``_MISSING`` otherwise
    (absent, from other arguments, or unreadable: all of them are recomputed). The small
    fingerprint member is checked first; nothing in the file is ever executed."""
    if not path.is_file():
        return _MISSING
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
            if any(m.compress_type != zipfile.ZIP_STORED for m in members):
                return _MISSING
            if zf.getinfo("fingerprint").file_size > _FINGERPRINT_BYTES:
                return _MISSING
            if zf.read("fingerprint").decode() != fingerprint:
                return _MISSING
            structure = json.loads(zf.read("result.json"))
            return _decode(structure, lambda i: _read_array(zf, f"{int(i)}.npy"))
    except Exception:  # truncated, corrupt or not an entry at all: recompute
        return _MISSING


def _clean_temporary(cache: Path) -> None:
    """Remove half-written entries an interrupted run left in the cache folder."""
    for leftover in cache.glob(f".*{CACHE_SUFFIX}.*"):
        leftover.unlink(missing_ok=True)


def run_tasks(
    fn: Callable[..., Any],
    tasks: Mapping[Hashable, tuple],
    backend: str = "sequential",
    workers: int | None = None,
    address: str | None = None,
    cache: str | Path | None = None,
    on_result: Callable[[Hashable, Any], None] | None = None,
    retries: int = 2,
    cache_salt: str = "",
) -> dict[Hashable, Any]:
    """Run ``fn(*args)`` for every ``key: args`` of ``tasks``; returns ``{key: result}``.

    ``backend``: ``"sequential"`` (this process), ``"local"`` (``workers`` processes, default
    the number of CPUs) or ``"ray"`` (the cluster at ``address``, or a local Ray started for
    the job with ``workers`` CPUs).
    """
    if backend not in BACKENDS:
        raise AbmHeteroError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    results: dict[Hashable, Any] = {}
    cache_dir = Path(cache) if cache is not None else None
    todo = dict(tasks)
    fingerprints = {key: _fingerprint(fn, args, cache_salt) for key, args in todo.items()}
    if cache_dir is not None:
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AbmHeteroError(f"cannot use {cache_dir} for results: {exc.strerror or exc}"
                                 ) from None
        _clean_temporary(cache_dir)
        for key in list(todo):
            value = _load(_cache_path(cache_dir, key), fingerprints[key])
            if value is _MISSING:
                continue
            results[key] = value
            del todo[key]
            if on_result is not None:
                on_result(key, value)

    def done(key: Hashable, value: Any) -> None:
        results[key] = value
        if cache_dir is not None:
            _save(_cache_path(cache_dir, key), fingerprints[key], value)
        if on_result is not None:
            on_result(key, value)

    if todo:
        runner = {"sequential": _sequential, "local": _local, "ray": _ray}[backend]
        runner(fn, todo, done, workers=workers, address=address, retries=retries)
    return results


def _sequential(fn, todo, done, retries, **_) -> None:
    for key, args in todo.items():
        for attempt in range(retries + 1):
            try:
                value = fn(*args)
                break
            except Exception as exc:  # a task's own failure: try again, then report
                if attempt == retries:
                    raise TaskError(f"task {key!r} failed {retries + 1} times: {exc}") from exc
        done(key, value)


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
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
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
    import multiprocessing

    return ProcessPoolExecutor(max_workers=workers or available_cpus(),
                               mp_context=multiprocessing.get_context("spawn"),
                               initializer=die_with_parent, initargs=(os.getpid(),))


def _local(fn, todo, done, workers, retries, **_) -> None:
    attempts = dict.fromkeys(todo, 0)
    pending = dict(todo)
    while pending:
        with spawn_pool(workers) as pool:
            futures = {pool.submit(fn, *args): key for key, args in pending.items()}
            broken = False
            while futures and not broken:
                finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in finished:
                    key = futures.pop(future)
                    try:
                        value = future.result()
                    except BrokenProcessPool:
                        broken = True  # a worker died: every unfinished task is resubmitted
                        attempts[key] += 1
                        continue
                    except Exception as exc:
                        attempts[key] += 1
                        if attempts[key] > retries:
                            raise TaskError(
                                f"task {key!r} failed {attempts[key]} times: {exc}") from exc
                        futures[pool.submit(fn, *pending[key])] = key
                        continue
                    del pending[key]
                    done(key, value)
            if broken:
                for key in pending:
                    if attempts[key] > retries:
                        raise TaskError(f"task {key!r}: its worker died {attempts[key]} times")


def _import_ray():
    try:
        import ray
    except ModuleNotFoundError:
        raise AbmHeteroError(
            "the ray backend needs Ray: pip install 'abm-hetero[ray]' (or pip install ray)"
        ) from None
    return ray


def check_ray(address: str | None) -> None:
    """Fail before any work when Ray is missing or nothing listens at ``address``."""
    _import_ray()
    if address:
        _check_reachable(address)


def start_ray(workers: int | None, address: str | None) -> bool:
    """Connect to a cluster or start a local Ray; False if Ray was already running."""
    ray = _import_ray()
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
    import socket
    from urllib.parse import urlsplit

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
def backend_session(backend: str, workers: int | None = None, address: str | None = None):
    """Keep one Ray connection open across several ``run_tasks`` calls (no-op otherwise)."""
    started = backend == "ray" and start_ray(workers, address)
    try:
        yield
    finally:
        if started:
            _import_ray().shutdown()


def _ray(fn, todo, done, workers, address, retries, **_) -> None:
    ray = _import_ray()
    started = start_ray(workers, address)
    try:
        remote = ray.remote(max_retries=retries, retry_exceptions=True)(fn)
        refs = {remote.remote(*args): key for key, args in todo.items()}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                key = refs.pop(ref)
                try:
                    value = ray.get(ref)
                except Exception as exc:
                    raise TaskError(f"task {key!r} failed on Ray after {retries + 1} tries: "
                                    f"{exc}") from exc
                done(key, value)
    finally:
        if started:
            ray.shutdown()
