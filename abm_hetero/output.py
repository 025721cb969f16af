"""Writing a run to a folder, and reading it back; the one rule for every output the package writes.

A run folder holds (all CSV, comma-separated, with a header row):

``market.csv``
    One row per tick (tick 0 is the initial state): ``tick, mid, last_price, fundamental,
    best_bid, best_ask, spread, volume, trades, bid_depth, ask_depth``. Undefined prices
    (an empty side of the book) are empty cells.
``traders.csv``
    Every ``trader_report_period`` ticks, one row per trader: ``tick, agent_id, kind, row,
    cash, shares, wealth, alpha, gamma, sigma``.
``trades.csv``
    One row per fill: ``time, price, volume, buyer, seller, resting_side`` (buyer and seller
    are account rows, as in ``traders.csv``; ``resting_side`` is the side that was resting).
``orders.csv``
    One row per accepted order: ``time, order_id, trader, side, price, volume, ttl, mid``.
``settings.json``
    The exact settings of the run: ``abm-hetero simulate --settings settings.json`` repeats it.

The folder rule, written once here and followed by every command that writes (``simulate``,
``run``, ``diagnose`` through :func:`reserve`; ``train`` and ``calibrate``, which write in place
over a long run, through :class:`Workspace`; ``bench --json`` through :func:`reserve_file`):

1. The package writes only into a folder that it creates or that is empty, and plants its marker
   (``.abm-hetero``: the kind of output and a random token) only in such a folder.
2. ``--force`` replaces only a folder that carries the marker.
3. A finished output is written under a temporary name beside ``--out`` (``.NAME.tmp-TOKEN``) and
   swapped into place in one atomic step, so a kill never leaves a half-written or half-deleted
   folder. Every temporary (or moved-aside) name is recorded, with its token, in the lock file
   before it is made; a later run removes a leftover only if it is recorded there and carries
   the recorded token. A folder that merely looks like one (``.NAME.tmp-*``) is never touched.
4. At the final swap every check is made again: if what is at ``--out`` has become something the
   run may not replace, it is left alone, the finished output is kept beside it under a new
   name, and the command fails with one line saying where.
5. While a command writes, it holds an exclusive lock (``flock``) on ``.NAME.abm-hetero-lock``
   beside the output; a second command that would write the same output stops at once with a
   one-line error. The lock file is removed when the command ends, unless a name it recorded is
   still there (after a kill, or a finished output kept beside a folder that appeared): then it
   stays, holding that record, for the next command into the output.
6. An ``--out`` that is itself a symbolic link is refused, whatever it points to (links among its
   parent folders are followed); an empty name, ``.`` and ``..`` are refused.
7. Folders and files are created with the user's umask, like any other tool's output; errors of
   the operating system (no space, file too large, too many open files, name too long) end the
   command with one line.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hmac
import json
import os
import re
import secrets
import shutil
import stat
import weakref
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from .errors import AbmHeteroError

try:
    import fcntl
except ImportError:  # pragma: no cover - no flock (Windows): outputs are written unlocked
    fcntl = None  # type: ignore[assignment]

FILES = ("market.csv", "traders.csv", "trades.csv", "orders.csv", "settings.json")
#: every folder the package writes holds this file; ``--force`` replaces only such folders
MARKER = ".abm-hetero"
#: the lock file beside an output is named ``.NAME`` + this
LOCK_SUFFIX = ".abm-hetero-lock"
_LOCK_HEADER = {"abm_hetero": "lock"}
#: the shape of a token (:func:`new_token`)
_TOKEN = re.compile(r"[0-9a-f]{16}")


def _record_key() -> bytes:
    """This user's secret for signing lock records (``~/.config/abm-hetero/lock-key``, made
    on first use, readable by the user only): a record that anyone else planted in a lock file
    fails the signature and is ignored. Where no key file can be kept, a key of this process
    alone (then only its own records are acted on)."""
    global _KEY
    if _KEY is None:
        home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"),
                                                                 ".config")
        path = Path(home) / "abm-hetero" / "lock-key"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(secrets.token_bytes(32))
            key = path.read_bytes()
            _KEY = key if len(key) == 32 else secrets.token_bytes(32)
        except OSError:
            _KEY = secrets.token_bytes(32)
    return _KEY


_KEY: bytes | None = None


def _mac(role: str, name: str, token: str) -> str:
    return hmac.new(_record_key(), f"{role}\0{name}\0{token}".encode(), "sha256").hexdigest()


def new_token() -> str:
    """A random token that names one run's temporary files and marks its folders."""
    return secrets.token_hex(8)


