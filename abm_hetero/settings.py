"""Validated settings of a market run, readable from and writable to JSON, TOML or YAML.

A :class:`Settings` object fully determines a run: the same settings (seed included) give the
same run, bit for bit. ``abm-hetero simulate`` saves the settings it ran with beside the data.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .agents.registry import TRADER_KINDS, params_class
from .config_io import build_dataclass, read_mapping, to_plain, write_mapping
from .defaults import CORES, TICKS
from .distributions import Distribution, Uniform, distribution_from_dict
from .errors import SettingsError
from .market import CLEARING_RULES
from .traits import TraitDistribution, heterogeneous
from .validation import (
    MAX_COUNT,
    MAX_MONEY,
    MAX_SHARES,
    MAX_TICKS,
    MAX_TICKS_PER_PRICE,
    check,
    check_ranges,
)


@dataclass
class MarketSettings:
    """The market: prices, the fundamental process, book observation and the maker's quotes."""

    initial_price: float = 300.0
    tick_size: float = 1e-4
    #: "resting" (each fill at the resting order's price) or "last_level" (the reference's rule)
    clearing: str = "resting"
    fundamental_drift: float = 0.0
    fundamental_volatility: float = 0.001
    #: if set, [low, high]: the volatility is drawn uniformly from it for every run/episode
    fundamental_volatility_range: list[float] | None = None
    #: news: with this probability per tick the log fundamental jumps by N(0, jump_size^2)
    fundamental_jump_rate: float = 0.0
    fundamental_jump_size: float = 0.0
    #: resting volume within this fraction of the mid counts as depth
    depth_range: float = 0.05
    depth_decay: float = 100.0
    #: price collar: no order trades or rests more than this fraction beyond the last reference
    #: price in its aggressive direction, so the reference price moves at most this much per
    #: tick (0 turns the band and the backstop off; see agents/exchange.py)
    price_band: float = 0.01
    #: shares the market maker keeps bid and offered at the band's edges (0: none)
    backstop_volume: int = 1
    #: the market maker also quotes a tighter spread as a dealer
    maker_quotes: bool = False
    maker_half_spread: float = 0.001
    maker_quote_volume: int = 5
    maker_inventory_limit: int = 500
    maker_cash: float = 0.0

    #: field: (low, high[, (low open, high open)]), checked before anything runs
    RANGES: ClassVar[dict] = {
        "initial_price": (0.0, 1e9, (True, False)),
        "tick_size": (1e-9, 1e6),
        "fundamental_drift": (-0.01, 0.01),
        "fundamental_volatility": (0.0, 0.1),
        "fundamental_jump_rate": (0.0, 1.0),
        "fundamental_jump_size": (0.0, 0.5),
        "depth_range": (0.0, 1.0, (True, True)),
        "depth_decay": (0.0, 1e4),
        "price_band": (0.0, 0.5, (False, True)),
        "backstop_volume": (0, MAX_COUNT),
        "maker_half_spread": (0.0, 0.5, (True, True)),
        "maker_quote_volume": (1, MAX_COUNT),
        "maker_inventory_limit": (1, MAX_SHARES),
        "maker_cash": (-MAX_MONEY, MAX_MONEY),
    }

    def __post_init__(self) -> None:
        check_ranges(self, "market.")
        check(self.tick_size < self.initial_price
              and self.initial_price / self.tick_size <= MAX_TICKS_PER_PRICE,
              f"market.tick_size must be below initial_price and at least initial_price / "
              f"{MAX_TICKS_PER_PRICE:g}, got {self.tick_size:g}")
        check(self.clearing in CLEARING_RULES,
              f"market.clearing must be one of {', '.join(CLEARING_RULES)}, got "
              f"{self.clearing!r}")
        r = self.fundamental_volatility_range
        check(r is None or (len(r) == 2 and all(0 <= x <= 0.1 for x in r) and r[0] <= r[1]),
              "market.fundamental_volatility_range must be [low, high] with 0 <= low <= high "
              f"<= 0.1, got {r}")


