"""Trader preferences (traits): one registry that defines each trait, and the distributions
populations draw them from.

Every trader, learning or rule-based, carries the registered traits; the package ships three:

* ``alpha`` - risk aversion, ``alpha >= 0``; enters the reward (the risk charge);
* ``gamma`` - discount factor, ``0 < gamma < 1``; discounts the trader's future rewards;
* ``sigma`` - information noise: the standard deviation of the noise on the trader's view of the
  log fundamental gap, ``sigma >= 0``; blurs the trader's observation.

:data:`TRAITS` is the one place a trait is defined (:class:`TraitSpec`: its name, valid range,
cap, default, preset distributions, observation scaling and where it enters). Everything else
reads it: the trait records and arrays below, the settings files, the policy's trait bounds and
checkpoints, the observation (``learning/observer.py``), the analysis and the output columns.
Traits are drawn in the registry's order; a trait registered later (:func:`registered`) is
drawn, observed, written and analysed after the shipped three.

A :class:`TraitDistribution` holds one one-dimensional distribution per trait. The presets
:func:`heterogeneous` and :func:`homogeneous` have the same means, so that comparing the two
isolates the effect of the spread of preferences.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
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

#: where a trait can enter a learning trader's problem (documentation; the code that uses a
#: trait reads it by name)
ENTRIES = ("reward", "discount", "information noise", "nothing")


@dataclass(frozen=True)
class TraitSpec:
    """Everything the package knows about one trait."""

    name: str
    #: what the trait is, in a few words
    meaning: str
    #: valid range: low, high and whether each bound is included
    low: float
    high: float
    low_inclusive: bool
    high_inclusive: bool
    #: largest value a distribution may produce (its 1 - 1e-9 quantile): beyond it the trait
    #: means nothing in this market or overflows the reward's terms
    cap: float
    #: the constant a trait distribution that leaves the trait out gives it
    default: float
    #: where the trait enters (one of :data:`ENTRIES`)
    enters: str = "nothing"
    #: its distribution in the ``heterogeneous`` and ``prior`` presets (``homogeneous`` is the
    #: mean of ``heterogeneous``); a preset without an entry uses ``default``
    presets: Mapping[str, Distribution] = field(default_factory=dict)
    #: observation scaling: a policy rescales the trait to [-1, 1] between these quantiles of
    #: the distribution it was trained on
    quantile: float = 0.001

    def __post_init__(self) -> None:
        if self.enters not in ENTRIES:
            raise ValueError(f"trait {self.name}: enters must be one of {ENTRIES}")

    @property
    def range(self) -> tuple[float, float, bool, bool]:
        return (self.low, self.high, self.low_inclusive, self.high_inclusive)

    def preset(self, name: str) -> Distribution:
        """The trait's distribution in preset ``name``."""
        return self.presets.get(name, Constant(self.default))


#: the registry: every trait, in drawing order
TRAITS: dict[str, TraitSpec] = {}
#: names a trait cannot have: attributes of the per-trait records below
_RESERVED = frozenset({"names", "items", "record", "sample", "means", "to_dict", "from_dict"})


def register(spec: TraitSpec) -> TraitSpec:
    """Add a trait (after those already registered)."""
    if spec.name in TRAITS:
        raise ValueError(f"trait {spec.name!r} is already registered")
    if not spec.name.isidentifier() or spec.name in _RESERVED:
        raise ValueError(f"a trait's name must be an identifier other than "
                         f"{', '.join(sorted(_RESERVED))}, got {spec.name!r}")
    TRAITS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a trait registered with :func:`register`."""
    del TRAITS[name]


@contextlib.contextmanager
def registered(spec: TraitSpec) -> Iterator[TraitSpec]:
    """Register ``spec`` for the duration of a ``with`` block (tests, experiments)."""
    register(spec)
    try:
        yield spec
    finally:
        unregister(spec.name)


class _Names(Sequence):
    """The registered traits' names, in drawing order (a live view of :data:`TRAITS`)."""

    def __getitem__(self, i):
        return tuple(TRAITS)[i]

    def __len__(self) -> int:
        return len(TRAITS)

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(TRAITS))

    def __contains__(self, name: object) -> bool:
        return name in TRAITS

    def __repr__(self) -> str:
        return repr(tuple(TRAITS))