def _show(path: str | Path) -> str:
    """A path for a one-line message (a name too long for the system is shortened)."""
    text = os.fspath(path)
    return text if len(text) <= 200 else f"{text[:100]}...{text[-60:]}"


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


# ---------------------------------------------------------------------------- markers


def read_marker(folder: str | Path) -> dict | None:
    """What the package wrote in its marker in ``folder`` (kind, token), or None if ``folder``
    carries no marker of the package's."""
    path = Path(folder) / MARKER
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("written_by") == "abm-hetero" else None


def mark(folder: str | Path, kind: str, token: str | None = None,
         files: list[str] | None = None) -> str:
    """Write the marker that says the package wrote ``folder``, what it holds, the token of the
    run that wrote it and (for an output written whole) the ``files`` it wrote; returns the
    token. Call it only on a folder the package created or found empty (the folder rule)."""
    token = token or new_token()
    data: dict = {"written_by": "abm-hetero", "kind": kind, "token": token}
    if files is not None:
        data["files"] = files
        data["stamps"] = _stamps(Path(folder), files)
    (Path(folder) / MARKER).write_text(json.dumps(data) + "\n")
    return token


def listing(folder: Path) -> list[str]:
    """Every file and folder under ``folder`` (relative, ``/``-separated), the marker aside."""
    out = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        out += [(rel / name).as_posix() for name in (*dirs, *files)]
    return sorted(name for name in out if name != MARKER)


def _first_link(folder: Path) -> str | None:
    """The first symbolic link inside ``folder`` (relative), or None: the package makes none,
    so one there would send a write to a file of the user's."""
    for root, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            if os.path.islink(os.path.join(root, name)):
                return Path(root, name).relative_to(folder).as_posix()
    return None


def _stamps(folder: Path, names: list[str]) -> dict[str, list[int]]:
    """Size and modification time (ns) of each regular file among ``names`` in ``folder``."""
    out = {}
    for name in names:
        st = os.lstat(folder / name)
        if stat.S_ISREG(st.st_mode):
            out[name] = [st.st_size, st.st_mtime_ns]
    return out


def why_not_replaceable(out: Path, kind: str) -> str | None:
    """Why ``--force`` may not replace the marked folder ``out`` with a ``kind`` output (None if
    it may): it must hold an output of the same kind, and nothing but the files that output
    wrote (a file a user put into it would be lost)."""
    marker = read_marker(out) or {}
    if marker.get("kind") != kind:
        return (f"it holds a {marker.get('kind', 'different')} output, and this command's "
                f"--force replaces only a {kind} output")
    files = marker.get("files")
    if not isinstance(files, list):
        return ("it was written by an earlier version of abm-hetero, which recorded no list "
                "of its files, so files added to it since could not be told apart")
    extra = sorted(set(listing(out)) - set(files))
    if extra:
        shown = ", ".join(extra[:3]) + (f" and {len(extra) - 3} more" if len(extra) > 3 else "")
        return f"it holds files abm-hetero did not write there ({shown})"
    stamps = marker.get("stamps")
    if isinstance(stamps, dict):
        try:
            now = _stamps(out, list(stamps))
        except OSError:
            now = {}
        changed = sorted(name for name, stamp in stamps.items() if now.get(name) != stamp)
        if changed:
            return (f"its {', '.join(changed[:3])} changed since abm-hetero wrote "
                    f"{'them' if len(changed) > 1 else 'it'}")
    return None


