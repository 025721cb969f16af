"""The volatility-feedback options of a learning group: the risk charge's variance
(``risk_variance``) and the optional observation features (``extra_features``). Off by default,
they change nothing; on, they are finite, bounded, in order, trained on and recorded."""

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from abm_hetero import MarketModel, scenario
from abm_hetero.agents.audit import DecisionAudit
from abm_hetero.agents.learning import LearningParams
from abm_hetero.errors import SettingsError
from abm_hetero.learning.checkpoint import CheckpointError, load_checkpoint, load_policy
from abm_hetero.learning.observer import (
    EXTRA_FEATURE_NAMES,
    EXTRA_FEATURES,
    MAX_HISTORY,
    SHIPPED_FEATURES,
    feature_names,
    remembered_names,
    rescale,
    unfilled_windows,
)
from abm_hetero.learning.policy import Policy
from abm_hetero.learning.reward import RISK_VARIANCES, Reward, Snapshot
from abm_hetero.market import SeriesBuffer
from abm_hetero.training import Trainer, TrainingSettings
from abm_hetero.traits import TraitSample, heterogeneous

torch.set_num_threads(1)


def market(traders=40, ticks=60, seed=2, **params):
    """A learned market whose learning group has ``params`` set."""
    s = scenario("learned-heterogeneous", traders=traders, ticks=ticks, seed=seed)
    group = s.traders[0]
    return s.replace(traders=[dataclasses.replace(
        group, params=dataclasses.replace(group.params, **params))])


def fresh(extras=()):
    return Policy.fresh(heterogeneous(), seed=1, features=feature_names(extras))


def fresh_with(extras=(), history=0):
    return Policy.fresh(heterogeneous(), seed=1, features=feature_names(extras, history))


# ---------------------------------------------------------------------- defaults


def test_the_defaults_change_nothing():
    p = LearningParams()
    assert (p.risk_variance, p.extra_features) == ("fundamental", [])
    assert feature_names() == feature_names([]) == SHIPPED_FEATURES == p.features
    plain = MarketModel(market()).run()
    explicit = MarketModel(market(risk_variance="fundamental", risk_halflife=50.0,
                                  extra_features=[])).run()
    assert plain.market_frame().to_csv() == explicit.market_frame().to_csv()
    assert plain.trade_frame().to_csv() == explicit.trade_frame().to_csv()


def test_the_options_are_checked():
    with pytest.raises(SettingsError, match="risk_variance must be one of"):
        LearningParams(risk_variance="garch")
    with pytest.raises(SettingsError, match="unknown feature.*'volatility_5'"):
        LearningParams(extra_features=["volatility_5"])
    with pytest.raises(SettingsError, match="twice"):
        LearningParams(extra_features=["fill_rate", "fill_rate"])
    with pytest.raises(SettingsError, match="risk_halflife"):
        LearningParams(risk_halflife=0.0)
    for bad in (-1, MAX_HISTORY + 1, 1.5, "2"):
        with pytest.raises(SettingsError, match="history"):
            LearningParams(history=bad)


# ---------------------------------------------------------------------- the risk charge


class Prices:
    """Just what a Reward reads of an exchange, over a given reference price path."""

    def __init__(self, prices, variance=1e-6):
        self.series = SeriesBuffer()
        self.fundamentals = SeriesBuffer()
        for p in prices:
            self.series.append(p)
            self.fundamentals.append(100.0)
        self.fundamental = SimpleNamespace(variance_per_tick=variance, value=100.0)
        self.state = SimpleNamespace(bid_depth=10.0, ask_depth=10.0)

    @property
    def now(self):
        return len(self.series) - 1

    def price_history(self, kind):
        return self.fundamentals if kind == "fundamental" else self.series

    def fundamental_price(self):
        return 100.0


def risk_charge(choice, step, ticks=40, halflife=5.0):
    """The risk term of one decision held over the last 20 of ``ticks`` ticks of a price that
    moves by ``+-step`` (log) every tick, and the tick returns."""
    prices = 100.0 * np.exp(step * (np.arange(ticks + 1) % 2))
    exchange = Prices(prices)
    params = LearningParams(risk_variance=choice, risk_halflife=halflife,
                            valuation="fundamental")
    reward = Reward(exchange, params, 1, 100.0)
    now = exchange.now
    prev = Snapshot(np.array([now - 20]), np.array([1000.0]), np.array([10.0]),
                    np.array([100.0]), np.array([100.0]))
    here = Snapshot(np.array([now]), np.array([1000.0]), np.array([10.0]), np.array([100.0]),
                    np.array([100.0]))
    _, terms = reward(np.array([0]), prev, here, TraitSample(alpha=np.array([2.0])),
                      np.zeros(1), np.zeros(1))
    return terms["risk"][0], np.diff(np.log(prices))


@pytest.mark.parametrize("choice", RISK_VARIANCES)
def test_every_risk_variance_gives_finite_rewards(choice):
    audit = DecisionAudit()
    model = MarketModel(market(risk_variance=choice, risk_halflife=20.0), policy=fresh(),
                        audit=audit).run()
    model.finish()
    frame = audit.frame().dropna(subset=["reward"])
    assert len(frame) > 50
    assert np.isfinite(frame["reward"]).all() and (frame["term_risk"] <= 0).all()
    assert (frame["term_risk"] < 0).any()


