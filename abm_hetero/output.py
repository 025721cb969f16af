"""Writing a run to a folder, and reading it back.

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

The folder is written under a temporary name beside ``--out`` and swapped into place in one
atomic step when complete, so an interrupted or failed run never leaves a half-written folder
behind, and ``--force`` replaces an earlier run without a moment at which neither is there. Every
folder the package writes holds a ``.abm-hetero`` marker file; ``--force`` refuses to replace a
folder without one.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from .errors import AbmHeteroError

FILES = ("market.csv", "traders.csv", "trades.csv", "orders.csv", "settings.json")
#: every folder the package writes holds this file; ``--force`` replaces only such folders
MARKER = ".abm-hetero"


def _is_ours(folder: Path) -> bool:
    return (folder / MARKER).is_file()


def check_output_dir(out: str | Path, overwrite: bool = False) -> Path:
    """Fail early (before any work) if ``out`` cannot be written or must not be replaced.

    ``out`` may be missing (its parent folders are created) or an empty folder. A non-empty
    folder is replaced only with ``overwrite`` and only if the package wrote it (it holds the
    marker file): ``--force`` never deletes anything else.
    """
    out = Path(out)
    name = str(out)
    if "\0" in name:
        raise AbmHeteroError(f"output folder name contains a NUL byte: {name!r}")
    if out.name in ("", ".", ".."):
        raise AbmHeteroError(f"output folder {name!r} names no folder of its own; give a new "
                             "folder name, for example runs/my-run")
    if out.exists() and not out.is_dir():
        raise AbmHeteroError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise AbmHeteroError(f"{out} already exists and is not empty (use --force to "
                                 "replace an earlier run)")
        if not _is_ours(out):
            raise AbmHeteroError(f"--force replaces only a folder written by abm-hetero, and "
                                 f"{out} is not one (it has no {MARKER} file); nothing was "
                                 "deleted; choose another --out")
    parent = out.absolute().parent
    for folder in (parent, *parent.parents):
        if folder.exists():
            if not folder.is_dir():
                raise AbmHeteroError(f"cannot write {out}: {folder} is a file, not a folder")
            break
    try:
        parent.mkdir(parents=True, exist_ok=True)
        probe = tempfile.mkdtemp(prefix=f".{out.name}.probe-", dir=parent)
        os.rmdir(probe)
    except OSError as exc:
        raise AbmHeteroError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out


def mark(folder: Path, kind: str) -> None:
    """Write the marker file that says the package wrote ``folder`` (and what it holds)."""
    (Path(folder) / MARKER).write_text(json.dumps({"written_by": "abm-hetero",
                                                   "kind": kind}) + "\n")


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2``); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    return result == 0


def clean_leftovers(out: str | Path) -> None:
    """Remove the temporary folders an interrupted write left beside ``out``; an earlier run
    that was moved aside (where no atomic swap exists) and never replaced is moved back."""
    out = Path(out)
    parent = out.absolute().parent
    if not parent.is_dir():
        return
    aside = sorted(parent.glob(f".{out.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if not out.exists() and aside and _is_ours(aside[-1]):
        aside[-1].rename(out)
    for leftover in parent.glob(f".{out.name}.*"):
        if leftover.is_dir() and (leftover.name.startswith(f".{out.name}.tmp-")
                                  or leftover.name.startswith(f".{out.name}.old-")):
            shutil.rmtree(leftover, ignore_errors=True)


def write_atomically(out: str | Path, write: Callable[[Path], None], kind: str = "run"
                     ) -> Path:
    """Call ``write(tmp)`` on a fresh temporary folder beside ``out``, mark it, then put it at
    ``out`` in one atomic step: a kill at any moment leaves either the old folder or the new
    one at ``out``, never a half-deleted one. Leftovers of interrupted writes are cleaned."""
    out = Path(out)
    parent = out.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    try:
        write(tmp)
        mark(tmp, kind)
        if out.exists() and any(out.iterdir()):
            if not _exchange(tmp, out):  # no atomic swap here: move the old folder aside
                old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=parent))
                old.rmdir()
                out.rename(old)
                tmp.rename(out)
                tmp = old
            shutil.rmtree(tmp, ignore_errors=True)  # the old run, now beside ``out``
        else:
            if out.exists():
                out.rmdir()
            tmp.rename(out)
    except BaseException:
        if tmp.exists() and tmp != out:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def write_run(model, out: str | Path) -> Path:
    """Write a finished model's data and settings to the folder ``out`` (see module doc)."""

    def write(tmp: Path) -> None:
        model.market_frame().to_csv(tmp / "market.csv")
        model.trader_frame().to_csv(tmp / "traders.csv", index=False)
        model.trade_frame().to_csv(tmp / "trades.csv", index=False)
        model.order_frame().to_csv(tmp / "orders.csv", index=False)
        (tmp / "settings.json").write_text(json.dumps(model.settings.to_dict(), indent=2) + "\n")

    return write_atomically(out, write, kind="simulation")


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
