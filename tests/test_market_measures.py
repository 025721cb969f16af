"""The market measures: the fundamental's share of the price's variance and participation."""

import math

import numpy as np
import pandas as pd
import pytest

from abm_hetero.analysis.market_measures import (
    MEASURE_KEYS,
    empty_side_ticks,
    fundamental_share,
    market_measures,
    mean_abs_log_gap,
    no_fill_fraction,
    window_returns,
)
from abm_hetero.analysis.stylized_facts import AnalysisError


def _walk(rng, n, vol):
    return 100.0 * np.exp(np.cumsum(rng.normal(0, vol, n)))


def test_window_returns_are_non_overlapping_log_changes():
    p = np.exp(np.arange(11, dtype=float))  # log price 0, 1, ..., 10
    assert np.allclose(window_returns(p, 1), 1.0)
    assert np.allclose(window_returns(p, 5), [5.0, 5.0])
    assert np.allclose(window_returns(p, 3), [3.0, 3.0, 3.0])  # the last partial window dropped
    with pytest.raises(AnalysisError, match="horizon"):
        window_returns(p, 0)


def test_share_is_one_for_a_price_that_is_the_fundamental_and_scales():
    rng = np.random.default_rng(0)
    f = _walk(rng, 2001, 1e-3)
    for h in (1, 10, 100):
        assert fundamental_share(f, f, h) == pytest.approx(1.0)
        assert fundamental_share(1.01 * f**0.5, f, h) == pytest.approx(1.0)


def test_share_is_near_zero_for_an_independent_price():
    rng = np.random.default_rng(1)
    f, p = _walk(rng, 20001, 1e-3), _walk(rng, 20001, 1e-3)
    assert fundamental_share(p, f, 10) < 0.01


def test_share_matches_the_variance_split():
    """price = fundamental times independent noise of equal variance: R^2 = 1/2."""
    rng = np.random.default_rng(2)
    n = 200_001
    f = _walk(rng, n, 1e-3)
    p = f * _walk(rng, n, 1e-3) / 100.0
    assert fundamental_share(p, f, 10) == pytest.approx(0.5, abs=0.02)
    # the same with the regression done by hand
    y, x = window_returns(p, 10), window_returns(f, 10)
    coef = np.polyfit(x, y, 1)
    resid = y - np.polyval(coef, x)
    assert fundamental_share(p, f, 10) == pytest.approx(1 - resid.var() / y.var())


def test_share_drops_missing_values_and_is_nan_when_short_or_flat():
    rng = np.random.default_rng(3)
    f = _walk(rng, 1001, 1e-3)
    p = f.copy()
    p[500] = np.nan
    assert fundamental_share(p, f, 10) == pytest.approx(1.0)
    assert math.isnan(fundamental_share(f[:50], f[:50], 10))  # 4 windows
    assert math.isnan(fundamental_share(np.full(1001, 5.0), f, 10))  # a flat price
    with pytest.raises(AnalysisError, match="same length"):
        fundamental_share(f[:-1], f, 10)
    with pytest.raises(AnalysisError, match="positive"):
        fundamental_share(-f, f, 10)


def test_no_fill_fraction_counts_traders_without_a_late_fill():
    trades = pd.DataFrame({"time": [5, 150, 200, 300], "buyer": [0, 1, 2, 9],
                           "seller": [3, 2, 9, 1], "volume": [1, 1, 1, 1]})
    # 0 and 3 fill only before tick 100, 4 never; 1 and 2 fill late; 9 is not a learner
    assert no_fill_fraction(trades, [0, 1, 2, 3, 4], after=100) == pytest.approx(3 / 5)
    assert no_fill_fraction(trades, [0, 1, 2, 3, 4], after=0) == pytest.approx(1 / 5)
    assert no_fill_fraction(trades.iloc[:0], [0, 1], after=0) == 1.0
    assert math.isnan(no_fill_fraction(trades, []))


def test_gap_and_empty_side():
    assert mean_abs_log_gap([100.0, 100.0 * math.e], [100.0, 100.0]) == pytest.approx(0.5)
    assert empty_side_ticks([1.0, np.nan, 1.0, 1.0], [2.0, 2.0, 2.0, np.nan]) == 0.5
    assert empty_side_ticks([1.0], [2.0]) == 0.0


def test_market_measures_of_a_simulated_run():
    from abm_hetero.analysis.behaviour import run_data
    from abm_hetero.experiments import run_market, scenario_settings

    model = run_market(scenario_settings("learned-heterogeneous", 0, traders=50, ticks=400))
    run = run_data(model)
    m = market_measures(run["market"], run["trades"], run["traders"], burn_in=100)
    assert tuple(m) == MEASURE_KEYS
    for h in (1, 10):
        assert 0.0 <= m[f"fundamental_share_{h}"] <= 1.0
    assert 0.0 <= m["no_fill_fraction"] <= 1.0
    assert 0.0 <= m["mean_abs_log_gap"] < 0.1
    assert m["empty_side_ticks"] == 0.0
    fcn = run_data(run_market(scenario_settings("fcn", 0, traders=50, ticks=400)))
    assert math.isnan(market_measures(fcn["market"], fcn["trades"], fcn["traders"])[
        "no_fill_fraction"])