def _state(path: Path) -> str:
    """What is at ``path``: missing, empty, ours (a marked folder), theirs (a non-empty folder
    without the marker), file or link."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "missing"
    if stat.S_ISLNK(st.st_mode):
        return "link"
    if not stat.S_ISDIR(st.st_mode):
        return "file"
    with os.scandir(path) as entries:
        if next(entries, None) is None:
            return "empty"
    return "ours" if read_marker(path) is not None else "theirs"


_WHY = {"missing": "it does not exist", "empty": "it is empty",
        "theirs": f"it is not empty and has no {MARKER} marker", "file": "it is a file",
        "link": "it is a symbolic link", "ours": "it holds an earlier run of abm-hetero"}


def _token_of(path: Path) -> str | None:
    marker = read_marker(path) if _state(path) == "ours" else None
    return None if marker is None else str(marker.get("token", ""))


# ---------------------------------------------------------------------------- paths


def check_path(out: str | Path, option: str = "--out", noun: str = "folder") -> Path:
    """``out`` as a path, refused in one line if it cannot name an output of its own: empty,
    ``.``/``..``, a NUL byte, under a file, a symbolic link, or unusable (too long, a loop)."""
    name = os.fspath(out)
    if name == "":
        raise AbmHeteroError(f"{option} is empty; give a {noun} name, for example "
                             + ("runs/my-run" if noun == "folder" else "bench.json"))
    if "\0" in name:
        raise AbmHeteroError(f"{option}: the {noun} name contains a NUL byte: {name!r}")
    path = Path(name)
    if path.name in ("", ".", ".."):
        raise AbmHeteroError(f"output {noun} {name!r} names no {noun} of its own; give a new "
                             f"{noun} name, for example runs/my-run")
    parent = path.absolute().parent
    try:
        for folder in (parent, *parent.parents):
            if folder.exists():
                if not folder.is_dir():
                    raise AbmHeteroError(f"cannot write {_show(path)}: {_show(folder)} is a "
                                         "file, not a folder")
                break
        st = os.lstat(path)
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise AbmHeteroError(f"cannot use {option} {_show(path)}: {_reason(exc)}") from None
    if stat.S_ISLNK(st.st_mode):
        raise AbmHeteroError(f"{_show(path)} is a symbolic link; abm-hetero writes only into a "
                             f"real {noun}, never through a link (give the {noun} it points to, "
                             "or a new name); nothing was changed")
    if stat.S_ISDIR(st.st_mode) and os.path.ismount(path):
        raise AbmHeteroError(f"{_show(path)} is a mount point, which abm-hetero cannot replace "
                             "by a folder of its own; give a new folder inside it")
    return path


def _make_parent(path: Path) -> None:
    try:
        path.absolute().parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AbmHeteroError(f"cannot write {_show(path)}: {_reason(exc)}") from None


# ---------------------------------------------------------------------------- the lock


class FolderLock:
    """The exclusive lock on one output path (``.NAME.abm-hetero-lock`` beside it), and the
    record of the temporary names the runs that held it made there.

    The file is locked with ``flock``, so a killed holder releases it at once. A holder removes
    the file when it is done and nothing it recorded is left; an acquirer checks after locking
    that the file it locked is still the one at the path. Within one process the lock is taken
    again freely (see :func:`hold`)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.path = out.absolute().parent / f".{out.name}{LOCK_SUFFIX}"
        self.fd: int | None = None
        self.records: list[dict] = []
        self.count = 0

    def acquire(self) -> None:
        for _ in range(20):
            try:
                fd = self._open()
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.EISDIR):
                    raise AbmHeteroError(f"{_show(self.path)} is in the way of abm-hetero's "
                                         "lock file; nothing was changed; remove it or choose "
                                         "another output") from None
                raise AbmHeteroError(f"cannot write {_show(self.out)}: {_reason(exc)}"
                                     ) from None
            try:
                if fcntl is not None:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        raise AbmHeteroError(
                            f"{_show(self.out)} is in use: another abm-hetero command is "
                            "writing it; wait until it has finished or choose another output"
                        ) from None
                mine = os.fstat(fd)
                try:
                    there = os.stat(self.path, follow_symlinks=False)
                    current = (there.st_dev, there.st_ino) == (mine.st_dev, mine.st_ino)
                except FileNotFoundError:
                    current = False
                if current:
                    self.records = self._read(fd)
                    self.fd = fd
                    return
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # the holder before us removed it: lock the new one
        raise AbmHeteroError(f"{_show(self.out)} is in use: its lock keeps changing hands")

    def _open(self) -> int:
        """A descriptor of the lock file: created new (with its header at once), or an existing
        one that is a plain file with no other name (a hard link to a user's file is not a lock
        file of ours, and is never written)."""
        flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            fd = os.open(self.path, flags)
        else:
            os.write(fd, (json.dumps(_LOCK_HEADER) + "\n").encode())
            return fd
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            os.close(fd)
            raise AbmHeteroError(f"{_show(self.path)} is in the way of abm-hetero's lock file; "
                                 "nothing was changed; remove it or choose another output")
        return fd

    def _read(self, fd: int) -> list[dict]:
        data = b""
        while chunk := os.pread(fd, 1 << 16, len(data)):
            data += chunk
        lines = data.decode("utf-8", "replace").splitlines()
        if not lines:
            raise AbmHeteroError(f"{_show(self.path)} is empty, so it is not abm-hetero's lock "
                                 "file (or a run was killed as it made it); nothing was "
                                 "changed; remove it or choose another output")
        try:
            ours = json.loads(lines[0]) == _LOCK_HEADER
        except ValueError:
            ours = False
        if not ours:
            raise AbmHeteroError(f"{_show(self.path)} is not abm-hetero's lock file; nothing "
                                 "was changed; remove it or choose another output")
        records = []
        for line in lines[1:]:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by a kill
            if self._valid(record):
                records.append(record)
        return records

    def _valid(self, record: object) -> bool:
        """A record names one of the package's own temporary names beside this output, with a
        token of the package's shape: anything else (a planted record naming another file, an
        empty token) is ignored, never acted on."""
        if not isinstance(record, dict) or record.get("role") not in ("tmp", "old"):
            return False
        name, token = record.get("name"), record.get("token")
        if not (isinstance(token, str) and _TOKEN.fullmatch(token) and isinstance(name, str)):
            return False
        mac = record.get("mac")
        if not (isinstance(mac, str) and hmac.compare_digest(mac, _mac(record["role"], name,
                                                                      token))):
            return False  # not written by this user's abm-hetero: never acted on
        prefix = f".{self.out.name}."
        suffix = name[len(prefix):] if name.startswith(prefix) else ""
        return bool(re.fullmatch(r"(tmp|old)-[0-9a-f]{16}", suffix))

    def record(self, role: str, name: str, token: str) -> None:
        """Note, before it is made, a temporary name and the token that will mark it."""
        entry = {"role": role, "name": name, "token": token, "mac": _mac(role, name, token)}
        self.records.append(entry)
        assert self.fd is not None
        os.lseek(self.fd, 0, os.SEEK_END)
        os.write(self.fd, (json.dumps(entry) + "\n").encode())

    def _rewrite(self) -> None:
        assert self.fd is not None
        text = "".join(json.dumps(r) + "\n" for r in [_LOCK_HEADER, *self.records])
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, text.encode(), 0)

    def clean(self) -> None:
        """Remove (or, for an earlier run moved aside, restore) what killed runs left beside
        the output: only recorded names that carry their recorded token, and empty folders
        under recorded names."""
        parent = self.path.parent
        for rec in [r for r in self.records if r["role"] == "old"]:
            path = parent / rec["name"]
            if _token_of(path) == rec["token"]:
                if _state(self.out) == "missing":
                    os.rename(path, self.out)  # the earlier run comes back
                else:
                    shutil.rmtree(path)
        for rec in [r for r in self.records if r["role"] == "tmp"]:
            path = parent / rec["name"]
            state = _state(path)
            if state == "ours" and _token_of(path) == rec["token"]:
                shutil.rmtree(path)
            elif state == "empty":
                os.rmdir(path)
            elif state == "file" and rec["name"].endswith(rec["token"]):
                os.unlink(path)  # a temporary file (its name holds the token)
        self.records = [r for r in self.records if os.path.lexists(parent / r["name"])]
        self._rewrite()

    def release(self) -> None:
        """Give the lock up (the last of this process's holds)."""
        self.count -= 1
        if self.count <= 0:
            _HELD.pop(_lock_key(self.out), None)
            self._close()

    def _close(self) -> None:
        """Unlock; the lock file goes too unless a recorded temporary name is still there."""
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        try:
            parent = self.path.parent
            if not any(os.path.lexists(parent / r["name"]) for r in self.records):
                os.unlink(self.path)  # still locked by us: no other holder can be using it
        except OSError:
            pass
        finally:
            os.close(fd)

    def __del__(self) -> None:  # a holder that failed without releasing
        self._close()


