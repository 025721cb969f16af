"""Logs of trades and orders: one cheap append per row, compact storage, a DataFrame on request.

Rows are appended as tuples to a buffer (``add`` is the buffer's own ``append``: no Python call
in the hot loop); ``compact()``, called once a tick, packs a buffer of ``CHUNK`` rows or more into
a typed numpy array (8 bytes a field), so that a long run keeps about 64 bytes per order instead
of a Python tuple's few hundred.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CHUNK = 4096


class ColumnLog:
    """A table of typed columns, appended to row by row (``add((v1, v2, ...))``)."""

    columns: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ()

    def __init__(self) -> None:
        self._dtype = np.dtype(list(zip(self.columns, self.dtypes)))
        self._chunks: list[np.ndarray] = []
        self._rows: list[tuple] = []
        self._packed = 0
        #: append one row (a tuple in the order of ``columns``)
        self.add = self._rows.append

    def append(self, *values) -> None:
        self._rows.append(values)

    def compact(self) -> None:
        """Pack the buffered rows into a typed array once there are ``CHUNK`` of them."""
        rows = self._rows
        if len(rows) >= CHUNK:
            self._chunks.append(np.array(rows, dtype=self._dtype))
            self._packed += len(rows)
            rows.clear()

    def __len__(self) -> int:
        return self._packed + len(self._rows)

    def rows_from(self, start: int) -> np.ndarray:
        """The rows from index ``start`` on, as one typed array (for readers that follow the
        log as it grows)."""
        parts, offset = [], 0
        for chunk in self._chunks:
            if offset + len(chunk) > start:
                parts.append(chunk[max(0, start - offset):])
            offset += len(chunk)
        tail = self._rows[max(0, start - offset):]
        if tail:
            parts.append(np.array(tail, dtype=self._dtype))
        return np.concatenate(parts) if parts else np.empty(0, self._dtype)

    def to_frame(self) -> pd.DataFrame:
        parts = [*self._chunks, np.array(self._rows, dtype=self._dtype)]
        table = np.concatenate(parts)
        return pd.DataFrame({c: table[c] for c in self.columns}, columns=list(self.columns))


class TradeLog(ColumnLog):
    """One row per fill: ``resting_side`` is +1 if the bid rested (the seller took it)."""

    columns = ("time", "price", "volume", "buyer", "seller", "resting_side")
    dtypes = ("i8", "f8", "i8", "i8", "i8", "i8")


class OrderLog(ColumnLog):
    """One row per accepted order, with the mid price (NaN if undefined) when it arrived."""

    columns = ("time", "order_id", "trader", "side", "price", "volume", "ttl", "mid")
    dtypes = ("i8", "i8", "i8", "i8", "f8", "i8", "i8", "f8")