def check_spread(dist: Distribution, where: str, limit: float) -> None:
    """A distribution's draws must stay within +-limit (its 1e-9 and 1 - 1e-9 quantiles)."""
    low, high = dist.quantile(1e-9), dist.quantile(1 - 1e-9)
    check(-limit <= low and high <= limit,
          f"{where}: a {dist.kind} distribution that reaches {low:g} to {high:g}; values must "
          f"stay within +-{limit:g}")


def check_name(name: str) -> None:
    """A run's name becomes part of a folder name: plain text, no path, no NUL byte."""
    check(isinstance(name, str) and 0 < len(name) <= 100 and name.isprintable()
          and not set(name) & set("/\\") and name.strip(".") != "",
          f"name must be 1-100 printable characters without / or \\ and not only dots, got "
          f"{name!r}")


@dataclass
class TraderGroupSettings:
    """One group of traders of the same kind."""

    kind: str
    count: int
    #: a preset name ("heterogeneous", "homogeneous") or a table of distributions
    traits: TraitDistribution = field(default_factory=heterogeneous)
    #: probability that a trader acts in a tick (at least once in the longest run allowed:
    #: a decision interval beyond it would be meaningless, and its inverse overflows)
    activity_rate: float = 0.1
    cash: Distribution = field(default_factory=lambda: Uniform(10000.0, 30000.0))
    #: initial holding (drawn, then truncated to a whole number)
    shares: Distribution = field(default_factory=lambda: Uniform(0.0, 100.0))
    #: kind-specific parameters (see the kind's Params class)
    params: Any = None

    RANGES: ClassVar[dict] = {"count": (1, MAX_COUNT),
                              "activity_rate": (1.0 / MAX_TICKS, 1.0)}

    def __post_init__(self) -> None:
        check(self.kind in TRADER_KINDS,
              f"traders: unknown kind {self.kind!r}; choose one of {', '.join(TRADER_KINDS)}")
        where = f"traders ({self.kind})"
        check_ranges(self, f"{where}.")
        self.traits = TraitDistribution.from_dict(self.traits, f"{where}.traits")
        self.cash = distribution_from_dict(self.cash, f"{where}.cash")
        self.shares = distribution_from_dict(self.shares, f"{where}.shares")
        check_spread(self.cash, f"{where}.cash", MAX_MONEY)
        check_spread(self.shares, f"{where}.shares", MAX_SHARES)
        cls = params_class(self.kind)
        self.params = build_dataclass(cls, {} if self.params is None else self.params,
                                      f"traders ({self.kind}).params")


@dataclass
class Settings:
    """Everything that defines a run."""

    name: str = "custom"
    seed: int = 0
    ticks: int = TICKS
    market: MarketSettings = field(default_factory=MarketSettings)
    traders: list[TraderGroupSettings] = field(default_factory=list)
    #: one decision pass per group and tick (True) or each trader deciding alone (False)
    batched: bool = True
    #: collect per-trader records every this many ticks
    trader_report_period: int = 100
    #: the market core: "compiled" (numba, the default) or "python" (the pure-Python
    #: executable specification the compiled core is tested against; docs/performance.md)
    core: str = "compiled"

    RANGES: ClassVar[dict] = {"seed": (0, 2 ** 63 - 1), "ticks": (1, MAX_TICKS),
                              "trader_report_period": (1, MAX_TICKS)}

    def __post_init__(self) -> None:
        check_ranges(self, "")
        check_name(self.name)
        check(self.core in CORES, f"core must be one of {', '.join(CORES)}, got {self.core!r}")
        check(bool(self.traders), "traders: at least one group of traders is needed")
        total = sum(g.count for g in self.traders)
        check(total <= MAX_COUNT, f"traders: at most {MAX_COUNT:,} traders in all, got "
                                  f"{total:,}")

    @property
    def n_traders(self) -> int:
        return sum(g.count for g in self.traders)

    def to_dict(self) -> dict[str, Any]:
        return to_plain({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})

    @classmethod
    def from_dict(cls, data: Any, where: str = "") -> Settings:
        return build_dataclass(cls, data, where)

    def save(self, path: str | Path) -> None:
        write_mapping(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Settings:
        data = read_mapping(path)
        try:
            return cls.from_dict(data)
        except SettingsError as exc:
            raise SettingsError(f"{path}: {exc}") from None

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)
