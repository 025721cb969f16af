"""Estimators against known answers and the real-data numbers of docs/analysis.md."""

import math

import numpy as np
import pytest

from abm_hetero.analysis import AnalysisError, log_returns, stylized_facts, verdicts
from abm_hetero.analysis.data import load_builtin
from abm_hetero.analysis.stylized_facts import KEYS, acf, hill, quick_summary


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


def test_garch_has_positive_decaying_acf_of_abs_returns():
    rng = np.random.default_rng(3)
    n, omega, a, b = 50_000, 0.05, 0.1, 0.85
    r = np.empty(n)
    var = omega / (1 - a - b)
    for t in range(n):
        r[t] = math.sqrt(var) * rng.standard_normal()
        var = omega + a * r[t] ** 2 + b * var
    f = stylized_facts(r)
    assert f["acf_abs_1"] > 0.1
    assert f["acf_abs_1"] > f["acf_abs_10"] > f["acf_abs_50"] > 0
    assert abs(f["acf_r_1"]) < 0.05


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
