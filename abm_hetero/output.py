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

The folder is written under a temporary name and renamed when complete, so an interrupted or
failed run never leaves a half-written folder behind.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from .errors import AbmHeteroError

FILES = ("market.csv", "traders.csv", "trades.csv", "orders.csv", "settings.json")


def check_output_dir(out: str | Path, overwrite: bool = False) -> Path:
    """Fail early (before any work) if ``out`` cannot be written."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise AbmHeteroError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise AbmHeteroError(f"{out} already exists and is not empty (use --force to replace it)")
    parent = out.resolve().parent
    if not parent.exists():
        try:
            parent.mkdir(parents=True)
        except OSError as exc:
            raise AbmHeteroError(f"cannot create {parent}: {exc.strerror}") from None
    return out


def write_atomically(out: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a fresh temporary folder beside ``out``, then move it to ``out``."""
    out = Path(out)
    parent = out.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    try:
        write(tmp)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
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

    return write_atomically(out, write)


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
