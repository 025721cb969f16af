"""Optimal-transport distances and point clouds."""

import numpy as np
import pytest

from abm_hetero.analysis.ot import (
    CloudSettings,
    lag_cloud,
    ot_distance,
    point_clouds,
    tail_cloud,
)
from abm_hetero.analysis.stylized_facts import AnalysisError


def test_one_dimensional_ot_equals_sorted_matching():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=200), rng.standard_t(3, size=200)
    expected = np.mean((np.sort(x) - np.sort(y)) ** 2)
    assert ot_distance(x, y) == pytest.approx(expected, rel=1e-9)


def test_zero_for_identical_clouds_and_symmetric():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(100, 9)), rng.normal(size=(100, 9))
    assert ot_distance(x, x) == pytest.approx(0.0, abs=1e-12)
    assert ot_distance(x, y) == pytest.approx(ot_distance(y, x), rel=1e-9)


def test_distance_is_per_dimension():
    x = np.zeros((10, 4))
    assert ot_distance(x, x + 1.0) == pytest.approx(1.0)  # 4 per point, divided by 4


def test_cloud_shapes_and_determinism():
    r = np.random.default_rng(2).standard_t(4, 6000)
    clouds = point_clouds([r], CloudSettings(points=250))
    assert clouds["return"].shape == (250,)
    assert clouds["tail_return"].shape == (250,) and clouds["tail_return"][0] == 0
    assert clouds["return_ts"].shape == (250, 9)
    again = point_clouds([r], CloudSettings(points=250))
    for name in clouds:
        np.testing.assert_array_equal(clouds[name], again[name])


def test_clouds_that_cannot_be_built_say_how_many_are_needed():
    rng = np.random.default_rng(3)
    r = rng.normal(size=1000)
    with pytest.raises(AnalysisError, match="needs at least 5000 returns"):
        tail_cloud([r], CloudSettings(points=250), rng)
    with pytest.raises(AnalysisError, match="needs 2000 vectors"):
        lag_cloud([r], CloudSettings(points=2000), rng)
    with pytest.raises(AnalysisError, match="same shape"):
        ot_distance(np.zeros(3), np.zeros(4))
    with pytest.raises(AnalysisError, match="no return series with price changes"):
        point_clouds([np.zeros(500)], CloudSettings(points=10))
    with pytest.raises(AnalysisError, match="tail must be"):
        CloudSettings(tail=1.5)
