import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def small_fcn():
    from abm_hetero import scenario

    return scenario("fcn", traders=50, ticks=200, seed=3)
