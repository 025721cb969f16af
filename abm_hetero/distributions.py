"""One-dimensional distributions: what traits, cash, holdings and FCN weights are drawn from.

Each distribution samples with the run's random generator, knows its mean, support and quantiles
(quantiles scale traits into observation features and bound what a distribution can produce),
and reads from and writes to settings files as ``{"kind": ..., <parameters>}`` or a bare number
(a constant). Every parameter must be finite and at most ``MAX_PARAMETER`` in magnitude.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy import stats

from .errors import SettingsError
from .validation import MAX_MONEY

#: distribution parameters beyond this are refused (they overflow what the market represents)
MAX_PARAMETER = MAX_MONEY




@dataclass(frozen=True)
class Distribution:
    """A one-dimensional distribution a trait can be drawn from.

    Subclasses implement :meth:`sample`, :meth:`mean`, :meth:`support` and :meth:`quantile`
    (the latter is used to scale traits into observation features).
    """

    kind: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("low", "high") and math.isinf(value):
                continue  # an open truncation bound
            if not (isinstance(value, (int, float)) and math.isfinite(value)
                    and abs(value) <= MAX_PARAMETER):
                name = f.name.rstrip("_")
                raise SettingsError(f"{self.kind} needs a finite {name} of magnitude at most "
                                    f"{MAX_PARAMETER:g}, got {value!r}")

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        raise NotImplementedError

    def mean(self) -> float:
        raise NotImplementedError

    def support(self) -> tuple[float, float]:
        raise NotImplementedError

    def quantile(self, q: float) -> float:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        out.update({k: v for k, v in self.__dict__.items()})
        return out

    @staticmethod
    def from_dict(data: Any, where: str = "distribution") -> Distribution:
        return distribution_from_dict(data, where)


@dataclass(frozen=True)
class Constant(Distribution):
    """Every trader gets ``value``."""

    value: float
    kind: ClassVar[str] = "constant"

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.full(n, float(self.value))

    def mean(self) -> float:
        return float(self.value)

    def support(self) -> tuple[float, float]:
        return (float(self.value), float(self.value))

    def quantile(self, q: float) -> float:
        return float(self.value)


@dataclass(frozen=True)
class Uniform(Distribution):
    """Uniform on ``[low, high)``."""

    low: float
    high: float
    kind: ClassVar[str] = "uniform"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.low < self.high:
            raise SettingsError(f"uniform needs low < high, got low={self.low}, high={self.high}")

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, n)

    def mean(self) -> float:
        return 0.5 * (self.low + self.high)

    def support(self) -> tuple[float, float]:
        return (float(self.low), float(self.high))

    def quantile(self, q: float) -> float:
        return self.low + q * (self.high - self.low)


#: a truncated normal is drawn by rejection when its bounds keep at least this share of the
#: normal (at most about 460 rounds for a million draws), else by the inverse CDF
REJECTION_MIN_MASS = 0.01


@dataclass(frozen=True)
class TruncatedNormal(Distribution):
    """Normal with ``mean`` and ``std`` before truncation, truncated to ``[low, high]``.

    The bounds default to the trait's valid range (filled in by :class:`TraitDistribution`).
    Note that truncation moves the mean: :meth:`mean` reports the mean after truncation.
    """

    mean_: float
    std: float
    low: float = -math.inf
    high: float = math.inf
    kind: ClassVar[str] = "normal"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.std > 0:
            raise SettingsError(f"normal needs std > 0, got std={self.std} (use constant)")
        if not self.low < self.high:
            raise SettingsError(f"normal needs low < high, got {self.low}, {self.high}")

    def _frozen(self):
        a = (self.low - self.mean_) / self.std
        b = (self.high - self.mean_) / self.std
        return stats.truncnorm(a, b, loc=self.mean_, scale=self.std)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Normal draws outside the bounds drawn again: only the generator's normal draws,
        one multiplication and one addition, so a seed gives the same values on every CPU and
        numpy version (an inverse-CDF draw goes through vectorised exp and log, whose last bit
        differs between them). Bounds that keep less than :data:`REJECTION_MIN_MASS` of the
        normal are drawn by the inverse CDF instead, which is exact only per platform."""
        frozen = self._frozen()
        a, b = frozen.args
        if stats.norm.cdf(b) - stats.norm.cdf(a) < REJECTION_MIN_MASS:
            return np.asarray(frozen.rvs(size=n, random_state=rng), dtype=float)
        out = np.empty(n)
        filled = 0
        while filled < n:
            x = self.mean_ + self.std * rng.standard_normal(n - filled)
            kept = x[(x >= self.low) & (x <= self.high)]
            out[filled:filled + len(kept)] = kept
            filled += len(kept)
        return out

    def mean(self) -> float:
        return float(self._frozen().mean())

    def support(self) -> tuple[float, float]:
        return (float(self.low), float(self.high))

    def quantile(self, q: float) -> float:
        return float(self._frozen().ppf(q))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "mean": self.mean_, "std": self.std}
        if math.isfinite(self.low):
            out["low"] = self.low
        if math.isfinite(self.high):
            out["high"] = self.high
        return out