#: the locks this process holds (a lock nobody refers to any more is closed, so a failed
#: caller cannot keep an output locked)
_HELD: weakref.WeakValueDictionary[str, FolderLock] = weakref.WeakValueDictionary()


def _lock_key(out: Path) -> str:
    return os.path.realpath(out.absolute().parent / f".{out.name}{LOCK_SUFFIX}")


def hold(out: Path) -> FolderLock:
    """Take the lock of ``out`` (this process may hold it several times: a command holds it
    while the functions it calls take it again); every hold is ended by ``release``."""
    key = _lock_key(out)
    lock = _HELD.get(key)
    if lock is None:
        lock = FolderLock(out)
        lock.acquire()
        _HELD[key] = lock
    lock.count += 1
    return lock


# ---------------------------------------------------------------------------- renames


_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2


def _renameat2(a: Path, b: Path, flags: int) -> bool | None:
    """Linux ``renameat2``: True when done, False when ``b`` is in the way, None where the
    system or the file system cannot do it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return None
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return None
    if err in (errno.EEXIST, errno.ENOTEMPTY) or (err == errno.ENOENT and flags
                                                    == _RENAME_EXCHANGE):
        return False
    raise OSError(err, os.strerror(err), os.fspath(a))


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step; False where that is not possible."""
    return bool(_renameat2(a, b, _RENAME_EXCHANGE))


