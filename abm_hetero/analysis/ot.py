"""Optimal-transport distances between simulated and real return point clouds.

As in the reference (docs/calibration.md): exact earth mover's distance (POT's
``ot.emd``) with squared-Euclidean cost and uniform weights on two clouds of equal size,
divided by the dimension and not square-rooted. Three clouds are built from standardised
returns ``z = (r - mean r) / std r`` (one standardisation per series, or per run for
simulations, which are then pooled):

* ``return`` (1-D): ``n`` returns drawn without replacement;
* ``tail_return`` (1-D): ``n / tail`` returns drawn, their absolute values sorted, the largest
  ``n`` kept as log-excesses over the smallest of them (the first point is 0);
* ``return_ts`` (``K + 1``-D): vectors ``(|z_t|, |z_{t+l1}|, ..., |z_{t+lK}|)`` within a
  series, lags 1, 10, 20, ..., 70 by default (9-D); ``n`` drawn without replacement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .stylized_facts import AnalysisError

CLOUDS = ("return", "tail_return", "return_ts")


@dataclass
class CloudSettings:
    """Sizes, seed and lags of the point clouds."""

    points: int = 250
    tail: float = 0.05
    lags: list[int] = field(default_factory=lambda: [1, 10, 20, 30, 40, 50, 60, 70])
    seed: int = 4242

    def __post_init__(self) -> None:
        if self.points < 2:
            raise AnalysisError(f"points must be >= 2, got {self.points}")
        if not 0 < self.tail < 1:
            raise AnalysisError(f"tail must be in (0, 1), got {self.tail}")
        if not self.lags or any(lag < 1 for lag in self.lags):
            raise AnalysisError(f"lags must be positive whole numbers, got {self.lags}")
        self.lags = sorted(self.lags)


def ot_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Exact OT cost (squared Euclidean, uniform weights) of equal-size clouds, per dimension."""
    import ot

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if y.ndim == 1:
        y = y[:, None]
    if x.shape != y.shape:
        raise AnalysisError(f"clouds must have the same shape, got {x.shape} and {y.shape}")
    if len(x) == 0:
        raise AnalysisError("clouds are empty")
    n, dim = x.shape
    cost = ot.dist(x, y, metric="sqeuclidean")
    weights = np.full(n, 1.0 / n)
    return float(ot.emd2(weights, weights, cost, numItermax=1_000_000)) / dim


def standardise(returns: np.ndarray) -> np.ndarray:
    r = np.asarray(returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    if len(r) < 2 or r.std() == 0:
        raise AnalysisError("a return series needs at least two distinct values")
    return (r - r.mean()) / r.std()


def _usable(series: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Each series standardised; series without price changes (a market that never traded)
    are left out, and if none is left that is an error."""
    out = []
    for s in series:
        try:
            out.append(standardise(s))
        except AnalysisError:
            continue
    if not out:
        raise AnalysisError("no return series with price changes to build a cloud from")
    return out


def return_cloud(series: Sequence[np.ndarray], settings: CloudSettings,
                 rng: np.random.Generator) -> np.ndarray:
    z = np.concatenate(_usable(series))
    n = settings.points
    if len(z) < n:
        raise AnalysisError(f"the return cloud needs at least {n} returns, got {len(z)}")
    return rng.choice(z, n, replace=False)


def tail_cloud(series: Sequence[np.ndarray], settings: CloudSettings,
               rng: np.random.Generator) -> np.ndarray:
    z = np.concatenate(_usable(series))
    n = settings.points
    draw = int(round(n / settings.tail))
    if len(z) < draw:
        raise AnalysisError(
            f"the tail cloud of {n} points needs at least {draw} returns (points / tail), "
            f"got {len(z)}")
    a = np.sort(np.abs(rng.choice(z, draw, replace=False)))
    top = a[-n:]
    if top[0] <= 0:
        raise AnalysisError("the tail cloud's threshold return is zero")
    return np.log(top / top[0])


def lag_cloud(series: Sequence[np.ndarray], settings: CloudSettings,
              rng: np.random.Generator) -> np.ndarray:
    lags = [0, *settings.lags]
    span = lags[-1]
    blocks = []
    for z in _usable(series):
        a = np.abs(z)
        m = len(a) - span
        if m > 0:
            blocks.append(np.stack([a[lag : lag + m] for lag in lags], axis=1))
    have = sum(len(b) for b in blocks)
    n = settings.points
    if have < n:
        raise AnalysisError(
            f"the return_ts cloud of {n} points needs {n} vectors, i.e. series longer than "
            f"the largest lag ({span}) by {n} returns in total; got {have} vectors")
    vectors = np.concatenate(blocks)
    return vectors[rng.choice(len(vectors), n, replace=False)]


BUILDERS = {"return": return_cloud, "tail_return": tail_cloud, "return_ts": lag_cloud}


def point_clouds(series: Sequence[np.ndarray], settings: CloudSettings | None = None
                 ) -> dict[str, np.ndarray]:
    """The three clouds of one or more return series (each standardised on its own)."""
    settings = settings or CloudSettings()
    if isinstance(series, np.ndarray) and series.ndim == 1:
        series = [series]
    out = {}
    for i, name in enumerate(CLOUDS):
        rng = np.random.default_rng([settings.seed, i])
        out[name] = BUILDERS[name](series, settings, rng)
    return out


def ot_distances(simulated: dict[str, np.ndarray], target: dict[str, np.ndarray]
                 ) -> dict[str, float]:
    """The OT distance of each cloud type."""
    return {name: ot_distance(simulated[name], target[name]) for name in CLOUDS}
