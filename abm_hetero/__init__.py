"""abm-hetero: a stock market whose traders have heterogeneous preferences and learn to trade.

The package is layered: ``market`` (order book, fundamental), ``traits``, ``agents`` (Mesa
agents), ``model`` (``MarketModel``), ``scenarios`` (named populations) and ``cli``.
"""

from .errors import AbmHeteroError, InvalidOrderError, SettingsError
from .model import MarketModel
from .scenarios import scenario
from .settings import MarketSettings, Settings, TraderGroupSettings
from .traits import TraitDistribution, Traits

__version__ = "0.1.0"

__all__ = [
    "AbmHeteroError", "InvalidOrderError", "SettingsError", "MarketModel", "scenario",
    "MarketSettings", "Settings", "TraderGroupSettings", "TraitDistribution", "Traits",
]
