"""Cash and share holdings of every trader, as arrays that batched code reads at once."""

from __future__ import annotations

import numpy as np


class Accounts:
    """Row ``i`` is trader ``i``'s account. No budget or short-sale constraint is enforced:
    holdings may go negative, as in the reference; learning traders are penalised for it."""

    def __init__(self, cash: np.ndarray, shares: np.ndarray) -> None:
        if len(cash) != len(shares):
            raise ValueError("cash and shares need one entry per trader")
        self.cash = np.asarray(cash, dtype=np.float64).copy()
        self.shares = np.asarray(shares, dtype=np.int64).copy()

    def __len__(self) -> int:
        return len(self.cash)

    def settle(self, buyer: int, seller: int, price: float, volume: int) -> None:
        """Move ``price * volume`` cash from buyer to seller and ``volume`` shares back."""
        amount = price * volume
        self.cash[buyer] -= amount
        self.cash[seller] += amount
        self.shares[buyer] += volume
        self.shares[seller] -= volume

    def wealth(self, price: float) -> np.ndarray:
        """Mark-to-market wealth of every account at ``price``."""
        return self.cash + self.shares * price
