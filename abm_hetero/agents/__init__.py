"""Mesa agents: the market maker and the traders (rule-based here; learning in ``learning``)."""

from .base import OrderBatch, Trader, TraderGroup
from .fcn import FCNGroup, FCNParams, FCNTrader
from .market_maker import MarketMaker, MarketState, QuoteRule
from .zero_intelligence import (
    ZeroIntelligenceGroup,
    ZeroIntelligenceParams,
    ZeroIntelligenceTrader,
)

__all__ = [
    "OrderBatch", "Trader", "TraderGroup", "FCNGroup", "FCNParams", "FCNTrader", "MarketMaker",
    "MarketState", "QuoteRule", "ZeroIntelligenceGroup", "ZeroIntelligenceParams",
    "ZeroIntelligenceTrader",
]
