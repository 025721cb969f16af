"""Column-wise logs of trades and orders: appends of plain numbers, a DataFrame on request."""

from __future__ import annotations

import pandas as pd


class ColumnLog:
    """A table kept as one Python list per column, cheap to append to in a hot loop."""

    columns: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.data: dict[str, list] = {c: [] for c in self.columns}
        # bound appends, looked up once
        self._appends = tuple(self.data[c].append for c in self.columns)

    def append(self, *values) -> None:
        for add, v in zip(self._appends, values):
            add(v)

    def __len__(self) -> int:
        return len(self.data[self.columns[0]])

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.data, columns=list(self.columns))


class TradeLog(ColumnLog):
    """One row per fill: ``resting_side`` is "buy" if the bid rested (the seller took it)."""

    columns = ("time", "price", "volume", "buyer", "seller", "resting_side")


class OrderLog(ColumnLog):
    """One row per accepted order, with the mid price (NaN if undefined) when it arrived."""

    columns = ("time", "order_id", "trader", "side", "price", "volume", "ttl", "mid")
