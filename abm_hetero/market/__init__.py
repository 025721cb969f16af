"""Market substrate: order book, fundamental value, price series and logs (no Mesa, no torch)."""

from .accounts import Accounts
from .compiled import CompiledOrderBook
from .fundamental import FundamentalProcess
from .history import EwmaVariance, ReturnWindows, SeriesBuffer, raw_log_returns
from .logs import OrderLog, TradeLog
from .order_book import BUY, CLEARING_RULES, SELL, Fill, Order, OrderBook, to_ticks

__all__ = [
    "Accounts", "CompiledOrderBook", "BUY", "SELL", "CLEARING_RULES", "Fill", "Order", "OrderBook",
    "to_ticks",
    "FundamentalProcess", "EwmaVariance", "ReturnWindows", "SeriesBuffer", "OrderLog", "TradeLog",
    "raw_log_returns",
]
