"""abm-hetero: a stock market whose traders have heterogeneous preferences and learn to trade.

Layers, lowest first (docs/architecture.md): foundations (settings checks, distributions, the
trait registry, the output-folder rule), ``market`` (order book, accounts, fundamental, price
returns; no Mesa, no torch), ``learning`` (observer, reward, the shared actor-critic, PPO's
update, checkpoints), ``agents`` (the exchange, the dealer that makes the market, FCN,
zero-intelligence and learning traders), ``settings`` and ``scenarios``, ``model``
(``MarketModel``), ``training`` (episodes, the worker engine, the PPO loop), ``experiments``
(run scenarios), ``analysis`` (stylized facts, behaviour, niches, diagnostics, calibration, the
report), and the interfaces: ``cli`` with ``commands``, ``viz``, ``envs``, ``bench``.
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
