"""Real price series to compare simulated markets with.

* ``sp500`` and ``nasdaq``: daily S&P 500 and NASDAQ Composite, 1999-2018, shipped with the
  ``arch`` package (adjusted close and volume).
* a user's own CSV: a time column, a price column and optionally a volume column. Columns are
  found by name (``date``/``time``/``timestamp``..., ``adj close``/``close``/``price``...,
  ``volume``) or given explicitly; a bad file gets an error naming the column or line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..market import raw_log_returns
from .stylized_facts import AnalysisError, log_returns

BUILTIN = ("sp500", "nasdaq")
TIME_NAMES = ("date", "datetime", "time", "timestamp")
PRICE_NAMES = ("adj close", "adj_close", "adjclose", "close", "price", "last", "mid")
VOLUME_NAMES = ("volume", "vol")


@dataclass
class PriceSeries:
    """A named price series with optional volume, indexed by time."""

    name: str
    prices: pd.Series
    volume: pd.Series | None = None

    def returns(self) -> np.ndarray:
        return log_returns(self.prices.to_numpy())

    def return_volume(self) -> np.ndarray | None:
        """Volume aligned with :meth:`returns` (the volume of each return's period)."""
        if self.volume is None:
            return None
        p = self.prices.to_numpy(float)
        v = self.volume.to_numpy(float)[1:]
        return v[np.isfinite(raw_log_returns(p))]


def load_builtin(name: str) -> PriceSeries:
    """The S&P 500 (``"sp500"``) or NASDAQ (``"nasdaq"``) series that ship with ``arch``."""
    if name not in BUILTIN:
        raise AnalysisError(f"unknown reference series {name!r}; built in: {', '.join(BUILTIN)}")
    import importlib

    df = importlib.import_module(f"arch.data.{name}").load()
    label = {"sp500": "S&P 500", "nasdaq": "NASDAQ"}[name]
    return PriceSeries(label, df["Adj Close"].astype(float), df["Volume"].astype(float))


def _find(columns: list[str], wanted: str | None, names: tuple[str, ...], what: str,
          path: Path, required: bool = True) -> str | None:
    if wanted is not None:
        if wanted not in columns:
            raise AnalysisError(
                f"{path}: no column {wanted!r} (columns: {', '.join(columns)})")
        return wanted
    lower = {c.strip().lower(): c for c in columns}
    for name in names:
        if name in lower:
            return lower[name]
    if required:
        raise AnalysisError(
            f"{path}: no {what} column; name one of {', '.join(names)} or pass it explicitly "
            f"(columns: {', '.join(columns)})"
        )
    return None


def load_csv(path: str | Path, time_column: str | None = None,
             price_column: str | None = None, volume_column: str | None = None) -> PriceSeries:
    """Read a user's CSV of prices; errors name the file and the column or line at fault."""
    path = Path(path)
    if not path.is_file():
        raise AnalysisError(f"{path}: no such file")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise AnalysisError(f"{path}: not a readable CSV file ({str(exc).splitlines()[0]})"
                            ) from None
    columns = [str(c) for c in df.columns]
    tcol = _find(columns, time_column, TIME_NAMES, "time", path)
    pcol = _find(columns, price_column, PRICE_NAMES, "price", path)
    vcol = _find(columns, volume_column, VOLUME_NAMES, "volume", path, required=False)

    def numeric(col: str) -> pd.Series:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() & df[col].notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise AnalysisError(f"{path}: line {i + 2}, column {col!r}: not a number: "
                                f"{df[col].iloc[i]!r}")
        return values.astype(float)

    prices = numeric(pcol)
    nonpos = prices <= 0
    if nonpos.any():
        i = int(np.flatnonzero(nonpos.to_numpy())[0])
        raise AnalysisError(f"{path}: line {i + 2}, column {pcol!r}: prices must be positive, "
                            f"got {prices.iloc[i]:g}")
    times = pd.to_datetime(df[tcol], errors="coerce", format="mixed")
    bad = times.isna() & df[tcol].notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise AnalysisError(f"{path}: line {i + 2}, column {tcol!r}: not a date or time: "
                            f"{df[tcol].iloc[i]!r}")
    if len(df) < 3:
        raise AnalysisError(f"{path}: needs at least 3 rows of prices, got {len(df)}")
    prices.index = times
    volume = None
    if vcol is not None:
        volume = numeric(vcol)
        volume.index = times
    if not prices.index.is_monotonic_increasing:
        order = np.argsort(prices.index.to_numpy(), kind="stable")
        prices = prices.iloc[order]
        volume = None if volume is None else volume.iloc[order]
    return PriceSeries(path.stem, prices, volume)


def load_reference(spec: str | Path) -> PriceSeries:
    """``"sp500"``, ``"nasdaq"`` or the path of a CSV file."""
    if str(spec) in BUILTIN:
        return load_builtin(str(spec))
    return load_csv(spec)
