"""The markets' fast acting path: the NumPy forward equals torch's, follows the weights, and
the pure-Python core keeps acting through torch; the market series recorded per tick are what
Mesa's DataCollector would have recorded."""

import numpy as np
import pytest
import torch

from abm_hetero.experiments import scenario_settings
from abm_hetero.learning.policy import Policy
from abm_hetero.model import MARKET_REPORTERS, MarketModel
from abm_hetero.traits import heterogeneous

#: float32 rounding of a 3-layer MLP: far below any difference a market could act on
TOL = 2e-5


def _policy(seed: int = 0) -> Policy:
    return Policy.fresh(heterogeneous(), seed=seed)


def _inputs(policy: Policy, n: int = 23, seed: int = 1):
    rng = np.random.default_rng(seed)
    obs = rng.uniform(-1, 1, (n, policy.net.arch.obs_dim)).astype(np.float32)
    return obs, rng.standard_normal((n, policy.net.arch.act_dim))


def _assert_close(policy: Policy, obs, noise, with_value=True, with_logp=True) -> None:
    slow = policy.act(obs, noise, with_value, with_logp)
    fast = policy.act(obs, noise, with_value, with_logp, fast=True)
    assert set(slow) == set(fast)
    # the tanh correction log(1 - tanh(u)^2 + 1e-6) is ill-conditioned where tanh saturates
    # (one float32 ulp of tanh moves it by a lot): compared where |u| < 3
    moderate = (np.abs(slow["raw"]) < 3).all(axis=1)
    for key, value in slow.items():
        assert fast[key].dtype == np.float32 and fast[key].shape == value.shape, key
        got, want = (fast[key][moderate], value[moderate]) if key == "logp" else (fast[key],
                                                                                value)
        np.testing.assert_allclose(got, want, rtol=0, atol=TOL * max(
            1.0, float(np.abs(want).max(initial=0))), err_msg=key)


def _perturb(policy: Policy, scale: float = 0.5) -> None:
    """Weights far from a fresh network's (its last actor layer starts almost at zero)."""
    with torch.no_grad():
        for p in policy.net.parameters():
            p.add_(scale * torch.randn_like(p))


@pytest.mark.parametrize("deterministic", [False, True])
def test_numpy_forward_equals_torch(deterministic):
    policy = _policy()
    _perturb(policy)
    obs, noise = _inputs(policy)
    _assert_close(policy, obs, None if deterministic else noise)
    _assert_close(policy, obs, None if deterministic else noise, with_value=False,
                  with_logp=False)


def test_numpy_forward_of_a_shipped_policy_and_extreme_inputs():
    from abm_hetero.agents.learning import load_named_policy

    policy = load_named_policy("heterogeneous")
    obs, noise = _inputs(policy, n=50)
    _assert_close(policy, obs, noise)
    _assert_close(policy, obs * 30, noise * 4)  # saturated tanh: the clamp and the correction
    _assert_close(policy, obs[:1], noise[:1])
    _assert_close(policy, obs[:0], noise[:0])


def test_weights_follow_an_optimizer_step_and_a_load():
    policy = _policy(3)
    obs, noise = _inputs(policy)
    before = policy.act(obs, noise, True, True, fast=True)
    optimizer = torch.optim.Adam(policy.net.parameters(), lr=0.05)
    logp, _, value = policy.net.evaluate(torch.as_tensor(obs), torch.as_tensor(
        before["raw"]))
    (-(logp.mean()) + value.pow(2).mean()).backward()
    optimizer.step()
    after = policy.act(obs, noise, True, True, fast=True)
    assert np.abs(after["value"] - before["value"]).max() > 1e-4
    _assert_close(policy, obs, noise)

    other = _policy(7)
    _perturb(other)
    policy.net.load_state_dict(other.net.state_dict())
    _assert_close(policy, obs, noise)
    np.testing.assert_allclose(policy.act(obs, noise, True, True, fast=True)["value"],
                               other.act(obs, noise, True, True)["value"], atol=TOL)

    policy.refresh()  # an explicit refresh changes nothing once up to date
    _assert_close(policy, obs, noise)


def test_weights_given_new_storage_are_followed_and_data_edits_need_a_refresh():
    policy = _policy(3)
    obs, noise = _inputs(policy)
    layer = policy.net.actor[0]
    policy.act(obs, noise, True, True, fast=True)
    layer.weight.data = layer.weight.data * 1.5  # new storage: seen by itself
    _assert_close(policy, obs, noise)
    layer.weight.data.mul_(0.5)  # bypasses the version counter: the documented refresh
    policy.refresh()
    _assert_close(policy, obs, noise)


def _learned(core: str, ticks: int = 30) -> MarketModel:
    settings = scenario_settings("learned-heterogeneous", 0, traders=40, ticks=ticks,
                                 batched=True).replace(core=core)
    return MarketModel(settings)


def test_the_python_core_acts_through_torch(monkeypatch):
    calls = {"torch": 0}
    model = _learned("python")
    group = next(g for g in model.groups if g.kind == "learning")
    assert not group.fast
    real = type(group.policy.net).act

    def counted(self, *args, **kwargs):
        calls["torch"] += 1
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(group.policy.net), "act", counted)
    model.run()
    assert calls["torch"] > 0
    assert _learned("compiled").groups[0].fast


def test_market_series_are_the_reporters_values():
    model = _learned("compiled", ticks=25)
    for _ in range(25):
        model.step()
        collected = model.datacollector.model_vars
        for name, reporter in MARKET_REPORTERS.items():
            expected, got = reporter(model), collected[name][-1]
            assert type(got) is type(expected) and (got == expected or (
                np.isnan(got) and np.isnan(expected))), name
    frame = model.market_frame()
    assert len(frame) == 26 and list(frame.columns) == list(MARKET_REPORTERS)
    assert frame.index.name == "tick"
    assert all(len(v) == 26 for v in model.datacollector.model_vars.values())
    assert model.steps == 25