def test_the_realized_risk_grows_with_the_markets_volatility():
    charge = 0.5 * 2.0 * 0.75 * (10 * 100 / 100) ** 2 * 20  # alpha risk_scale / 2 (q m/p0)^2 dt
    # the fundamental's charge ignores the market's volatility
    assert risk_charge("fundamental", 1e-3)[0] == risk_charge("fundamental", 1e-2)[0] \
        == pytest.approx(-charge * 1e-6)
    # since the decision: mean(r^2) over the 20 ticks held
    calm, r = risk_charge("since_decision", 1e-3)
    assert calm == pytest.approx(-charge * np.mean(r[-20:] ** 2))
    wild, _ = risk_charge("since_decision", 1e-2)
    assert wild == pytest.approx(100 * calm)
    # the market's EWMA of r^2, half-life 5 ticks, from the fundamental's variance
    calm, r = risk_charge("ewma", 1e-3)
    v, w = 1e-6, 1 - 0.5 ** (1 / 5)
    for x in r:
        v += w * (x * x - v)
    assert calm == pytest.approx(-charge * v)
    wild, _ = risk_charge("ewma", 1e-2)
    assert wild < 50 * calm < 0


# ---------------------------------------------------------------------- extra features


def test_the_extra_features_follow_the_traits_in_the_tables_order():
    assert EXTRA_FEATURE_NAMES == (
        "volatility_10", "volatility_100", "volatility_1000", "return_10", "return_100",
        "return_1000", "order_flow_imbalance", "fill_rate")
    names = feature_names(["fill_rate", "return_10"])
    assert names == (*feature_names(), "return_10", "fill_rate")
    assert all(f.low < f.high and f.formula for f in EXTRA_FEATURES)


def test_features_that_look_back_further_than_an_episode_are_named():
    windows = {f.name: f.window for f in EXTRA_FEATURES}
    assert windows["volatility_1000"] == windows["return_1000"] == 1000
    assert windows["fill_rate"] == 0
    assert windows["order_flow_imbalance"] == 9  # the current tick and the 9 before it
    extras = ["fill_rate", "volatility_100", "return_1000", "order_flow_imbalance"]
    assert unfilled_windows(extras, 300) == ("return_1000",)
    assert unfilled_windows(extras, 50) == ("volatility_100", "return_1000")
    # the last decision of a 1,000-tick market sees tick 999: a 1,000-tick window never fills
    assert unfilled_windows(extras, 1000) == ("return_1000",)
    assert unfilled_windows(extras, 1001) == unfilled_windows([], 1) == ()
    assert unfilled_windows(extras, 9) == ("volatility_100", "return_1000",
                                           "order_flow_imbalance")


