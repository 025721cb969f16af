"""The reward of learning traders: its terms on hand-built cases, the mark, the audit."""

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from abm_hetero import MarketModel, scenario
from abm_hetero.agents.audit import DecisionAudit
from abm_hetero.analysis.diagnostics import reward_audit, reward_timing
from abm_hetero.learning.policy import Policy
from abm_hetero.learning.reward import (
    TERMS,
    PremiumTracker,
    RewardInputs,
    Snapshot,
    bounded_utility,
    cara_utility_parts,
    terms_of,
)
from abm_hetero.market import SeriesBuffer
from abm_hetero.traits import TraitSample, heterogeneous


def snap(tick, cash, shares, fundamental, mark):
    return Snapshot(np.array([tick]), np.array([cash]), np.array([float(shares)]),
                    np.array([fundamental]), np.array([mark]))


def mean_variance_terms(prev, now, alpha, *, risk_scale, variance_per_tick, unit, settle):
    """The terms of the mean-variance reward but the penalties, each from its row of TERMS."""
    x = RewardInputs(prev, now, TraitSample(alpha=alpha), np.array([0]),
                     SimpleNamespace(risk_scale=risk_scale), unit, variance_per_tick, settle,
                     0.0, 0.0, lambda: 0.0)
    return {t.name: t.compute(x) for t in terms_of("mean_variance") if t.name != "penalties"}


def test_the_terms_have_one_table():
    names = [t.name for t in TERMS]
    assert len(names) == len(set(names))
    assert [t.name for t in terms_of("mean_variance")] == [
        "trading", "premium", "fundamental", "risk", "settlement", "penalties"]
    assert [t.name for t in terms_of("utility_change")] == [
        "wealth", "return_term", "risk_term", "penalties"]


def test_mean_variance_terms_on_a_hand_built_interval():
    # 10 shares held at a mark of 99 (fundamental 100); over 10 ticks the trader buys 2 shares
    # for 196 (98 each), the fundamental moves to 101 and the market's premium from -1% to 0
    prev = snap(0, 1000.0, 10, 100.0, 99.0)
    now = snap(10, 804.0, 12, 101.0, 101.0)
    t = mean_variance_terms(prev, now, np.array([2.0]), risk_scale=1.0,
                            variance_per_tick=1e-6, unit=100.0, settle=False)
    assert t["trading"][0] == pytest.approx((-196 + 2 * 101) / 100)  # bought 3 below the mark
    assert t["premium"][0] == pytest.approx(10 * 101 * (1.0 - 0.99) / 100)
    assert t["fundamental"][0] == pytest.approx(10 * 1.0 * 0.99 / 100)
    # the three revaluation terms add up to the change of marked wealth
    wealth = (now.cash + now.shares * now.mark - prev.cash - prev.shares * prev.mark) / 100
    assert t["trading"][0] + t["premium"][0] + t["fundamental"][0] == pytest.approx(wealth[0])
    # risk: alpha * scale / 2 * (q mark / p0)^2 * s^2 * dt
    assert t["risk"][0] == pytest.approx(-0.5 * 2.0 * (12 * 101 / 100) ** 2 * 1e-6 * 10)
    assert t["settlement"][0] == 0
    settled = mean_variance_terms(prev, snap(10, 804.0, 12, 101.0, 100.0), np.array([2.0]),
                                  risk_scale=1.0, variance_per_tick=1e-6, unit=100.0,
                                  settle=True)
    assert settled["settlement"][0] == pytest.approx(12 * 1.0 / 100)  # paid the fundamental


def test_the_premium_tracker_averages_the_log_premium():
    prices, fundamentals = SeriesBuffer(), SeriesBuffer()
    tracker = PremiumTracker(prices, fundamentals, span=3)  # weight 0.5
    for p, f in ((100.0, 100.0), (99.0, 100.0), (101.0, 100.0)):
        prices.append(p)
        fundamentals.append(f)
    fundamentals.append(102.0)  # the fundamental runs one tick ahead of the published prices
    m1, m2 = math.log(0.99), math.log(1.01)
    assert tracker.premium() == pytest.approx(0.5 * (0.5 * m1) + 0.5 * m2)
    assert tracker.premium() == pytest.approx(0.25 * m1 + 0.5 * m2)  # nothing new: unchanged


