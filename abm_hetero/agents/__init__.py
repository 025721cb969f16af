"""Mesa agents: the exchange, an optional dealer (the market maker), and the traders
(rule-based here; learning traders in ``learning``, imported on use because it needs torch)."""

from .base import OrderBatch, Trader, TraderGroup
from .dealer import Dealer, QuoteRule
from .exchange import Exchange, MarketState
from .fcn import FCNGroup, FCNParams, FCNTrader
from .zero_intelligence import (
    ZeroIntelligenceGroup,
    ZeroIntelligenceParams,
    ZeroIntelligenceTrader,
)

__all__ = [
    "OrderBatch", "Trader", "TraderGroup", "Dealer", "FCNGroup", "FCNParams", "FCNTrader",
    "Exchange", "MarketState", "QuoteRule", "ZeroIntelligenceGroup",
    "ZeroIntelligenceParams", "ZeroIntelligenceTrader",
]
