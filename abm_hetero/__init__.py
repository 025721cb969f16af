"""abm-hetero: a stock market whose traders have heterogeneous preferences and learn to trade.

Layers, lowest first (docs/architecture.md): foundations (settings checks, distributions,
traits, output), ``market`` (order book, accounts, fundamental; no Mesa, no torch), ``policy``
(the shared actor-critic, PPO, checkpoints), ``agents`` (the market maker, a dealer, FCN,
zero-intelligence and learning traders), ``settings`` and ``scenarios``, ``model``
(``MarketModel``), ``experiments`` (run scenarios), ``analysis`` (stylized facts, behaviour,
niches, diagnostics, calibration, the report) and training, and the interfaces: ``cli``,
``viz``, ``bench``.
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