def test_train_notes_windows_that_never_fill_in_an_episode(tmp_path, capsys):
    from abm_hetero.cli import main

    settings = tmp_path / "s.toml"
    settings.write_text('traders = 8\nepisode_ticks = 40\nwarmup_ticks = 5\n'
                        'episodes_per_rollout = 1\n[learning]\n'
                        'extra_features = ["volatility_10", "volatility_100"]\n')
    assert main(["train", "--quiet", "--settings", str(settings), "--steps", "1",
                 "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    assert "note: volatility_100 looks back further than an episode (40 ticks)" in err
    assert "its window never fills" in err and "volatility_10," not in err


def test_every_extra_feature_is_finite_bounded_and_observed():
    extras = list(reversed(EXTRA_FEATURE_NAMES))
    audit = DecisionAudit()
    model = MarketModel(market(traders=40, ticks=150, extra_features=extras),
                        policy=fresh(extras), audit=audit).run()
    group = model.groups[0]
    names = feature_names(extras)
    assert group.observer.features == names and len(names) == len(SHIPPED_FEATURES) + 8
    frame = audit.frame()
    first = len(SHIPPED_FEATURES)
    values = frame[[f"obs_{j}" for j in range(first, len(names))]].to_numpy()
    assert np.isfinite(values).all() and np.abs(values).max() <= 1
    assert (values.std(axis=0) > 0).all()  # each one moves
    # the raw values, now, from the market's own records
    obs, _ = group.observe(model, np.arange(5))
    got = dict(zip(names[first:], obs[0, first:].astype(float)))
    p = np.log(model.exchange.price_history("reference").values)
    r = np.diff(p)
    for n in (10, 100, 1000):
        spec = EXTRA_FEATURES[EXTRA_FEATURE_NAMES.index(f"volatility_{n}")]
        expected = rescale(math.sqrt(np.mean(r[-n:] ** 2)), spec.low, spec.high)
        assert got[f"volatility_{n}"] == pytest.approx(expected, abs=1e-6)
        spec = EXTRA_FEATURES[EXTRA_FEATURE_NAMES.index(f"return_{n}")]
        expected = rescale(p[-1] - p[max(0, len(p) - 1 - n)], spec.low, spec.high)
        assert got[f"return_{n}"] == pytest.approx(expected, abs=1e-6)
    trades = model.exchange.trades.to_frame()
    recent = trades[trades["time"] > model.exchange.now - 10]
    flow = (-recent["resting_side"] * recent["volume"]).sum() / (recent["volume"].sum() + 1e-9)
    assert got["order_flow_imbalance"] == pytest.approx(flow, abs=1e-6)
    fill = frame[f"obs_{names.index('fill_rate')}"]
    assert (fill > -1).any()  # some traders' orders were filled


# ---------------------------------------------------------------------- memory


def test_the_memory_follows_the_current_observation_most_recent_first():
    names = feature_names(["fill_rate"], history=2)
    remembered = remembered_names(["fill_rate"])
    assert remembered == (*SHIPPED_FEATURES[:8], "fill_rate")
    assert names == (*feature_names(["fill_rate"]), *(f"{n}_lag1" for n in remembered),
                     *(f"{n}_lag2" for n in remembered))
    assert LearningParams(history=2, extra_features=["fill_rate"]).features == names


@pytest.mark.parametrize("core", ["compiled", "python"])
@pytest.mark.parametrize("extras", [[], ["volatility_10", "fill_rate"]])
def test_each_trader_remembers_its_own_previous_observations(core, extras):
    history = 2
    audit = DecisionAudit()
    settings = market(traders=30, ticks=80, extra_features=extras, history=history)
    settings = settings.replace(core=core)
    names = feature_names(extras, history)
    MarketModel(settings, policy=fresh_with(extras, history), audit=audit).run()
    frame = audit.frame().sort_values(["row", "decision"])
    obs = frame[[f"obs_{j}" for j in range(len(names))]].to_numpy()
    now = [names.index(n) for n in remembered_names(extras)]
    lag = [[names.index(f"{n}_lag{k}") for n in remembered_names(extras)]
           for k in range(1, history + 1)]
    checked = 0
    for _, rows in frame.groupby("row").indices.items():
        seen = obs[rows]
        for i in range(len(seen)):
            for k in range(1, history + 1):
                expected = seen[i - k, now] if i >= k else np.zeros(len(now))
                np.testing.assert_array_equal(seen[i, lag[k - 1]], expected)
                checked += 1
    assert checked > 100 and (np.abs(obs[:, lag[0]]) > 0).any()


def test_a_memory_changes_nothing_it_does_not_add():
    """The current features and the market with a memory of 0 are the plain market's."""
    plain = MarketModel(market()).run()
    zero = MarketModel(market(history=0)).run()
    assert plain.market_frame().to_csv() == zero.market_frame().to_csv()


# ---------------------------------------------------------------------- training, checkpoints


def test_a_policy_trained_with_extras_records_them_and_loads_only_with_them(tmp_path):
    extras = ["volatility_100", "return_10", "order_flow_imbalance", "fill_rate"]
    settings = TrainingSettings.from_dict(dict(
        traders=10, episode_ticks=20, warmup_ticks=2, episodes_per_rollout=1, hidden=[8, 8],
        total_steps=400, eval_interval=10_000, eval_episodes=1, seed=0,
        learning={"extra_features": extras, "risk_variance": "ewma"}))
    trainer = Trainer(settings, tmp_path / "train", progress=False)
    trainer.train()
    path = tmp_path / "train" / "policy.pt"
    names = feature_names(extras)
    assert trainer.policy.net.arch.obs_dim == len(names)
    data = load_checkpoint(path, names)
    assert tuple(data["features"]) == names
    # traders with the same extras use it
    MarketModel(market(traders=20, ticks=10, policy=str(path), extra_features=extras)).run()
    # traders without them refuse it, in one line naming the features
    with pytest.raises(CheckpointError) as refused:
        MarketModel(market(traders=20, ticks=10, policy=str(path)))
    message = str(refused.value)
    assert "\n" not in message and str(path) in message
    assert "it has volatility_100, return_10, order_flow_imbalance, fill_rate that the " \
           "market lacks" in message
    with pytest.raises(CheckpointError, match="features differ"):
        load_policy(path)


def test_a_policy_trained_with_a_memory_loads_only_with_the_same_memory(tmp_path):
    settings = TrainingSettings.from_dict(dict(
        traders=10, episode_ticks=20, warmup_ticks=2, episodes_per_rollout=1, hidden=[8, 8],
        total_steps=300, eval_interval=10_000, eval_episodes=1, seed=0,
        learning={"history": 3}))
    trainer = Trainer(settings, tmp_path / "train", progress=False)
    trainer.train()
    path = tmp_path / "train" / "policy.pt"
    assert trainer.policy.net.arch.obs_dim == len(feature_names(history=3)) == 11 + 3 * 8
    MarketModel(market(traders=20, ticks=10, policy=str(path), history=3)).run()
    with pytest.raises(CheckpointError, match="blurred_fundamental_gap_lag3 that the market"):
        MarketModel(market(traders=20, ticks=10, policy=str(path), history=2))
