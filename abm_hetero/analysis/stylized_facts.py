"""Stylized facts of a return series, with exactly the estimators of docs/analysis.md.

* returns: ``r = diff(log(price))``, non-finite values dropped;
* excess kurtosis: biased moments, ``mean(d^4) / mean(d^2)^2 - 3``; aggregational Gaussianity
  from the kurtosis of non-overlapping m-period sums (m = 1, 5, 20);
* Hill tail index of ``|r|`` from the ``k = floor(q n)`` largest of the ``n`` nonzero values:
  ``1 / (mean(log x_(1..k)) - log x_(k+1))``, q = 2.5% and 5%;
* ACF with the mean removed and one common denominator;
* decay exponent beta: least squares of log ACF(|r|) on log lag, lags 1..100, positive ACF only;
* leverage: mean over k = 1..10 of corr(r_t, |r_{t+k}|);
* volume-volatility: corr(|r_t|, log V_t - mean(log V over t-20..t-1));
* tails under aggregation: excess kurtosis of non-overlapping 10- and 100-period sums, Hill 5%
  of the 10- and 100-period sums when their tail holds at least ``HILL_MIN_TAIL`` values;
* volatility clustering tested: Ljung-Box Q(10) of ``|r|`` and of the absolute 10-period sums,
  with chi2(10) p-values; GARCH(1,1) against constant variance, both with Student-t
  innovations, by a likelihood-ratio test.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import AbmHeteroError
from ..market import raw_log_returns

ACF_R_LAGS = (1, 2, 5, 10)
ACF_ABS_LAGS = (1, 5, 10, 20, 50, 100)
ACF_SQ_LAGS = (1, 10)
#: aggregation levels (periods per non-overlapping sum) of the tail and clustering statistics
AGG_LEVELS = (10, 100)
#: lags of the Ljung-Box tests on absolute returns
LB_LAGS = 10
#: the fewest tail values (``floor(q n)``) a Hill index of aggregated sums is computed from
HILL_MIN_TAIL = 5
#: optimiser iterations of a GARCH fit: tick series with many zero returns need more than
#: arch's default of 100 to converge
GARCH_MAXITER = 500
KEYS = (
    "n", "kurt_1", "kurt_5", "kurt_20", "hill_2.5pct", "hill_5pct",
    *(f"acf_r_{k}" for k in ACF_R_LAGS),
    *(f"acf_abs_{k}" for k in ACF_ABS_LAGS),
    *(f"acf_sq_{k}" for k in ACF_SQ_LAGS),
    "beta_abs", "lev_mean_1_10", "vv_corr",
    *(f"kurt_{m}" for m in AGG_LEVELS),
    *(f"hill_5pct_{m}" for m in AGG_LEVELS),
    "lb_abs_1", "lb_abs_1_p", "lb_abs_10", "lb_abs_10_p",
    "garch_persistence", "garch_lr", "garch_lr_p",
)
#: the longest lag used; a series needs more returns than this (see MIN_RETURNS)
MAX_LAG = 100
MIN_RETURNS = 2 * MAX_LAG


class AnalysisError(AbmHeteroError):
    """A series cannot be analysed (too short, all NaN, constant, negative prices...)."""


def log_returns(prices: Sequence[float] | np.ndarray | pd.Series) -> np.ndarray:
    """The log returns of a user's prices (:func:`~abm_hetero.market.raw_log_returns`) with
    non-finite values dropped; clear errors for unusable prices."""
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
    r = raw_log_returns(p)
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


def aggregate(r: np.ndarray, m: int) -> np.ndarray:
    """Non-overlapping ``m``-period sums of ``r``; a last incomplete period is dropped."""
    n = len(r) // m
    return r[: n * m].reshape(n, m).sum(axis=1)


def aggregated_kurtosis(r: np.ndarray, m: int) -> float:
    """Excess kurtosis of non-overlapping ``m``-period sums."""
    if len(r) // m < 4:
        return math.nan
    return excess_kurtosis(aggregate(r, m))


def hill(r: np.ndarray, q: float) -> float:
    """Hill tail index of ``|r|`` from the ``floor(q n)`` largest nonzero values."""
    a = np.abs(r)
    a = np.sort(a[a > 0])[::-1]
    k = int(math.floor(q * len(a)))
    if k < 1 or k >= len(a):
        return math.nan
    denom = np.mean(np.log(a[:k])) - math.log(a[k])
    return float(1.0 / denom) if denom > 0 else math.nan


def aggregated_hill(r: np.ndarray, m: int, q: float = 0.05) -> float:
    """Hill index of non-overlapping ``m``-period sums; NaN below ``HILL_MIN_TAIL`` tail values.

    A Hill index from k tail values has a standard error of about index / sqrt(k), so an
    aggregated series too short to give a few tail values yields no number rather than noise.
    """
    sums = aggregate(r, m)
    if math.floor(q * np.count_nonzero(sums)) < HILL_MIN_TAIL:
        return math.nan
    return hill(sums, q)


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


def ljung_box_test(x: np.ndarray, h: int = LB_LAGS) -> tuple[float, float]:
    """Ljung-Box Q(h) of ``x`` and its chi2(h) p-value; NaN for fewer than ``5 h`` values.

    No parameters are fitted before the test, so the reference has all ``h`` degrees of freedom.
    """
    if len(x) < 5 * h:
        return math.nan, math.nan
    q = ljung_box(x, h)
    return q, float(stats.chi2.sf(q, h)) if math.isfinite(q) else math.nan


def abs_return_clustering(r: np.ndarray) -> dict[str, float]:
    """Ljung-Box Q(10) of ``|r|`` at the tick and of the absolute 10-period sums.

    Significant Q on absolute values with no linear autocorrelation is volatility clustering;
    at 10 periods it asks whether clustering survives aggregation.
    """
    out = {}
    for m in (1, 10):
        q, p = ljung_box_test(np.abs(aggregate(r, m)))
        out[f"lb_abs_{m}"], out[f"lb_abs_{m}_p"] = q, p
    return out


def _fit_t(x: np.ndarray, vol: str):
    """Maximum-likelihood fit of a constant mean with ``vol`` variance and Student-t noise."""
    from arch import arch_model

    kwargs = {"p": 1, "q": 1} if vol == "GARCH" else {}
    model = arch_model(x, mean="Constant", vol=vol, dist="t", **kwargs)
    return model.fit(disp="off", options={"maxiter": GARCH_MAXITER})


def garch_test(r: np.ndarray) -> dict[str, float]:
    """GARCH(1,1) against constant variance, both with Student-t innovations.

    Returns the GARCH persistence ``alpha + beta``, the likelihood ratio
    ``LR = 2 (llf_GARCH - llf_constant)`` and its p-value from chi2 with 2 degrees of freedom
    (GARCH adds alpha and beta). Student-t innovations in both models keep the test about
    clustering: with normal innovations independent fat-tailed returns also favour GARCH.
    Under no clustering alpha = 0 sits on the boundary of the parameter space and beta is
    not identified, so the chi2(2) reference is conservative (p-values too large).

    The returns are divided by their standard deviation first (the likelihood ratio and the
    persistence do not depend on the scale) so that the optimiser works near unit variance.
    The optimiser's warnings are silenced; a fit that fails or does not converge gives NaN.
    """
    nan = {"garch_persistence": math.nan, "garch_lr": math.nan, "garch_lr_p": math.nan}
    x = r / r.std()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            garch, const = _fit_t(x, "GARCH"), _fit_t(x, "Constant")
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):
            return nan
    if garch.convergence_flag or const.convergence_flag:
        return nan
    persistence = float(garch.params["alpha[1]"] + garch.params["beta[1]"])
    lr = max(2.0 * float(garch.loglikelihood - const.loglikelihood), 0.0)
    if not (math.isfinite(persistence) and math.isfinite(lr)):
        return nan
    return {"garch_persistence": persistence, "garch_lr": lr,
            "garch_lr_p": float(stats.chi2.sf(lr, 2))}


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
    for m in AGG_LEVELS:
        out[f"kurt_{m}"] = aggregated_kurtosis(r, m)
    for m in AGG_LEVELS:
        out[f"hill_5pct_{m}"] = aggregated_hill(r, m, 0.05)
    out.update(abs_return_clustering(r))
    out.update(garch_test(r))
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