def _move_to_free(a: Path, b: Path) -> bool:
    """Rename ``a`` to ``b`` only if nothing is at ``b``; False if something is."""
    done = _renameat2(a, b, _RENAME_NOREPLACE)
    if done is not None:
        return done
    if os.path.lexists(b):  # no atomic "no replace" here: look, then rename
        return False
    os.rename(a, b)
    return True


class OutputKept(AbmHeteroError):
    """The finished output could not be put in its place and was kept beside it."""


def _discard(path: Path, token: str) -> None:
    """Remove ``path`` if it is a folder carrying ``token`` (the run's own), else leave it."""
    if _token_of(path) == token:
        shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------- whole outputs


def _refuse(out: Path, state: str, overwrite: bool, kind: str) -> None:
    """Fail in one line unless the folder rule lets a run write ``out`` (in ``state``)."""
    if state in ("missing", "empty"):
        return
    if state == "ours" and overwrite:
        why = why_not_replaceable(out, kind)
        if why is None:
            return
        raise AbmHeteroError(f"--force will not replace {_show(out)}: {why}; nothing was "
                             "deleted; choose another --out")
    if state == "file":
        raise AbmHeteroError(f"{_show(out)} exists and is not a folder")
    if state == "link":
        raise AbmHeteroError(f"{_show(out)} is a symbolic link; abm-hetero writes only into a "
                             "real folder; nothing was changed")
    if not overwrite:
        raise AbmHeteroError(f"{_show(out)} already exists and is not empty (use --force to "
                             "replace an earlier run)")
    raise AbmHeteroError(f"--force replaces only a folder written by abm-hetero, and "
                         f"{_show(out)} is not one (it has no {MARKER} file); nothing was "
                         "deleted; choose another --out")


class _Held:
    """An output held for one command: its lock is given up by :meth:`close` (or ``with``)."""

    _lock: FolderLock | None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._lock is not None:
            self._lock, lock = None, self._lock
            lock.release()


