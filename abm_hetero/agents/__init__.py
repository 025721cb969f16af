"""Mesa agents: the market maker (the exchange), an optional dealer, and the traders
(rule-based here; learning traders in ``learning``, imported on use because it needs torch)."""

from .base import OrderBatch, Trader, TraderGroup
from .dealer import Dealer, QuoteRule
from .fcn import FCNGroup, FCNParams, FCNTrader
from .market_maker import MarketMaker, MarketState
from .zero_intelligence import (
    ZeroIntelligenceGroup,
    ZeroIntelligenceParams,
    ZeroIntelligenceTrader,
)

__all__ = [
    "OrderBatch", "Trader", "TraderGroup", "Dealer", "FCNGroup", "FCNParams", "FCNTrader",
    "MarketMaker", "MarketState", "QuoteRule", "ZeroIntelligenceGroup",
    "ZeroIntelligenceParams", "ZeroIntelligenceTrader",
]
