"""Named populations ("scenarios"): ready-made settings over the same market.

``fcn`` and ``zero-intelligence`` are the non-learning controls. Every scenario uses the same
market settings, so that differences between scenarios come from the traders alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import SettingsError
from .settings import MarketSettings, Settings, TraderGroupSettings

DEFAULT_TRADERS = 200
DEFAULT_TICKS = 2000


def _fcn(n: int) -> list[TraderGroupSettings]:
    return [TraderGroupSettings(kind="fcn", count=n, traits="heterogeneous")]


def _zero_intelligence(n: int) -> list[TraderGroupSettings]:
    return [TraderGroupSettings(kind="zero-intelligence", count=n, traits="heterogeneous")]


_POPULATIONS: dict[str, Callable[[int], list[TraderGroupSettings]]] = {
    "fcn": _fcn,
    "zero-intelligence": _zero_intelligence,
}


def register_population(name: str, build: Callable[[int], list[TraderGroupSettings]]) -> None:
    """Make a population available by name (used for the learned populations)."""
    _POPULATIONS[name] = build


def population_names() -> list[str]:
    _load_learned()
    return list(_POPULATIONS)


def _load_learned() -> None:
    """Hook for populations defined by other modules (learned populations)."""


def scenario(
    name: str, *, traders: int = DEFAULT_TRADERS, ticks: int = DEFAULT_TICKS, seed: int = 0,
    market: MarketSettings | None = None, **changes: Any,
) -> Settings:
    """Settings of the named population over the default market."""
    _load_learned()
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
