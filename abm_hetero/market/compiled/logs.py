"""Order and trade logs kept in growable arrays that the compiled placement writes into.

Same reading interface as :class:`~abm_hetero.market.logs.ColumnLog` (``len``, ``rows_from``,
``to_frame``, ``compact``, ``append``) and the same columns and dtypes, so readers of the
logs cannot tell the cores apart. Integer columns live in one int64 array and float columns in
one float64 array; ``count`` rows are used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..logs import OrderLog, TradeLog


class ArrayLog:
    """A table whose int and float columns are two 2-D arrays, grown by doubling."""

    columns: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ()

    def __init__(self, capacity: int = 1024) -> None:
        self._dtype = np.dtype(list(zip(self.columns, self.dtypes)))
        self._int_names = [c for c, d in zip(self.columns, self.dtypes) if d == "i8"]
        self._float_names = [c for c, d in zip(self.columns, self.dtypes) if d == "f8"]
        self.ints = np.zeros((capacity, len(self._int_names)), dtype=np.int64)
        self.floats = np.zeros((capacity, len(self._float_names)), dtype=np.float64)
        self.count = 0

    def reserve(self, rows: int) -> None:
        """Make room for ``rows`` more rows."""
        need = self.count + rows
        if need > len(self.ints):
            size = max(need, 2 * len(self.ints))
            ints = np.zeros((size, self.ints.shape[1]), dtype=np.int64)
            floats = np.zeros((size, self.floats.shape[1]), dtype=np.float64)
            ints[: self.count] = self.ints[: self.count]
            floats[: self.count] = self.floats[: self.count]
            self.ints, self.floats = ints, floats

    def append(self, *values) -> None:
        """Append one row (values in the order of ``columns``)."""
        self.reserve(1)
        row = dict(zip(self.columns, values))
        self.ints[self.count] = [row[c] for c in self._int_names]
        self.floats[self.count] = [row[c] for c in self._float_names]
        self.count += 1

    def add(self, row: tuple) -> None:
        self.append(*row)

    def compact(self) -> None:
        """Nothing to pack: rows are stored typed already."""

    def __len__(self) -> int:
        return self.count

    def rows_from(self, start: int) -> np.ndarray:
        """The rows from index ``start`` on, as one typed array."""
        start = min(max(0, start), self.count)
        table = np.empty(self.count - start, dtype=self._dtype)
        for j, c in enumerate(self._int_names):
            table[c] = self.ints[start: self.count, j]
        for j, c in enumerate(self._float_names):
            table[c] = self.floats[start: self.count, j]
        return table

    def to_frame(self) -> pd.DataFrame:
        table = self.rows_from(0)
        return pd.DataFrame({c: table[c] for c in self.columns}, columns=list(self.columns))


class ArrayTradeLog(ArrayLog):
    """:class:`~abm_hetero.market.logs.TradeLog`'s columns; ints ``(time, volume, buyer,
    seller, resting_side)``, floats ``(price,)``."""

    columns = TradeLog.columns
    dtypes = TradeLog.dtypes


class ArrayOrderLog(ArrayLog):
    """:class:`~abm_hetero.market.logs.OrderLog`'s columns; ints ``(time, order_id, trader,
    side, volume, ttl)``, floats ``(price, mid)``."""

    columns = OrderLog.columns
    dtypes = OrderLog.dtypes