def test_compiled_observations_and_orders_equal_numpy():
    """The compiled observation and order loops give the NumPy code's results, bit for bit."""
    model = _learned("compiled", ticks=120).run()
    group = model.groups[0]
    observer = group.observer
    assert observer._compiled
    for trial in range(10):
        rng = np.random.default_rng(trial)
        active = np.sort(rng.choice(len(group), 12, replace=False))
        snap = group.snapshot(model, active)
        last = rng.integers(-1, 120, len(active))
        sigma = group.traits.sigma[active]
        results = []
        for compiled in (True, False):
            observer._compiled = compiled
            results.append(observer.observe(active, snap.cash, snap.shares, last, sigma,
                                            np.random.default_rng(trial)))
        (a, (ra, va)), (b, (rb, vb)) = results
        assert a.dtype == b.dtype == np.float32 and np.array_equal(a, b)
        assert np.array_equal(ra, rb) and np.array_equal(va, vb)
        action = rng.uniform(-1, 1, (len(active), 2)).astype(np.float32)
        action[0, 1], action[1, 1] = 0.01, -0.04  # volume 1 and a dropped order
        batches = []
        for fast in (True, False):
            group.fast = fast
            batches.append(group.orders(model, active, action))
        for x, y in zip(*batches):
            assert x.dtype == y.dtype and np.array_equal(x, y)


@pytest.mark.parametrize("ticks", [0, 2, 150])
def test_compiled_fcn_decisions_equal_numpy(ticks):
    """The FCN margin rule's compiled loops give the NumPy code's orders from the same draws."""
    settings = scenario_settings("fcn", 0, traders=60, ticks=200, batched=True)
    model = MarketModel(settings).run(ticks) if ticks else MarketModel(settings)
    group = model.groups[0]
    assert group.compiled
    for trial in range(5):
        active = np.sort(np.random.default_rng(trial).choice(len(group), 15, replace=False))
        state = model.rng.bit_generator.state
        batches = []
        for compiled in (True, False):
            model.rng.bit_generator.state = state
            group.compiled = compiled
            batches.append(group.decide(model, active))
        for x, y in zip(*batches):
            assert x.dtype == y.dtype and np.array_equal(x, y)


@pytest.mark.parametrize("options", [{}, {"risk_variance": "since_decision",
                                          "reward_fundamental_moves": True},
                                     {"risk_variance": "ewma", "valuation": "market"}])
def test_compiled_reward_equals_numpy(options):
    """The compiled mean-variance reward gives the term table's values bit for bit."""
    model = _learned("compiled", ticks=150).run()
    group = model.groups[0]
    for name, value in options.items():
        setattr(group.params, name, value)
    reward = type(group.reward)(model.exchange, group.params, len(group),
                                model.settings.market.initial_price, compiled=True)
    assert reward._compiled
    everyone = np.arange(len(group))
    now = group.snapshot(model, everyone)
    prev = group.last.take(everyone)
    assert (prev.tick >= 0).any() and (prev.tick < 0).any() or (prev.tick >= 0).all()
    for settle in (False, True):
        results = []
        for compiled in (True, False):
            reward._compiled = compiled
            results.append(reward(everyone, prev, now, group.traits, None, None, settle=settle))
        (ra, ta), (rb, tb) = results
        np.testing.assert_array_equal(ra, rb)
        assert list(ta) == list(tb)
        for key in ta:
            np.testing.assert_array_equal(ta[key], tb[key], err_msg=key)


@pytest.mark.parametrize("population", ["learned-heterogeneous", "fcn"])
def test_trader_records_are_mesa_s(population):
    """The per-trader records equal those of the DataCollector's own collect."""
    import mesa

    settings = scenario_settings(population, 0, traders=30, ticks=60, batched=True)
    model = MarketModel(settings).run()
    assert len(model.trader_frame()) == 30 * (1 + 60 // settings.trader_report_period)
    reference = mesa.DataCollector(agenttype_reporters=model.trader_collector.agenttype_reporters)
    reference.collect(model)
    model.trader_collector.collect = None  # the records must not come from it
    model._collect_traders()
    mine = model.trader_collector._agenttype_records[model.steps]
    theirs = reference._agenttype_records[model.steps]
    assert mine.keys() == theirs.keys()
    for kind in theirs:
        assert len(mine[kind]) == len(theirs[kind]) > 0
        for a, b in zip(mine[kind], theirs[kind]):
            assert a == b and [type(x) for x in a] == [type(x) for x in b]


def _fingerprint(model: MarketModel) -> list:
    import pandas as pd

    frames = (model.market_frame(), model.trader_frame(), model.trade_frame(),
              model.order_frame())
    return [pd.util.hash_pandas_object(f, index=True).values.tobytes() for f in frames] + [
        [g.reward_sum for g in model.groups]]


def test_compiled_core_acting_through_torch_is_the_python_core(monkeypatch):
    """The compiled loops of the learning tick change no bit: with the policy acting through
    torch, a learned market on the compiled core is the pure-Python core's, frame for frame."""
    python = _learned("python", ticks=80).run()
    python.finish()
    real = Policy.act
    monkeypatch.setattr(Policy, "act", lambda self, obs, noise=None, with_value=False,
                        with_logp=True, fast=False: real(self, obs, noise, with_value,
                                                         with_logp))
    compiled = _learned("compiled", ticks=80).run()
    compiled.finish()
    assert compiled.groups[0].fast and compiled.groups[0].observer._compiled
    assert _fingerprint(compiled) == _fingerprint(python)
