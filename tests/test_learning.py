"""Learning traders inside the market: observations, orders, rewards, learned populations."""

import numpy as np
import pytest
import torch

from abm_hetero import MarketModel, scenario
from abm_hetero.agents.learning import LearningTrader
from abm_hetero.learning.buffer import RolloutBuffer
from abm_hetero.learning.observer import MARKET_FEATURES, observation_size, rescale
from abm_hetero.learning.policy import Policy
from abm_hetero.traits import prior

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def policy():
    return Policy.fresh(prior(), seed=0)


def learned(n=40, ticks=50, seed=1, **params):
    s = scenario("learned-heterogeneous", traders=n, ticks=ticks, seed=seed)
    for key, value in params.items():
        setattr(s.traders[0].params, key, value)
    return s


def test_rescale():
    np.testing.assert_allclose(rescale(np.array([0.0, 0.5, 1.0, 2.0]), 0.0, 1.0),
                               [-1.0, 0.0, 1.0, 1.0])
    assert (rescale(np.array([3.0]), 2.0, 2.0) == 0).all()  # constant trait


def test_observation_features(policy):
    model = MarketModel(learned(), policy=policy).run(20)
    group = model.groups[0]
    active = np.arange(5)
    obs, (r_hat, v_hat) = group.observe(model, active)
    assert obs.shape == (5, observation_size()) and obs.dtype == np.float32
    assert np.abs(obs).max() <= 1
    p = model.exchange.state.reference_price
    cash = model.accounts.cash[group.rows[active]]
    q = model.accounts.shares[group.rows[active]].astype(float)
    w = cash + q * p
    low, high = MARKET_FEATURES[0].low, MARKET_FEATURES[0].high
    np.testing.assert_allclose(obs[:, 0], rescale(q * p / (w + 1e-6), low, high), rtol=1e-5)
    lo, hi = policy.bounds["alpha"]
    np.testing.assert_allclose(obs[:, 9], rescale(group.traits.alpha[:5], lo, hi), rtol=1e-5)
    assert (v_hat >= 0).all()


def test_a_masked_policy_never_sees_the_traits():
    masked = Policy.fresh(prior(), seed=0, masked_traits=True)
    model = MarketModel(learned(), policy=masked).run(5)
    obs, _ = model.groups[0].observe(model, np.arange(10))
    assert (obs[:, 8:] == 0).all() and np.abs(obs[:, :8]).sum() > 0


def test_orders_follow_the_action_rule(policy):
    model = MarketModel(learned(), policy=policy).run(5)
    group = model.groups[0]
    m = model.exchange.state.reference_price
    action = np.array([[0.5, 0.5], [-0.2, -0.9], [0.1, 0.0]], dtype=np.float32)
    batch = group.orders(model, np.arange(3), action)
    assert list(batch.sides) == [1, -1]  # the zero-volume action sends nothing
    np.testing.assert_allclose(batch.prices, [m * (1 - 0.01 * 0.5), m * (1 + 0.01 * -0.2)],
                               rtol=1e-6)
    assert list(batch.volumes) == [10, 18] and (batch.ttls == 10).all()


def test_every_decision_is_rewarded_and_linked_to_the_next(policy):
    model = MarketModel(learned(seed=3), policy=policy)
    buf = RolloutBuffer(observation_size(), 2)
    model.groups[0].start_learning(buf)
    model.run(40)
    model.finish()
    n = buf.size
    assert n > 0 and not np.isnan(buf.reward[:n]).any()
    assert buf.done[:n].sum() == len(set(buf.trader[:n]))  # one terminal per trader
    # every link points to the same trader's next decision
    linked = buf.next_index[:n] >= 0
    assert (buf.trader[:n][linked] == buf.trader[buf.next_index[:n][linked]]).all()
    assert (buf.gamma[:n] > 0).all() and (buf.gamma[:n] < 1).all()


@pytest.mark.parametrize("batched", [True, False])
def test_learning_market_runs_and_conserves(policy, batched):
    model = MarketModel(learned(batched=batched), policy=policy).run()
    assert len(model.exchange.trades) > 0
    assert model.groups[0].decisions > 0
    assert model.accounts.shares.sum() == model.initial_shares.sum()
    assert isinstance(model.traders[0], LearningTrader)


@pytest.mark.parametrize("name", ["learned-heterogeneous", "learned-homogeneous"])
def test_shipped_policies_load_and_simulate(name):
    model = MarketModel(scenario(name, traders=100, ticks=100, seed=0)).run()
    assert model.groups[0].decisions > 0 and len(model.exchange.orders) > 0
    hom = name.endswith("homogeneous") and not name.endswith("heterogeneous")
    assert (np.ptp(model.groups[0].traits.alpha) == 0) == hom
