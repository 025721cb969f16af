"""Named populations ("scenarios"): ready-made settings over the same market.

``learned-heterogeneous`` and ``learned-homogeneous`` are learning traders acting through the
shipped policies (trained on heterogeneous and on homogeneous traits with the same means);
``fcn`` and ``zero-intelligence`` are the non-learning controls. Every scenario uses the same
market settings, so that differences between scenarios come from the traders alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .defaults import TICKS, TRADERS, TRAIT_PRESET
from .distributions import Exponential
from .errors import SettingsError
from .settings import MarketSettings, Settings, TraderGroupSettings


def _fcn(n: int) -> list[TraderGroupSettings]:
    return [TraderGroupSettings(kind="fcn", count=n, traits="heterogeneous")]


def _zero_intelligence(n: int) -> list[TraderGroupSettings]:
    return [TraderGroupSettings(kind="zero-intelligence", count=n, traits="heterogeneous")]


def learning_group(
    count: int, traits: Any = TRAIT_PRESET, policy: str = TRAIT_PRESET,
    activity_rate: float = 0.1, **params: Any,
) -> TraderGroupSettings:
    """A group of learning traders with the reference's cash and holdings (exponential, means
    15,000 and 20) acting through ``policy`` (a shipped policy name or a checkpoint path)."""
    return TraderGroupSettings(
        kind="learning", count=count, traits=traits, activity_rate=activity_rate,
        cash=Exponential(15000.0), shares=Exponential(20.0), params={"policy": policy, **params},
    )


_POPULATIONS: dict[str, Callable[[int], list[TraderGroupSettings]]] = {
    "learned-heterogeneous": lambda n: [learning_group(n, "heterogeneous", "heterogeneous")],
    "learned-homogeneous": lambda n: [learning_group(n, "homogeneous", "homogeneous")],
    "fcn": _fcn,
    "zero-intelligence": _zero_intelligence,
}
POPULATIONS = tuple(_POPULATIONS)


def scenario(
    name: str, *, traders: int = TRADERS, ticks: int = TICKS, seed: int = 0,
    market: MarketSettings | None = None, **changes: Any,
) -> Settings:
    """Settings of the named population over the default market."""
    if name not in _POPULATIONS:
        raise SettingsError(
            f"unknown population {name!r}; choose one of {', '.join(_POPULATIONS)}"
        )
    if traders < 1:
        raise SettingsError(f"traders must be >= 1, got {traders}")
    return Settings(
        name=name, seed=seed, ticks=ticks, market=market or MarketSettings(),
        traders=_POPULATIONS[name](traders), **changes,
    )
