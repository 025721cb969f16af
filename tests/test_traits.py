import math

import numpy as np
import pytest

from abm_hetero.distributions import (
    Constant,
    Exponential,
    LogNormal,
    TruncatedNormal,
    Uniform,
    distribution_from_dict,
)
from abm_hetero.errors import SettingsError
from abm_hetero.traits import TraitDistribution, Traits, heterogeneous, homogeneous, preset


def test_valid_traits():
    t = Traits(alpha=0.0, gamma=0.5, sigma=0.0)
    assert (t.alpha, t.gamma, t.sigma) == (0.0, 0.5, 0.0)


@pytest.mark.parametrize(
    "kwargs, text",
    [
        (dict(alpha=-0.1, gamma=0.9, sigma=0.01),
         "alpha = -0.1 is out of range: need 0 <= alpha <= 1000"),
        (dict(alpha=1, gamma=1.0, sigma=0.01), "gamma = 1.0 is out of range: need 0 < gamma < 1"),
        (dict(alpha=1, gamma=0.0, sigma=0.01), "gamma"),
        (dict(alpha=1, gamma=0.9, sigma=-1), "sigma"),
        (dict(alpha=float("nan"), gamma=0.9, sigma=0.0), "alpha"),
        (dict(alpha="x", gamma=0.9, sigma=0.0), "alpha must be a number"),
    ],
)
def test_invalid_traits_have_clear_messages(kwargs, text):
    with pytest.raises(SettingsError, match=text):
        Traits(**kwargs)


@pytest.mark.parametrize(
    "dist",
    [Constant(0.3), Uniform(0.1, 0.5), TruncatedNormal(0.3, 0.1, 0.0, 1.0), LogNormal(0.3, 0.1),
     Exponential(0.3)],
)
def test_distribution_means_match_samples(dist):
    x = dist.sample(np.random.default_rng(0), 200_000)
    assert x.mean() == pytest.approx(dist.mean(), rel=0.02)
    lo, hi = dist.support()
    assert x.min() >= lo and x.max() <= hi
    assert distribution_from_dict(dist.to_dict()) == dist


def test_trait_distribution_truncates_normals_to_valid_range():
    d = TraitDistribution(alpha=TruncatedNormal(0.1, 1.0), gamma=TruncatedNormal(0.95, 0.2),
                          sigma=Constant(0.0))
    s = d.sample(np.random.default_rng(1), 50_000)
    assert s.alpha.min() >= 0 and s.gamma.min() > 0 and s.gamma.max() < 1
    for i in range(5):
        s.record(i)  # every draw is a valid Traits


def test_unbounded_distribution_for_gamma_is_rejected():
    with pytest.raises(SettingsError, match="traits.gamma"):
        TraitDistribution(gamma=Exponential(0.5))
    with pytest.raises(SettingsError, match="traits.alpha"):
        TraitDistribution(alpha=Uniform(-1.0, 1.0))


def test_presets_share_means():
    het, hom = heterogeneous().means(), homogeneous().means()
    assert het == hom
    assert math.isclose(het.gamma, (0.75 + 0.999) / 2)
    assert isinstance(homogeneous().alpha, Constant)
    with pytest.raises(SettingsError, match="unknown trait preset"):
        preset("mixed")


@pytest.mark.parametrize(
    "data, text",
    [
        ({"kind": "beta"}, "unknown distribution kind 'beta'"),
        ({"kind": "uniform", "low": 1}, "uniform needs high"),
        ({"kind": "uniform", "low": 1, "high": 0}, "low < high"),
        ({"kind": "normal", "mean": 1, "sd": 2}, "unknown key"),
        ({"kind": "exponential", "mean": "big"}, "must be a number"),
        ("wide", "expected a number or a table"),
    ],
)
def test_bad_distribution_tables(data, text):
    with pytest.raises(SettingsError, match=text):
        distribution_from_dict(data)


def test_unknown_trait_name():
    with pytest.raises(SettingsError, match="unknown trait"):
        TraitDistribution.from_dict({"beta": 1.0})