class _Column(Mapping):
    """One attribute of every registered trait, by name (a live view of :data:`TRAITS`)."""

    def __init__(self, get) -> None:
        self._get = get

    def __getitem__(self, name: str):
        return self._get(TRAITS[name])

    def __len__(self) -> int:
        return len(TRAITS)

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(TRAITS))


#: names of the registered traits, in drawing order
TRAIT_NAMES: Sequence[str] = _Names()
#: valid range of each trait as (low, high, low_inclusive, high_inclusive)
TRAIT_RANGES: Mapping[str, tuple[float, float, bool, bool]] = _Column(lambda s: s.range)
#: largest value of each trait a distribution may produce
TRAIT_CAPS: Mapping[str, float] = _Column(lambda s: s.cap)

register(TraitSpec(
    "alpha", "risk aversion", 0.0, math.inf, True, False, cap=1e3, default=2.0,
    enters="reward",
    presets={"heterogeneous": TruncatedNormal(2.0, 1.0), "prior": Uniform(0.0, 5.0)}))
register(TraitSpec(
    "gamma", "discount factor", 0.0, 1.0, False, False, cap=1.0, default=0.9,
    enters="discount",
    presets={"heterogeneous": Uniform(0.75, 0.999), "prior": Uniform(0.5, 0.999)}))
register(TraitSpec(
    "sigma", "information noise", 0.0, math.inf, True, False, cap=1.0, default=0.02,
    enters="information noise",
    presets={"heterogeneous": Uniform(0.0, 0.005), "prior": Uniform(0.0, 0.02)}))


def _range_text(name: str) -> str:
    low, high, low_inc, high_inc = TRAIT_RANGES[name]
    if math.isinf(high):
        high, high_inc = TRAIT_CAPS[name], True
    left = "<=" if low_inc else "<"
    right = "<=" if high_inc else "<"
    return f"{low:g} {left} {name} {right} {high:g}"


def check_trait_value(name: str, value: float) -> float:
    """Return ``value`` as a float if it is a valid value of trait ``name``, else raise."""
    if name not in TRAITS:
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


def _by_name(kind: str, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Positional and keyword arguments of a per-trait constructor, by trait name (positional
    ones in the registry's order); an unknown trait is a :class:`TypeError`."""
    names = tuple(TRAITS)
    if len(args) > len(names):
        raise TypeError(f"{kind} takes at most {len(names)} traits, got {len(args)}")
    values = dict(zip(names, args))
    for name, value in kwargs.items():
        if name not in TRAITS:
            raise TypeError(f"{kind} got an unknown trait {name!r}; traits are "
                            f"{', '.join(names)}")
        if name in values:
            raise TypeError(f"{kind} got trait {name!r} twice")
        values[name] = value
    return values


class _PerTrait:
    """A frozen record with one attribute per trait (in the registry's order at creation)."""

    _kind = "record"

    def __init__(self, values: dict[str, Any]) -> None:
        object.__setattr__(self, "names", tuple(values))
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"a {type(self).__name__} cannot be changed")

    def items(self) -> Iterator[tuple[str, Any]]:
        return ((name, getattr(self, name)) for name in self.names)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and dict(self.items()) == dict(other.items())

    def __hash__(self) -> int:
        return hash(tuple(self.items()))

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.items())
        return f"{type(self).__name__}({inner})"


class Traits(_PerTrait):
    """The preferences of one trader, validated on construction (every trait required)."""

    def __init__(self, *args: float, **kwargs: float) -> None:
        values = _by_name("Traits", args, kwargs)
        missing = [name for name in TRAITS if name not in values]
        if missing:
            raise TypeError(f"Traits is missing trait(s) {', '.join(missing)}")
        super().__init__({name: check_trait_value(name, values[name]) for name in TRAITS})


