"""Trader preferences (traits) and the distributions populations draw them from.

Every trader, learning or rule-based, carries three traits:

* ``alpha`` - risk aversion, ``alpha >= 0``;
* ``gamma`` - discount factor, ``0 < gamma < 1``;
* ``sigma`` - information noise: the standard deviation of the noise on the trader's view of the
  log fundamental gap, ``sigma >= 0``.

A :class:`TraitDistribution` is a triple of one-dimensional distributions, one per trait. The
presets :func:`heterogeneous` and :func:`homogeneous` have the same means, so that comparing the
two isolates the effect of the spread of preferences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .distributions import (
    Constant,
    Distribution,
    TruncatedNormal,
    Uniform,
    distribution_from_dict,
)
from .errors import SettingsError

#: Valid range of each trait as (low, high, low_inclusive, high_inclusive).
TRAIT_RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "alpha": (0.0, math.inf, True, False),
    "gamma": (0.0, 1.0, False, False),
    "sigma": (0.0, math.inf, True, False),
}
TRAIT_NAMES: tuple[str, ...] = ("alpha", "gamma", "sigma")
#: largest trait a distribution may produce (its 1 - 1e-9 quantile): beyond these a trait means
#: nothing in this market (sigma is noise on a log price gap) and overflows the reward's terms
TRAIT_CAPS: dict[str, float] = {"alpha": 1e3, "gamma": 1.0, "sigma": 1.0}


def _range_text(name: str) -> str:
    low, high, low_inc, high_inc = TRAIT_RANGES[name]
    if math.isinf(high):
        high, high_inc = TRAIT_CAPS[name], True
    left = "<=" if low_inc else "<"
    right = "<=" if high_inc else "<"
    return f"{low:g} {left} {name} {right} {high:g}"


def check_trait_value(name: str, value: float) -> float:
    """Return ``value`` as a float if it is a valid value of trait ``name``, else raise."""
    if name not in TRAIT_RANGES:
        raise SettingsError(f"unknown trait {name!r}; traits are {', '.join(TRAIT_NAMES)}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be a number, got {value!r}") from None
    low, high, low_inc, high_inc = TRAIT_RANGES[name]
    ok = math.isfinite(value) and value <= TRAIT_CAPS[name]
    ok = ok and (value >= low if low_inc else value > low)
    ok = ok and (value <= high if high_inc else value < high)
    if not ok:
        raise SettingsError(f"{name} = {value!r} is out of range: need {_range_text(name)}")
    return value


@dataclass(frozen=True)
class Traits:
    """The preferences of one trader, validated on construction."""

    alpha: float
    gamma: float
    sigma: float

    def __post_init__(self) -> None:
        for name in TRAIT_NAMES:
            object.__setattr__(self, name, check_trait_value(name, getattr(self, name)))


# --------------------------------------------------------------------------------------------
# Population-level distribution of all three traits
# --------------------------------------------------------------------------------------------


@dataclass
class TraitSample:
    """Traits of a whole group as arrays (one row per trader): the hot representation."""

    alpha: np.ndarray
    gamma: np.ndarray
    sigma: np.ndarray

    def __len__(self) -> int:
        return len(self.alpha)

    def record(self, i: int) -> Traits:
        return Traits(float(self.alpha[i]), float(self.gamma[i]), float(self.sigma[i]))


@dataclass(frozen=True)
class TraitDistribution:
    """Independent distributions of ``alpha``, ``gamma`` and ``sigma``.

    On construction each distribution's support is checked against the trait's valid range, and
    truncated normals are clipped to it, so every draw is a valid :class:`Traits`.
    """

    alpha: Distribution = field(default_factory=lambda: Constant(2.0))
    gamma: Distribution = field(default_factory=lambda: Constant(0.9))
    sigma: Distribution = field(default_factory=lambda: Constant(0.02))

    def __post_init__(self) -> None:
        for name in TRAIT_NAMES:
            dist = distribution_from_dict(getattr(self, name), where=f"traits.{name}")
            low, high, low_inc, high_inc = TRAIT_RANGES[name]
            if isinstance(dist, TruncatedNormal):
                lo = max(dist.low, low)
                hi = min(dist.high, high)
                # keep an open bound open: stay a hair inside it
                if not low_inc and lo <= low:
                    lo = np.nextafter(low, high)
                if not high_inc and hi >= high and math.isfinite(high):
                    hi = np.nextafter(high, low)
                if not lo < hi:
                    raise SettingsError(f"traits.{name}: normal bounds leave no valid values")
                dist = TruncatedNormal(dist.mean_, dist.std, float(lo), float(hi))
            top = dist.quantile(1 - 1e-9)
            if not top <= TRAIT_CAPS[name]:
                raise SettingsError(
                    f"traits.{name}: a {dist.kind} distribution that reaches {top:g} (its "
                    f"99.9999999% point); {name} above {TRAIT_CAPS[name]:g} is not supported")
            s_low, s_high = dist.support()
            try:
                check_trait_value(name, s_low)
                # a continuous distribution whose support ends at an open bound never reaches it
                if not (s_high == high and not isinstance(dist, Constant)):
                    check_trait_value(name, s_high)
            except SettingsError:
                raise SettingsError(
                    f"traits.{name}: a {dist.kind} distribution with support "
                    f"[{s_low:g}, {s_high:g}] can give invalid values; need {_range_text(name)}"
                ) from None
            object.__setattr__(self, name, dist)

    def sample(self, rng: np.random.Generator, n: int) -> TraitSample:
        return TraitSample(
            alpha=self.alpha.sample(rng, n),
            gamma=self.gamma.sample(rng, n),
            sigma=self.sigma.sample(rng, n),
        )

    def means(self) -> Traits:
        return Traits(self.alpha.mean(), self.gamma.mean(), self.sigma.mean())

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name).to_dict() for name in TRAIT_NAMES}

    @classmethod
    def from_dict(cls, data: Any, where: str = "traits") -> TraitDistribution:
        if isinstance(data, TraitDistribution):
            return data
        if isinstance(data, str):
            return preset(data)
        if not isinstance(data, dict):
            raise SettingsError(f"{where}: expected a preset name or a table, got {data!r}")
        unknown = sorted(set(data) - set(TRAIT_NAMES))
        if unknown:
            raise SettingsError(
                f"{where}: unknown trait(s) {', '.join(unknown)}; traits are "
                f"{', '.join(TRAIT_NAMES)}"
            )
        kwargs = {
            name: distribution_from_dict(value, where=f"{where}.{name}")
            for name, value in data.items()
        }
        return cls(**kwargs)


def spread_distribution(
    alpha_mean: float, alpha_sd: float, sigma_mean: float, sigma_sd: float,
    gamma_low: float, gamma_high: float = 0.999,
) -> TraitDistribution:
    """``alpha`` and ``sigma`` normal around their means (a spread of 0: every trader at the
    mean), ``gamma`` uniform on ``[gamma_low, gamma_high)``: the family that calibration
    searches and the browser page's controls set."""

    def normal(mean: float, sd: float) -> Distribution:
        return Constant(mean) if sd <= 0 else TruncatedNormal(mean, sd)

    return TraitDistribution(alpha=normal(alpha_mean, alpha_sd),
                             gamma=Uniform(gamma_low, gamma_high),
                             sigma=normal(sigma_mean, sigma_sd))