class Reservation(_Held):
    """An output folder held for one command (see :func:`reserve`): checked and locked before
    the work, written once by :meth:`write`, released by :meth:`close` (or ``with``)."""

    def __init__(self, out: Path, overwrite: bool, lock: FolderLock, kind: str) -> None:
        self.out = out
        self.overwrite = overwrite
        self.kind = kind
        self._lock = lock

    def write(self, write: Callable[[Path], None]) -> Path:
        """Call ``write(tmp)`` on a fresh, marked temporary folder beside the output, then put
        it at the output in one atomic step, checking the folder rule again at that moment."""
        if self._lock is None:
            raise RuntimeError("write() after close()")
        out, token, kind = self.out, new_token(), self.kind
        tmp = out.absolute().parent / f".{out.name}.tmp-{token}"
        try:
            try:
                self._lock.record("tmp", tmp.name, token)
                os.mkdir(tmp)
                mark(tmp, kind, token)
                write(tmp)
                mark(tmp, kind, token, files=listing(tmp))
            except OSError as exc:
                raise AbmHeteroError(f"cannot write {_show(out)}: {_reason(exc)}; nothing was "
                                     "changed there") from None
            self._swap(tmp, token)
        except OutputKept:
            raise  # the finished output is where the message says: it stays
        except BaseException:
            _discard(tmp, token)
            raise
        return out

    def _swap(self, tmp: Path, token: str) -> None:
        out, lock = self.out, self._lock
        assert lock is not None
        try:
            for _ in range(5):
                state = _state(out)
                if state == "missing":
                    if _move_to_free(tmp, out):
                        return
                elif state == "empty":
                    with contextlib.suppress(OSError):  # filled or gone meanwhile: look again
                        os.rmdir(out)
                elif state == "ours" and self.overwrite and \
                        why_not_replaceable(out, self.kind) is None:
                    old = _token_of(out) or ""
                    lock.record("old", tmp.name, old)  # after the swap, tmp holds the old run
                    if _exchange(tmp, out):
                        _discard(tmp, old)
                        return
                    aside = tmp.with_name(f".{out.name}.old-{token}")
                    lock.record("old", aside.name, old)
                    try:
                        os.rename(out, aside)  # no atomic swap here: the old run steps aside
                    except FileNotFoundError:
                        continue  # it went meanwhile: look again
                    if _move_to_free(tmp, out):
                        _discard(aside, old)
                        return
                    state = _state(out)  # something appeared meanwhile: keep both, say where
                    break
                else:
                    break
            else:
                state = _state(out)
            kept = out.with_name(f"{out.name}.kept-{token[:8]}")
            if not _move_to_free(tmp, kept):
                kept = tmp
        except OSError as exc:
            raise AbmHeteroError(f"cannot put the finished output at {_show(out)}: "
                                 f"{_reason(exc)}") from None
        raise OutputKept(f"{_show(out)} changed while the run was being written and may not "
                             f"be replaced now ({_WHY[state]}); it was left as it is, and the "
                             f"finished output is in {_show(kept)}")


def reserve(out: str | Path, overwrite: bool = False, kind: str = "run") -> Reservation:
    """Hold the output folder ``out`` for one command's ``kind`` of output, before any work:
    the name is checked, missing parent folders are created, the lock is taken (a second
    writer fails at once), leftovers of killed runs into ``out`` are cleaned or restored, and
    ``out`` must be missing, empty or (with ``overwrite``, i.e. ``--force``) an earlier output
    of the same kind holding only what the package wrote there."""
    path = check_path(out)
    _make_parent(path)
    lock = hold(path)
    try:
        try:
            lock.clean()
            state = _state(path)
        except OSError as exc:
            raise AbmHeteroError(f"cannot write {_show(path)}: {_reason(exc)}") from None
        _refuse(path, state, overwrite, kind)
    except BaseException:
        lock.release()
        raise
    return Reservation(path, overwrite, lock, kind)


def check_output_dir(out: str | Path, overwrite: bool = False, kind: str = "run") -> Path:
    """Fail early (before any work) if ``out`` cannot be written or must not be replaced."""
    with reserve(out, overwrite, kind) as target:
        return target.out