def test_the_utility_matches_the_reference_formula():
    parts = cara_utility_parts(np.array([1000.0]), np.array([10.0]), 300.0, np.array([0.01]),
                               np.array([0.02]), np.array([2.0]))
    expected = 4000 + 3000 * 0.01 - 0.5 * 2.0 * 3000 * 0.02
    assert bounded_utility(parts, 6e-5)[0] == pytest.approx(
        2 / math.pi * math.atan(6e-5 * expected))


@pytest.fixture(scope="module")
def audited():
    s = scenario("learned-heterogeneous", traders=60, ticks=150, seed=2)
    audit = DecisionAudit()
    model = MarketModel(s, policy=Policy.fresh(heterogeneous(), seed=1), audit=audit).run()
    model.finish()
    return model, audit.frame()


def test_the_terms_sum_to_the_reward(audited):
    _, frame = audited
    known = frame.dropna(subset=["reward"])
    terms = known[[c for c in known if c.startswith("term_")]].sum(axis=1)
    np.testing.assert_allclose(terms, known["reward"], rtol=1e-9, atol=1e-12)
    assert "info_fundamental" in known  # recorded beside the reward, not in it
    # every decision is rewarded once the episode is finished
    assert known["decision"].nunique() == len(frame)


@pytest.mark.parametrize("reward", ["utility_change", "utility_level"])
def test_the_reference_rewards_are_audited_too(reward):
    s = scenario("learned-heterogeneous", traders=40, ticks=60, seed=1)
    s.traders[0].params.reward = reward
    s.traders[0].params.valuation = "market"
    audit = DecisionAudit()
    model = MarketModel(s, policy=Policy.fresh(heterogeneous(), seed=1), audit=audit).run()
    model.finish()
    frame = audit.frame().dropna(subset=["reward"])
    assert {"term_wealth", "term_return_term", "term_risk_term", "term_penalties"} <= set(frame)
    assert np.isfinite(frame["reward"]).all()


def test_reward_audit_shares_on_a_known_case():
    rng = np.random.default_rng(0)
    n = 20000
    a, b = rng.normal(0, 3, n), rng.normal(0, 1, n)
    frame = pd.DataFrame({"row": np.arange(n) % 50, "term_a": a, "term_b": b, "reward": a + b,
                          "info_c": 2 * b})
    traits = pd.DataFrame({"row": np.arange(50), "alpha": np.linspace(0, 4, 50),
                           "gamma": np.linspace(0.7, 0.99, 50), "sigma": np.zeros(50)})
    audit = reward_audit(frame, traits).set_index(["group", "term"])
    assert audit.loc[("all", "a"), "variance_share"] == pytest.approx(0.9, abs=0.01)
    assert audit.loc[("all", "b"), "reward_variance_share"] == pytest.approx(0.1, abs=0.01)
    assert not audit.loc[("all", "c"), "in_reward"]
    assert audit.loc[("all", "c"), "variance_vs_reward"] == pytest.approx(0.4, abs=0.02)
    assert ("alpha low", "a") in audit.index and ("sigma low", "a") not in audit.index


def test_reward_timing_finds_a_delayed_payoff():
    # an order toward the fundamental pays one decision later, never at once
    rng = np.random.default_rng(1)
    rows, steps = 200, 30
    toward = rng.choice([-1.0, 1.0], size=(rows, steps))
    reward = np.zeros((rows, steps))
    reward[:, 1:] = 0.05 * toward[:, :-1]
    reward += rng.normal(0, 0.01, (rows, steps))
    frame = pd.DataFrame({"row": np.repeat(np.arange(rows), steps),
                          "tick": np.tile(np.arange(steps), rows),
                          "action_1": toward.ravel(), "gap": np.ones(rows * steps),
                          "reward": reward.ravel()})
    timing = reward_timing(frame, max_lag=2).set_index("lag")
    assert abs(timing.loc[0, "response_corr"]) < 0.05
    assert timing.loc[1, "response_corr"] > 0.9
    assert timing.loc[1, "response_slope"] == pytest.approx(0.05 / 20, rel=0.05)
