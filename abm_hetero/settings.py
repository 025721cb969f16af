"""Validated settings of a market run, readable from and writable to JSON, TOML or YAML.

A :class:`Settings` object fully determines a run: the same settings (seed included) give the
same run, bit for bit. ``abm-hetero simulate`` saves the settings it ran with beside the data.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .agents.registry import TRADER_KINDS, params_class
from .config_io import build_dataclass, read_mapping, to_plain, write_mapping
from .errors import SettingsError
from .market import CLEARING_RULES
from .traits import (
    Distribution,
    TraitDistribution,
    Uniform,
    distribution_from_dict,
    heterogeneous,
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
    #: tick (0 turns the band and the backstop off; see agents/market_maker.py)
    price_band: float = 0.01
    #: shares the market maker keeps bid and offered at the band's edges (0: none)
    backstop_volume: int = 1
    #: the market maker also quotes a tighter spread as a dealer
    maker_quotes: bool = False
    maker_half_spread: float = 0.001
    maker_quote_volume: int = 5
    maker_inventory_limit: int = 500
    maker_cash: float = 0.0

    def __post_init__(self) -> None:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise SettingsError(f"market.{msg}")

        need(self.initial_price > 0, f"initial_price must be > 0, got {self.initial_price}")
        need(0 < self.tick_size < self.initial_price, f"tick_size must be in (0, initial_price),"
             f" got {self.tick_size}")
        need(self.clearing in CLEARING_RULES,
             f"clearing must be one of {', '.join(CLEARING_RULES)}, got {self.clearing!r}")
        need(self.fundamental_volatility >= 0, "fundamental_volatility must be >= 0")
        need(0 <= self.fundamental_jump_rate <= 1, "fundamental_jump_rate must be in [0, 1]")
        need(0 <= self.fundamental_jump_size < 1, "fundamental_jump_size must be in [0, 1)")
        r = self.fundamental_volatility_range
        need(r is None or (len(r) == 2 and 0 <= r[0] <= r[1]),
             f"fundamental_volatility_range must be [low, high] with 0 <= low <= high, got {r}")
        need(0 < self.depth_range < 1, "depth_range must be in (0, 1)")
        need(self.depth_decay >= 0, "depth_decay must be >= 0")
        need(0 <= self.price_band < 0.5, f"price_band must be in [0, 0.5), got {self.price_band}")
        need(self.backstop_volume >= 0, "backstop_volume must be >= 0")
        need(0 < self.maker_half_spread < 0.5, "maker_half_spread must be in (0, 0.5)")
        need(self.maker_quote_volume >= 1, "maker_quote_volume must be >= 1")
        need(self.maker_inventory_limit >= 1, "maker_inventory_limit must be >= 1")


@dataclass
class TraderGroupSettings:
    """One group of traders of the same kind."""

    kind: str
    count: int
    #: a preset name ("heterogeneous", "homogeneous") or a table of distributions
    traits: TraitDistribution = field(default_factory=heterogeneous)
    #: probability that a trader acts in a tick
    activity_rate: float = 0.1
    cash: Distribution = field(default_factory=lambda: Uniform(10000.0, 30000.0))
    #: initial holding (drawn, then truncated to a whole number)
    shares: Distribution = field(default_factory=lambda: Uniform(0.0, 100.0))
    #: kind-specific parameters (see the kind's Params class)
    params: Any = None

    def __post_init__(self) -> None:
        if self.kind not in TRADER_KINDS:
            raise SettingsError(
                f"traders: unknown kind {self.kind!r}; choose one of {', '.join(TRADER_KINDS)}"
            )
        if self.count < 1:
            raise SettingsError(f"traders ({self.kind}): count must be >= 1, got {self.count}")
        if not 0 < self.activity_rate <= 1:
            raise SettingsError(
                f"traders ({self.kind}): activity_rate must be in (0, 1], got {self.activity_rate}"
            )
        where = f"traders ({self.kind})"
        self.traits = TraitDistribution.from_dict(self.traits, f"{where}.traits")
        self.cash = distribution_from_dict(self.cash, f"{where}.cash")
        self.shares = distribution_from_dict(self.shares, f"{where}.shares")
        cls = params_class(self.kind)
        self.params = build_dataclass(cls, {} if self.params is None else self.params,
                                      f"traders ({self.kind}).params")


@dataclass
class Settings:
    """Everything that defines a run."""

    name: str = "custom"
    seed: int = 0
    ticks: int = 2000
    market: MarketSettings = field(default_factory=MarketSettings)
    traders: list[TraderGroupSettings] = field(default_factory=list)
    #: one decision pass per group and tick (True) or each trader deciding alone (False)
    batched: bool = True
    #: collect per-trader records every this many ticks
    trader_report_period: int = 100

    def __post_init__(self) -> None:
        if self.ticks < 1:
            raise SettingsError(f"ticks must be >= 1, got {self.ticks}")
        if self.trader_report_period < 1:
            raise SettingsError("trader_report_period must be >= 1")
        if not self.traders:
            raise SettingsError("traders: at least one group of traders is needed")
        if not 0 <= self.seed < 2**63:
            raise SettingsError(f"seed must be a whole number >= 0, got {self.seed}")

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