def write_atomically(out: str | Path, write: Callable[[Path], None], kind: str = "run",
                     overwrite: bool = False) -> Path:
    """Reserve ``out`` and write it in one step (see :class:`Reservation`)."""
    with reserve(out, overwrite, kind) as target:
        return target.write(write)


# ---------------------------------------------------------------------------- in place


class Workspace(_Held):
    """A folder written in place over a long run (training, calibration), locked while open.

    Opening applies the folder rule: a missing or empty ``out`` is created and marked as
    ``kind``; a folder already marked as ``kind`` is continued (its token kept); with
    ``existing`` (``--resume``) only the latter is accepted. Anything else is refused in one
    line, with nothing in it changed. The lock is held until :meth:`close` (or ``with``)."""

    def __init__(self, out: str | Path, kind: str, existing: bool = False) -> None:
        self.out = check_path(out)
        self.kind = kind
        self._lock: FolderLock | None = None
        self._check(existing)
        if not existing:
            _make_parent(self.out)
        self._lock = hold(self.out)
        try:
            try:
                self.token = self._open(existing)
                st = os.lstat(self.out)
                self._identity = (st.st_dev, st.st_ino)
            except OSError as exc:
                raise AbmHeteroError(f"cannot write {_show(self.out)}: {_reason(exc)}"
                                     ) from None
        except BaseException:
            self.close()
            raise

    def _check(self, existing: bool) -> dict | None:
        try:
            state = _state(self.out)
        except OSError as exc:
            raise AbmHeteroError(f"cannot use {_show(self.out)}: {_reason(exc)}") from None
        marker = read_marker(self.out) if state == "ours" else None
        if marker is not None and marker.get("kind") == self.kind:
            link = _first_link(self.out)
            if link is not None:
                raise AbmHeteroError(f"{_show(self.out)} holds a symbolic link that abm-hetero "
                                     f"did not make ({link}); abm-hetero writes only real files "
                                     "of its own; nothing was changed")
            return marker
        if state in ("missing", "empty") and not existing:
            return None
        why = (f"its marker says it holds a {marker.get('kind')} output" if marker is not None
               else _WHY[state])
        if existing:
            raise AbmHeteroError(f"{_show(self.out)} is not a {self.kind} folder of abm-hetero "
                                 f"({why}); only such a folder can be continued; nothing was "
                                 "changed")
        raise AbmHeteroError(f"{_show(self.out)} is not a {self.kind} folder of abm-hetero "
                             f"({why}); nothing was changed; choose another --out")

    def _open(self, existing: bool) -> str:
        marker = self._check(existing)  # again, now that the lock is held
        if marker is not None:
            return str(marker.get("token") or mark(self.out, self.kind))
        if _state(self.out) == "missing":
            os.mkdir(self.out)
        return mark(self.out, self.kind)

    def verify(self) -> None:
        """Check, before writing more, that the folder at the output is still the one this run
        opened (a folder a user made there meanwhile is never written into)."""
        try:
            st = os.lstat(self.out)
            same = (st.st_dev, st.st_ino) == self._identity and _token_of(self.out) == self.token
        except OSError:
            same = False
        if not same:
            raise AbmHeteroError(f"{_show(self.out)} was moved or replaced while the run was "
                                 "writing it; the run stopped and wrote nothing more there")

    def temp_name(self, name: str) -> str:
        """The name of a temporary file of this run that becomes ``name``: recognised as the
        run's own by the folder's token, never by its shape alone."""
        return f".{name}.tmp-{self.token}"

    def clean(self) -> None:
        """Remove the temporary files that a killed run of this folder left (only names with
        the folder's token)."""
        for leftover in self.out.glob(f".*.tmp-{self.token}*"):
            if leftover.is_file() and not leftover.is_symlink():
                leftover.unlink(missing_ok=True)


# ---------------------------------------------------------------------------- single files