@dataclass(frozen=True)
class LogNormal(Distribution):
    """Log-normal with the given ``mean`` and ``std`` of the variable itself (not of its log)."""

    mean_: float
    std: float
    kind: ClassVar[str] = "lognormal"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (self.mean_ > 0 and self.std > 0):
            raise SettingsError(
                f"lognormal needs mean > 0 and std > 0, got mean={self.mean_}, std={self.std}"
            )

    def _log_params(self) -> tuple[float, float]:
        s2 = math.log1p((self.std / self.mean_) ** 2)
        return math.log(self.mean_) - 0.5 * s2, math.sqrt(s2)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        mu, s = self._log_params()
        return rng.lognormal(mu, s, n)

    def mean(self) -> float:
        return float(self.mean_)

    def support(self) -> tuple[float, float]:
        return (0.0, math.inf)

    def quantile(self, q: float) -> float:
        mu, s = self._log_params()
        return float(math.exp(mu + s * stats.norm.ppf(q)))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "mean": self.mean_, "std": self.std}


@dataclass(frozen=True)
class Exponential(Distribution):
    """Exponential with the given ``mean`` (the scale, not the rate)."""

    mean_: float
    kind: ClassVar[str] = "exponential"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.mean_ > 0:
            raise SettingsError(f"exponential needs mean > 0, got {self.mean_}")

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.exponential(self.mean_, n)

    def mean(self) -> float:
        return float(self.mean_)

    def support(self) -> tuple[float, float]:
        return (0.0, math.inf)

    def quantile(self, q: float) -> float:
        return float(-self.mean_ * math.log1p(-q))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "mean": self.mean_}


_KINDS: dict[str, tuple[type[Distribution], dict[str, str]]] = {
    "constant": (Constant, {"value": "value"}),
    "uniform": (Uniform, {"low": "low", "high": "high"}),
    "normal": (TruncatedNormal, {"mean": "mean_", "std": "std", "low": "low", "high": "high"}),
    "lognormal": (LogNormal, {"mean": "mean_", "std": "std"}),
    "exponential": (Exponential, {"mean": "mean_"}),
}


def distribution_from_dict(data: Any, where: str = "distribution") -> Distribution:
    """Build a distribution from ``{"kind": ..., <parameters>}`` or a bare number (constant)."""
    if isinstance(data, Distribution):
        return data
    if isinstance(data, (int, float)) and not isinstance(data, bool):
        try:
            return Constant(float(data))
        except SettingsError as exc:
            raise SettingsError(f"{where}: {exc}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{where}: expected a number or a table with 'kind', got {data!r}")
    data = dict(data)
    kind = data.pop("kind", None)
    if not isinstance(kind, str) or kind not in _KINDS:
        raise SettingsError(
            f"{where}: unknown distribution kind {kind!r}; choose one of {', '.join(_KINDS)}"
        )
    cls, names = _KINDS[kind]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise SettingsError(
            f"{where}: unknown key(s) {', '.join(unknown)} for {kind}; "
            f"allowed: {', '.join(names)}"
        )
    kwargs = {}
    for key, value in data.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise SettingsError(f"{where}.{key} must be a number, got {value!r}")
        kwargs[names[key]] = float(value)
    try:
        return cls(**kwargs)
    except TypeError:
        required = {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING}
        missing = [k for k, v in names.items() if v in required and v not in kwargs]
        raise SettingsError(f"{where}: {kind} needs {', '.join(missing)}") from None
    except SettingsError as exc:
        raise SettingsError(f"{where}: {exc}") from None
