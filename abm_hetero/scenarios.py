"""Named populations ("scenarios"): ready-made settings over the same market.

``learned-heterogeneous`` and ``learned-homogeneous`` are learning traders acting through the
shipped policies (trained on heterogeneous and on homogeneous traits with the same means);
``fcn`` and ``zero-intelligence`` are the non-learning controls. Every scenario uses the same
market settings, so that differences between scenarios come from the traders alone.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from .defaults import TICKS, TRADERS, TRAIT_PRESET
from .distributions import Exponential, TruncatedNormal, Uniform
from .errors import SettingsError
from .settings import MarketSettings, Settings, TraderGroupSettings
from .traits import preset as preset_distribution
from .traits import spread_distribution


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


def trait_keywords(preset: str = TRAIT_PRESET) -> dict[str, float]:
    """The trait keywords of a preset, in the spread family the keywords describe (alpha and
    sigma normal around a mean, gamma uniform): a uniform trait is given as the normal of the
    same mean and standard deviation."""
    dist = preset_distribution(preset)

    def mean_sd(d) -> tuple[float, float]:
        if isinstance(d, TruncatedNormal):
            return float(d.mean_), float(d.std)
        if isinstance(d, Uniform):
            return d.mean(), round((d.high - d.low) / math.sqrt(12), 6)
        return d.mean(), 0.0

    alpha_mean, alpha_sd = mean_sd(dist.alpha)
    sigma_mean, sigma_sd = mean_sd(dist.sigma)
    low, high = dist.gamma.support()
    return {"alpha_mean": alpha_mean, "alpha_sd": alpha_sd, "sigma_mean": sigma_mean,
            "sigma_sd": sigma_sd, "gamma_low": low, "gamma_high": min(high, 0.999)}


#: the keyword parameters of ``MarketModel`` (Mesa's way of building a model) and their
#: defaults; the page's controls start from them
KEYWORD_DEFAULTS: dict[str, Any] = {
    "population": "fcn", "traders": TRADERS, "ticks": TICKS, **trait_keywords(),
    "fundamental_volatility": MarketSettings().fundamental_volatility,
}


def keyword_settings(population: str = "fcn", traders: int = TRADERS, ticks: int = TICKS,
                     seed: int = 0, fundamental_volatility: float | None = None,
                     **traits: float | None) -> Settings:
    """Settings from Mesa-style keywords: a population, its size, the run's length and seed,
    the fundamental's volatility, and the trait distribution as means and spreads
    (``alpha_mean``, ``alpha_sd``, ``sigma_mean``, ``sigma_sd``, ``gamma_low``,
    ``gamma_high``; the ones left out take the heterogeneous preset's). Trait keywords apply to
    every population but ``learned-homogeneous``, whose traders all sit at the preset's means.
    Values are taken as given, never repaired (``MarketModel`` checks them first, naming the
    keyword: ``model.check_keywords``)."""
    unknown = sorted(set(traits) - set(trait_keywords()))
    if unknown:
        raise SettingsError(f"unknown keyword(s) {', '.join(unknown)}; MarketModel takes "
                            f"{', '.join(['settings', 'seed', *KEYWORD_DEFAULTS])}")
    settings = scenario(population, traders=int(traders), ticks=int(ticks), seed=int(seed))
    if fundamental_volatility is not None:
        settings = settings.replace(market=dataclasses.replace(
            settings.market, fundamental_volatility=float(fundamental_volatility)))
    given = {k: v for k, v in traits.items() if v is not None}
    if given and population != "learned-homogeneous":
        values = {k: float(v) for k, v in {**trait_keywords(), **given}.items()}
        distribution = spread_distribution(values["alpha_mean"], values["alpha_sd"],
                                           values["sigma_mean"], values["sigma_sd"],
                                           values["gamma_low"], values["gamma_high"])
        for group in settings.traders:
            group.traits = distribution
    return settings