class FileReservation(_Held):
    """One output file held for a command (see :func:`reserve_file`)."""

    def __init__(self, path: Path, replaceable: Callable[[bytes], bool], option: str,
                 lock: FolderLock) -> None:
        self.path, self.replaceable, self.option = path, replaceable, option
        self._lock: FolderLock | None = lock

    def write_text(self, text: str) -> Path:
        """Write ``text`` to a temporary file beside the target, then put it in place (checking
        again that the target may be replaced)."""
        assert self._lock is not None
        path, token = self.path, new_token()
        tmp = path.absolute().parent / f".{path.name}.tmp-{token}"
        try:
            self._lock.record("tmp", tmp.name, token)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            problem = _file_problem(path, self.replaceable, self.option)
            if problem is None:
                if _state(path) != "missing":
                    os.replace(tmp, path)
                    return path
                if _move_to_free(tmp, path):  # fails if something appeared there meanwhile
                    return path
                problem = f"{self.option}: {_show(path)} appeared while the run was writing"
            kept = path.with_name(f"{path.name}.kept-{token[:8]}")
            os.replace(tmp, kept)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise AbmHeteroError(f"{self.option}: cannot write {_show(path)}: {_reason(exc)}"
                                 ) from None
        raise AbmHeteroError(f"{problem}; what was finished is in {_show(kept)}")


def _file_problem(path: Path, replaceable: Callable[[bytes], bool], option: str) -> str | None:
    state = _state(path)
    if state == "missing":
        return None
    if state == "link":
        return f"{option}: {_show(path)} is a symbolic link; nothing was changed"
    if state != "file":
        return f"{option}: {_show(path)} is a folder; give a file name"
    try:
        content = path.read_bytes()
    except OSError as exc:
        return f"{option}: cannot read {_show(path)}: {_reason(exc)}"
    if content and not replaceable(content):
        return (f"{option}: {_show(path)} exists and was not written by abm-hetero; nothing "
                "was changed; choose another file name")
    return None


def reserve_file(path: str | Path, replaceable: Callable[[bytes], bool],
                 option: str = "--json") -> FileReservation:
    """Hold the output file ``path`` for a command, before any work: its folder must exist,
    and an existing file is replaced only if empty or if ``replaceable(content)`` says the
    package wrote it. Locked like a folder; written by :meth:`FileReservation.write_text`."""
    target = check_path(path, option, noun="file")
    parent = target.absolute().parent
    if not parent.is_dir():
        raise AbmHeteroError(f"{option}: folder {_show(parent)} does not exist")
    problem = _file_problem(target, replaceable, option)
    if problem:
        raise AbmHeteroError(problem)
    lock = hold(target)
    try:
        try:
            lock.clean()
        except OSError as exc:
            raise AbmHeteroError(f"{option}: cannot write {_show(target)}: {_reason(exc)}"
                                 ) from None
    except BaseException:
        lock.release()
        raise
    return FileReservation(target, replaceable, option, lock)


# ---------------------------------------------------------------------------- run folders


def save_run(model, folder: Path) -> None:
    """Write a finished model's data and settings into the existing folder ``folder``."""
    model.market_frame().to_csv(folder / "market.csv")
    model.trader_frame().to_csv(folder / "traders.csv", index=False)
    model.trade_frame().to_csv(folder / "trades.csv", index=False)
    model.order_frame().to_csv(folder / "orders.csv", index=False)
    (folder / "settings.json").write_text(json.dumps(model.settings.to_dict(), indent=2) + "\n")


def write_run(model, out: str | Path, overwrite: bool = False) -> Path:
    """Write a finished model's data and settings to the folder ``out`` (see module doc);
    ``overwrite`` replaces an earlier output of the package there."""
    return write_atomically(out, lambda tmp: save_run(model, tmp), kind="simulation",
                            overwrite=overwrite)


def read_run(folder: str | Path) -> dict[str, pd.DataFrame | dict]:
    """Read a run folder back: the four tables as DataFrames and the settings as a dict."""
    folder = Path(folder)
    missing = [f for f in FILES if not (folder / f).is_file()]
    if missing:
        raise AbmHeteroError(f"{folder} is not a run folder: missing {', '.join(missing)}")
    out: dict[str, pd.DataFrame | dict] = {
        name.removesuffix(".csv"): pd.read_csv(folder / name) for name in FILES[:4]
    }
    out["settings"] = json.loads((folder / "settings.json").read_text())
    return out
