"""Zero-intelligence traders: random limit orders around the mid, the simplest control.

Each active trader buys or sells with equal probability, at ``m * exp(u)`` with
``u ~ U(-price_range, price_range)`` around the reference price ``m`` (the mid, or the market
price when a side of the book is empty), for a volume uniform on ``1..max_volume``. The
orders rest for ``ttl`` ticks. Traits are carried (for mixing and analysis) but not used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ..market import BUY, SELL
from ..validation import MAX_COUNT, MAX_TICKS, check_ranges
from .base import OrderBatch, Trader, TraderGroup

if TYPE_CHECKING:
    from ..model import MarketModel


@dataclass
class ZeroIntelligenceParams:
    price_range: float = 0.01
    max_volume: int = 5
    ttl: int = 10

    RANGES: ClassVar[dict] = {"price_range": (0.0, 1.0, (True, True)),
                              "max_volume": (1, MAX_COUNT), "ttl": (0, MAX_TICKS)}

    def __post_init__(self) -> None:
        check_ranges(self, "zero-intelligence.")


class ZeroIntelligenceTrader(Trader):
    """A trader that submits random limit orders around the mid."""


class ZeroIntelligenceGroup(TraderGroup):
    """The zero-intelligence traders of a market, deciding together each tick."""

    kind = "zero-intelligence"
    agent_class = ZeroIntelligenceTrader

    def decide(self, model: MarketModel, active: np.ndarray) -> OrderBatch:
        """A random side, price and volume for each active trader (module docstring)."""
        p = self.params
        n = len(active)
        rng = model.rng
        ref = model.exchange.reference_price()
        sides = np.where(rng.random(n) < 0.5, BUY, SELL)
        prices = ref * np.exp(rng.uniform(-p.price_range, p.price_range, n))
        volumes = rng.integers(1, p.max_volume + 1, n)
        return OrderBatch(self.rows[active], sides, prices, volumes, np.full(n, p.ttl))