def heterogeneous() -> TraitDistribution:
    """Broad preferences: alpha around 2 (normal, sd 1, truncated at 0), gamma 0.75-0.999 as in
    the reference, and sigma 0-0.01, the scale of the market's gap between price and
    fundamental, so that well- and badly-informed traders differ without the noise drowning
    the signal (docs/learning.md)."""
    return TraitDistribution(
        alpha=TruncatedNormal(2.0, 1.0),
        gamma=Uniform(0.75, 0.999),
        sigma=Uniform(0.0, 0.005),
    )


def homogeneous() -> TraitDistribution:
    """Every trader at the means of :func:`heterogeneous` (after truncation)."""
    m = heterogeneous().means()
    return TraitDistribution(Constant(m.alpha), Constant(m.gamma), Constant(m.sigma))


def prior() -> TraitDistribution:
    """A broad prior to train one policy for many trait distributions.

    It covers :func:`heterogeneous` and :func:`homogeneous` and the calibration search space
    (alpha up to 5, gamma from 0.5, sigma up to 0.02).
    """
    return TraitDistribution(
        alpha=Uniform(0.0, 5.0), gamma=Uniform(0.5, 0.999), sigma=Uniform(0.0, 0.02)
    )


PRESETS = {"heterogeneous": heterogeneous, "homogeneous": homogeneous, "prior": prior}


def preset(name: str) -> TraitDistribution:
    """Return the preset trait distribution called ``name``."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise SettingsError(
            f"unknown trait preset {name!r}; choose one of {', '.join(PRESETS)}"
        ) from None
