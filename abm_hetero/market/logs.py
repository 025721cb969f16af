"""Column-wise logs of trades and orders: appends of plain numbers, a DataFrame on request."""

from __future__ import annotations

import pandas as pd


class ColumnLog:
    """A table kept as a list of row tuples, cheap to append to in a hot loop (one append per
    row); the columns are built when a DataFrame is asked for."""

    columns: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.rows: list[tuple] = []
        self.add = self.rows.append  # ``log.add((v1, v2, ...))``: one row

    def append(self, *values) -> None:
        self.rows.append(values)

    def __len__(self) -> int:
        return len(self.rows)

    def to_frame(self) -> pd.DataFrame:
        if not self.rows:
            return pd.DataFrame({c: [] for c in self.columns}, columns=list(self.columns))
        return pd.DataFrame({c: list(v) for c, v in zip(self.columns, zip(*self.rows))},
                            columns=list(self.columns))


class TradeLog(ColumnLog):
    """One row per fill: ``resting_side`` is "buy" if the bid rested (the seller took it)."""

    columns = ("time", "price", "volume", "buyer", "seller", "resting_side")


class OrderLog(ColumnLog):
    """One row per accepted order, with the mid price (NaN if undefined) when it arrived."""

    columns = ("time", "order_id", "trader", "side", "price", "volume", "ttl", "mid")
