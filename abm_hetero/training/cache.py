"""The result cache of the worker engine: finished task results saved as data, never as code.

With a cache folder every finished result is saved at once (atomically), and a rerun with the
same folder loads it instead of computing it again, so an interrupted sweep resumes where it
stopped. A cached result is reused only if it was computed by the same function from the same
arguments (and the same salt, for inputs the arguments only name, such as the contents of a
policy file); anything else, a corrupt or unreadable entry included, is recomputed.

An entry (``<key>.npz``) is an uncompressed zip of a small ``fingerprint`` member, the result's
structure as JSON (``result.json``) and its arrays as ``.npy`` members, read with
``allow_pickle=False``; the fingerprint (a hash of the function, arguments and salt) is compared
before anything else is read. Results may be ``None``, bools, numbers, strings, NumPy arrays and
scalars (not of object dtype), and lists, tuples and string-keyed dicts of these; any other
result raises ``TypeError`` when it is cached, a programming error to fix rather than a format
to fall back on. Entries of older versions (``.pkl``, which a planted file could abuse to run
code) are never read, only recomputed.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import secrets
import zipfile
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AbmHeteroError

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


def _save(path: Path, fingerprint: str, value: Any, token: str = "") -> None:
    """Write ``value`` (data only; see the module's docstring) atomically to ``path``, through
    a temporary file named with the run's ``token`` and created with the user's umask."""
    arrays: list[np.ndarray] = []
    structure = json.dumps(_encode(value, arrays), allow_nan=False)
    tmp = path.with_name(f".{path.name}.tmp-{token}-{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
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


def _clean_temporary(cache: Path, token: str) -> None:
    """Remove half-written entries that an interrupted run of the folder whose token is
    ``token`` left (named with that token, so a user's own files are never taken for them)."""
    if not token:
        return
    for leftover in cache.glob(f".*{CACHE_SUFFIX}.tmp-{token}-*"):
        if leftover.is_file() and not leftover.is_symlink():
            leftover.unlink(missing_ok=True)


@dataclass
class ResultCache:
    """A folder of cached results (see the module docstring); ``salt`` names what the
    arguments only point to (it enters every fingerprint)."""

    folder: Path
    salt: str = ""
    #: the token of the output folder the cache lives in (its marker records it): temporary
    #: files carry it, and only files carrying it are ever cleaned up
    token: str = ""
    #: a cached result is reused only if this says it is one (else it is computed again)
    check: Callable[[Any], bool] | None = None
    #: called before every save: raises if the folder may no longer be written (moved away)
    guard: Callable[[], None] | None = None

    def open(self) -> None:
        """Create the folder if needed and remove what an interrupted run half-wrote."""
        if self.folder.is_symlink():
            raise AbmHeteroError(f"{self.folder} is a symbolic link; results are kept only in "
                                 "a real folder of the run; nothing was changed")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AbmHeteroError(f"cannot use {self.folder} for results: "
                                 f"{exc.strerror or exc}") from None
        _clean_temporary(self.folder, self.token)

    def fingerprint(self, fn: Callable, args: tuple) -> str:
        return _fingerprint(fn, args, self.salt)

    def load(self, key: Hashable, fingerprint: str) -> Any:
        """The cached result of ``key`` if its fingerprint matches, else :data:`MISSING`."""
        value = _load(_cache_path(self.folder, key), fingerprint)
        if value is not _MISSING and self.check is not None and not self.check(value):
            return _MISSING  # well-formed but not a result of this task: compute it again
        return value

    def save(self, key: Hashable, fingerprint: str, value: Any) -> None:
        if self.guard is not None:
            self.guard()
        try:
            _save(_cache_path(self.folder, key), fingerprint, value, self.token)
        except OSError as exc:
            raise AbmHeteroError(f"cannot save a result in {self.folder}: "
                                 f"{exc.strerror or exc}") from None


#: what :meth:`ResultCache.load` answers for an entry that is absent or not reusable
MISSING = _MISSING
