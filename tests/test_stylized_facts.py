"""Estimators against known answers and the real-data numbers of docs/analysis.md."""

import importlib
import math

import numpy as np
import pytest

from abm_hetero.analysis import AnalysisError, log_returns, stylized_facts, verdicts
from abm_hetero.analysis.data import load_builtin
from abm_hetero.analysis.stylized_facts import (
    KEYS,
    acf,
    aggregated_kurtosis,
    garch_test,
    hill,
    quick_summary,
)


def test_keys_are_exactly_the_documented_ones():
    r = np.random.default_rng(0).standard_normal(1000)
    assert tuple(stylized_facts(r)) == KEYS
    assert math.isnan(stylized_facts(r)["vv_corr"])


def test_gaussian_noise():
    r = np.random.default_rng(1).standard_normal(100_000)
    f = stylized_facts(r)
    assert abs(f["kurt_1"]) < 0.1 and abs(f["acf_abs_1"]) < 0.02 and abs(f["acf_r_1"]) < 0.02


def test_student_t3_hill():
    r = np.random.default_rng(2).standard_t(3, 200_000)
    assert hill(r, 0.05) == pytest.approx(2.66, abs=0.1)
    assert hill(r, 0.025) == pytest.approx(2.77, abs=0.12)


def garch_series(n: int, seed: int, omega: float = 0.05, a: float = 0.1, b: float = 0.85):
    """A GARCH(1,1) series with Gaussian innovations (persistence a + b)."""
    rng = np.random.default_rng(seed)
    r = np.empty(n)
    var = omega / (1 - a - b)
    for t in range(n):
        r[t] = math.sqrt(var) * rng.standard_normal()
        var = omega + a * r[t] ** 2 + b * var
    return r


def test_garch_has_positive_decaying_acf_of_abs_returns():
    f = stylized_facts(garch_series(50_000, 3))
    assert f["acf_abs_1"] > 0.1
    assert f["acf_abs_1"] > f["acf_abs_10"] > f["acf_abs_50"] > 0
    assert abs(f["acf_r_1"]) < 0.05


def test_iid_fat_tails_are_not_volatility_clustering():
    f = stylized_facts(np.random.default_rng(0).standard_t(3, 2000))
    assert f["lb_abs_1_p"] > 0.01 and f["lb_abs_10_p"] > 0.01
    assert f["garch_lr_p"] > 0.05


def test_garch_series_shows_volatility_clustering():
    f = stylized_facts(garch_series(2000, 0))
    assert f["garch_lr_p"] < 0.01 and f["garch_persistence"] > 0.8
    assert f["lb_abs_1_p"] < 0.01


def test_aggregated_gaussian_stays_gaussian():
    z = np.random.default_rng(7).standard_normal(200_000)
    assert abs(aggregated_kurtosis(z, 10)) < 0.15 and abs(aggregated_kurtosis(z, 100)) < 0.3


def test_too_short_to_aggregate_gives_nan():
    f = stylized_facts(np.random.default_rng(0).standard_normal(250))
    for key in ("kurt_100", "hill_5pct_10", "hill_5pct_100", "lb_abs_10", "lb_abs_10_p"):
        assert math.isnan(f[key]), key
    assert math.isfinite(f["kurt_10"]) and math.isfinite(f["lb_abs_1_p"])


sf = importlib.import_module("abm_hetero.analysis.stylized_facts")  # the module, not the function


class _Unconverged:
    convergence_flag = 9


@pytest.mark.parametrize("fit", [lambda x, vol: _Unconverged(),
                                 lambda x, vol: np.linalg.cholesky(-np.eye(2))])
def test_failed_garch_fit_gives_nan(monkeypatch, fit):
    monkeypatch.setattr(sf, "_fit_t", fit)
    r = np.random.default_rng(0).standard_normal(500)
    assert all(math.isnan(v) for v in garch_test(r).values())


def test_acf_by_hand():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    d = x - 2.5  # -1.5 -0.5 0.5 1.5; sum of squares 5
    lag1 = (-1.5 * -0.5 + -0.5 * 0.5 + 0.5 * 1.5) / 5
    lag2 = (-1.5 * 0.5 + -0.5 * 1.5) / 5
    np.testing.assert_allclose(acf(x, [1, 2]), [lag1, lag2])
    assert d.sum() == 0


def test_sp500_reproduces_the_published_numbers():
    sp = load_builtin("sp500")
    f = stylized_facts(sp.returns(), sp.return_volume())
    expected = {"n": 5030, "kurt_1": 8.17, "kurt_5": 4.14, "kurt_20": 4.05,
                "hill_2.5pct": 3.36, "hill_5pct": 2.93, "acf_r_1": -0.07,
                "acf_abs_1": 0.24, "acf_abs_10": 0.29, "acf_abs_100": 0.12, "beta_abs": 0.30,
                "lev_mean_1_10": -0.08, "vv_corr": 0.16}
    for key, value in expected.items():
        assert round(f[key], 2) == pytest.approx(value, abs=0.006), key
    shown = verdicts(f, sp.returns()).set_index("fact")["shown"]
    assert shown.all()


def test_sp500_clustering_and_aggregated_tails():
    sp = load_builtin("sp500")
    f = stylized_facts(sp.returns(), sp.return_volume())
    expected = {"kurt_10": 4.30, "kurt_100": 3.01, "hill_5pct_10": 2.88, "lb_abs_1": 4543.18,
                "lb_abs_10": 110.76, "garch_persistence": 1.00, "garch_lr": 1214.46}
    for key, value in expected.items():
        assert round(f[key], 2) == pytest.approx(value, abs=0.006), key
    assert math.isnan(f["hill_5pct_100"])  # 50 sums: too few for a tail
    assert f["lb_abs_1_p"] < 1e-100 and f["lb_abs_10_p"] < 1e-15 and f["garch_lr_p"] < 1e-100


@pytest.mark.parametrize(
    "prices, text",
    [
        ([np.nan] * 10, "all NaN"),
        ([100.0] * 300, "constant"),
        ([100.0, -1.0, 101.0], "must be positive"),
        ([[1.0, 2.0]], "one-dimensional"),
    ],
)
def test_unusable_prices(prices, text):
    with pytest.raises(AnalysisError, match=text):
        log_returns(prices)


def test_unusable_returns():
    with pytest.raises(AnalysisError, match="need at least 200"):
        stylized_facts(np.random.default_rng(0).standard_normal(50))
    with pytest.raises(AnalysisError, match="all NaN"):
        stylized_facts(np.full(300, np.nan))
    with pytest.raises(AnalysisError, match="constant"):
        stylized_facts(np.zeros(300))
    with pytest.raises(AnalysisError, match="one value per return"):
        stylized_facts(np.ones(300), volume=np.ones(10))
    with pytest.raises(AnalysisError, match="at least 30"):
        quick_summary(np.ones(5))