# --------------------------------------------------------------------------------------------
# Population-level distribution of every trait
# --------------------------------------------------------------------------------------------


class TraitSample:
    """Traits of a whole group as arrays (one per trait, one entry per trader): the hot
    representation, read as ``sample.alpha`` or ``sample["alpha"]``."""

    def __init__(self, **arrays: np.ndarray) -> None:
        self.names = tuple(arrays)
        for name, array in arrays.items():
            setattr(self, name, array)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.names:
            raise KeyError(name)
        return getattr(self, name)

    def __len__(self) -> int:
        return len(getattr(self, self.names[0]))

    def record(self, i: int) -> Traits:
        return Traits(**{name: float(self[name][i]) for name in self.names})


def _checked(name: str, dist: Any) -> Distribution:
    """``dist`` for trait ``name``: truncated normals clipped to the trait's range, and every
    value it can give valid."""
    dist = distribution_from_dict(dist, where=f"traits.{name}")
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
    return dist


class TraitDistribution(_PerTrait):
    """Independent distributions of the traits, one per registered trait (a trait left out
    is the constant of its ``default``).

    On construction each distribution's support is checked against the trait's valid range, and
    truncated normals are clipped to it, so every draw is a valid :class:`Traits`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        values = _by_name("TraitDistribution", args, kwargs)
        super().__init__({name: _checked(name, values.get(name, Constant(spec.default)))
                          for name, spec in TRAITS.items()})

    def sample(self, rng: np.random.Generator, n: int) -> TraitSample:
        """``n`` traders' traits, drawn trait by trait in the registry's order."""
        return TraitSample(**{name: dist.sample(rng, n) for name, dist in self.items()})

    def means(self) -> Traits:
        return Traits(**{name: dist.mean() for name, dist in self.items()})

    def to_dict(self) -> dict[str, Any]:
        return {name: dist.to_dict() for name, dist in self.items()}

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
    mean), ``gamma`` uniform on ``[gamma_low, gamma_high)``, any other trait at its default:
    the family that calibration searches and the browser page's controls set."""

    def normal(mean: float, sd: float) -> Distribution:
        return Constant(mean) if sd <= 0 else TruncatedNormal(mean, sd)

    return TraitDistribution(alpha=normal(alpha_mean, alpha_sd),
                             gamma=Uniform(gamma_low, gamma_high),
                             sigma=normal(sigma_mean, sigma_sd))


def _preset(name: str) -> TraitDistribution:
    return TraitDistribution(**{t: spec.preset(name) for t, spec in TRAITS.items()})


def heterogeneous() -> TraitDistribution:
    """Broad preferences (each trait's ``heterogeneous`` entry in :data:`TRAITS`): alpha around
    2 (normal, sd 1, truncated at 0), gamma 0.75-0.999 as in the reference, and sigma
    0-0.005, below the scale of the market's gap between price and fundamental, so that well-
    and badly-informed traders differ without the noise drowning the signal
    (docs/learning.md)."""
    return _preset("heterogeneous")


def homogeneous() -> TraitDistribution:
    """Every trader at the means of :func:`heterogeneous` (after truncation)."""
    m = heterogeneous().means()
    return TraitDistribution(**{name: Constant(value) for name, value in m.items()})


def prior() -> TraitDistribution:
    """A broad prior to train one policy for many trait distributions (each trait's ``prior``
    entry in :data:`TRAITS`).

    It covers :func:`heterogeneous` and :func:`homogeneous` and the calibration search space
    (alpha up to 5, gamma from 0.5, sigma up to 0.02).
    """
    return _preset("prior")


PRESETS = {"heterogeneous": heterogeneous, "homogeneous": homogeneous, "prior": prior}


def preset(name: str) -> TraitDistribution:
    """Return the preset trait distribution called ``name``."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise SettingsError(
            f"unknown trait preset {name!r}; choose one of {', '.join(PRESETS)}"
        ) from None
