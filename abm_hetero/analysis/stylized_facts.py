"""Stylized facts of a return series, with exactly the estimators of docs/analysis.md.

* returns: ``r = diff(log(price))``, non-finite values dropped;
* excess kurtosis: biased moments, ``mean(d^4) / mean(d^2)^2 - 3``; aggregational Gaussianity
  from the kurtosis of non-overlapping m-period sums (m = 1, 5, 20);
* Hill tail index of ``|r|`` from the ``k = floor(q n)`` largest of the ``n`` nonzero values:
  ``1 / (mean(log x_(1..k)) - log x_(k+1))``, q = 2.5% and 5%;
* ACF with the mean removed and one common denominator;
* decay exponent beta: least squares of log ACF(|r|) on log lag, lags 1..100, positive ACF only;
* leverage: mean over k = 1..10 of corr(r_t, |r_{t+k}|);
* volume-volatility: corr(|r_t|, log V_t - mean(log V over t-20..t-1)).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import AbmHeteroError

ACF_R_LAGS = (1, 2, 5, 10)
ACF_ABS_LAGS = (1, 5, 10, 20, 50, 100)
ACF_SQ_LAGS = (1, 10)
KEYS = (
    "n", "kurt_1", "kurt_5", "kurt_20", "hill_2.5pct", "hill_5pct",
    *(f"acf_r_{k}" for k in ACF_R_LAGS),
    *(f"acf_abs_{k}" for k in ACF_ABS_LAGS),
    *(f"acf_sq_{k}" for k in ACF_SQ_LAGS),
    "beta_abs", "lev_mean_1_10", "vv_corr",
)
#: the longest lag used; a series needs more returns than this (see MIN_RETURNS)
MAX_LAG = 100
MIN_RETURNS = 2 * MAX_LAG


class AnalysisError(AbmHeteroError):
    """A series cannot be analysed (too short, all NaN, constant, negative prices...)."""


def log_returns(prices: Sequence[float] | np.ndarray | pd.Series) -> np.ndarray:
    """``diff(log(price))`` with non-finite values dropped; clear errors for unusable prices."""
    p = np.asarray(prices, dtype=float)
    if p.ndim != 1:
        raise AnalysisError(f"prices must be one-dimensional, got shape {p.shape}")
    finite = p[np.isfinite(p)]
    if finite.size == 0:
        raise AnalysisError("prices are all NaN or infinite")
    if (finite <= 0).any():
        raise AnalysisError(
            f"prices must be positive for log returns; found {int((finite <= 0).sum())} "
            f"value(s) <= 0 (minimum {finite.min():g})"
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.diff(np.log(p))
    r = r[np.isfinite(r)]
    if r.size and np.all(r == 0):
        raise AnalysisError("prices are constant: every return is zero")
    return r


def _clean_returns(returns, min_length: int) -> np.ndarray:
    r = np.asarray(returns, dtype=float)
    if r.ndim != 1:
        raise AnalysisError(f"returns must be one-dimensional, got shape {r.shape}")
    r = r[np.isfinite(r)]
    if r.size == 0:
        raise AnalysisError("returns are all NaN or infinite")
    if r.size < min_length:
        raise AnalysisError(
            f"need at least {min_length} finite returns for these lags, got {r.size}"
        )
    if np.all(r == r[0]):
        raise AnalysisError("returns are constant (the price never moves)")
    return r


def excess_kurtosis(x: np.ndarray) -> float:
    d = x - x.mean()
    m2 = np.mean(d * d)
    return float(np.mean(d**4) / m2**2 - 3.0) if m2 > 0 else math.nan


def aggregated_kurtosis(r: np.ndarray, m: int) -> float:
    """Excess kurtosis of non-overlapping ``m``-period sums."""
    n = len(r) // m
    if n < 4:
        return math.nan
    return excess_kurtosis(r[: n * m].reshape(n, m).sum(axis=1))


def hill(r: np.ndarray, q: float) -> float:
    """Hill tail index of ``|r|`` from the ``floor(q n)`` largest nonzero values."""
    a = np.abs(r)
    a = np.sort(a[a > 0])[::-1]
    k = int(math.floor(q * len(a)))
    if k < 1 or k >= len(a):
        return math.nan
    denom = np.mean(np.log(a[:k])) - math.log(a[k])
    return float(1.0 / denom) if denom > 0 else math.nan


def acf(x: np.ndarray, lags: Sequence[int]) -> np.ndarray:
    """Autocorrelations at ``lags``: mean removed, one common denominator."""
    d = x - x.mean()
    denom = float(np.dot(d, d))
    if denom == 0:
        return np.full(len(lags), math.nan)
    return np.array([np.dot(d[:-k], d[k:]) / denom if 0 < k < len(d) else math.nan
                     for k in lags])


def decay_exponent(r: np.ndarray, max_lag: int = MAX_LAG) -> float:
    """beta in ACF(|r|) ~ lag^-beta: least squares of log ACF on log lag (positive ACF only)."""
    lags = np.arange(1, max_lag + 1)
    rho = acf(np.abs(r), lags)
    ok = rho > 0
    if ok.sum() < 2:
        return math.nan
    slope = np.polyfit(np.log(lags[ok]), np.log(rho[ok]), 1)[0]
    return float(-slope)


def leverage(r: np.ndarray, max_lag: int = 10) -> float:
    """Mean over k = 1..max_lag of corr(r_t, |r_{t+k}|)."""
    a = np.abs(r)
    cors = [np.corrcoef(r[:-k], a[k:])[0, 1] for k in range(1, max_lag + 1)]
    return float(np.mean(cors))


def volume_volatility(r: np.ndarray, volume: np.ndarray, window: int = 20) -> float:
    """corr(|r_t|, log V_t - mean(log V_{t-window..t-1})); periods without volume are dropped."""
    v = np.asarray(volume, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        logv = np.where(v > 0, np.log(v), np.nan)
    trailing = pd.Series(logv).rolling(window, min_periods=window).mean().shift(1).to_numpy()
    detrended = logv - trailing
    ok = np.isfinite(detrended) & np.isfinite(r)
    if ok.sum() < 3:
        return math.nan
    return float(np.corrcoef(np.abs(r[ok]), detrended[ok])[0, 1])


def ljung_box(x: np.ndarray, h: int = 10) -> float:
    """Ljung-Box statistic Q(h) = n (n + 2) sum_k rho_k^2 / (n - k)."""
    n = len(x)
    rho = acf(x, range(1, h + 1))
    return float(n * (n + 2) * np.sum(rho**2 / (n - np.arange(1, h + 1))))


def stylized_facts(returns, volume=None) -> dict[str, float]:
    """All the stylized-fact statistics of a return series (keys: :data:`KEYS`).

    ``volume``, if given, is aligned with ``returns`` (the volume of each return's period);
    ``vv_corr`` is NaN without it.
    """
    r_in = np.asarray(returns, dtype=float)
    if volume is not None:
        v = np.asarray(volume, dtype=float)
        if v.shape != r_in.shape:
            raise AnalysisError(
                f"volume must have one value per return: {v.shape[0]} volumes for "
                f"{r_in.shape[0]} returns"
            )
        keep = np.isfinite(r_in)
        v = v[keep]
    r = _clean_returns(r_in, MIN_RETURNS)
    out: dict[str, float] = {"n": float(len(r))}
    for m in (1, 5, 20):
        out[f"kurt_{m}"] = aggregated_kurtosis(r, m)
    out["hill_2.5pct"] = hill(r, 0.025)
    out["hill_5pct"] = hill(r, 0.05)
    for k, value in zip(ACF_R_LAGS, acf(r, ACF_R_LAGS)):
        out[f"acf_r_{k}"] = float(value)
    for k, value in zip(ACF_ABS_LAGS, acf(np.abs(r), ACF_ABS_LAGS)):
        out[f"acf_abs_{k}"] = float(value)
    for k, value in zip(ACF_SQ_LAGS, acf(r * r, ACF_SQ_LAGS)):
        out[f"acf_sq_{k}"] = float(value)
    out["beta_abs"] = decay_exponent(r)
    out["lev_mean_1_10"] = leverage(r)
    out["vv_corr"] = volume_volatility(r, v) if volume is not None else math.nan
    return out


def quick_summary(returns) -> dict[str, float]:
    """Kurtosis, Hill 5% and ACF(|r|) at lags 1 and 10: the training run's progress check.

    Works on shorter series than :func:`stylized_facts` (at least 30 returns).
    """
    r = _clean_returns(returns, 30)
    rho = acf(np.abs(r), (1, 10))
    return {"kurtosis": excess_kurtosis(r), "hill_5pct": hill(r, 0.05),
            "acf_abs_1": float(rho[0]), "acf_abs_10": float(rho[1])}


def verdicts(facts: Mapping[str, float], returns=None) -> pd.DataFrame:
    """For each stylized fact, whether the series shows it, with the criterion beside it.

    ``returns`` (optional) adds the Ljung-Box ratio test for volatility clustering.
    """
    rows = []

    def add(fact: str, shown, value: str, criterion: str) -> None:
        rows.append({"fact": fact, "shown": None if shown is None else bool(shown),
                     "value": value, "criterion": criterion})

    f = facts
    add("fat tails", f["kurt_1"] > 1 and f["hill_5pct"] < 6,
        f"kurtosis {f['kurt_1']:.2f}, Hill 5% {f['hill_5pct']:.2f}",
        "excess kurtosis > 1 and Hill 5% < 6 (real: 2.74-3.81)")
    add("aggregational Gaussianity", f["kurt_1"] > 1 and f["kurt_20"] < f["kurt_1"],
        f"kurtosis m=1/5/20: {f['kurt_1']:.2f} / {f['kurt_5']:.2f} / {f['kurt_20']:.2f}",
        "kurtosis > 1 at m=1 and lower at m=20")
    max_acf = max(abs(f[f"acf_r_{k}"]) for k in ACF_R_LAGS)
    if returns is not None:
        r = _clean_returns(returns, MIN_RETURNS)
        lags = range(1, 11)
        max_acf = float(np.nanmax(np.abs(acf(r, lags))))
        ratio = ljung_box(np.abs(r)) / ljung_box(r)
        add("volatility clustering", ratio >= 5, f"Q10(|r|)/Q10(r) = {ratio:.1f}",
            "Q10(|r|) / Q10(r) >= 5 (real: 5-270)")
    else:
        add("volatility clustering", f["acf_abs_1"] > 0.1 and f["acf_abs_10"] > 0.05,
            f"ACF(|r|) lag 1/10: {f['acf_abs_1']:.3f} / {f['acf_abs_10']:.3f}",
            "ACF(|r|) > 0.1 at lag 1 and > 0.05 at lag 10")
    add("no linear autocorrelation", max_acf <= 0.1, f"max |ACF(r)| = {max_acf:.3f}",
        "max |ACF(r, k)| <= 0.1 for k = 1..10" if returns is not None
        else "max |ACF(r, k)| <= 0.1 for k = 1, 2, 5, 10")
    beta = f["beta_abs"]
    persistent = min(f["acf_abs_1"], f["acf_abs_10"], f["acf_abs_50"]) > 0.02
    add("slow decay of ACF(|r|)",
        None if math.isnan(beta) else persistent and 0.1 <= beta <= 0.6,
        f"beta = {beta:.2f}; ACF(|r|) lag 50 = {f['acf_abs_50']:.3f}",
        "ACF(|r|) > 0.02 at lags 1, 10, 50 and 0.1 <= beta <= 0.6 (real beta: 0.18-0.39)")
    lev = f["lev_mean_1_10"]
    add("leverage effect", lev < 0, f"{lev:.3f}", "mean corr(r_t, |r_t+k|), k=1..10, < 0")
    vv = f["vv_corr"]
    add("volume-volatility correlation", None if math.isnan(vv) else vv > 0,
        "n/a" if math.isnan(vv) else f"{vv:.3f}", "corr(|r|, detrended log volume) > 0")
    return pd.DataFrame(rows)
