import numpy as np
import pandas as pd
import pytest

from abm_hetero import MarketModel, scenario
from abm_hetero.agents import FCNTrader
from abm_hetero.errors import SettingsError
from abm_hetero.settings import TraderGroupSettings


def run(settings):
    return MarketModel(settings).run()


def test_same_seed_same_run_bit_for_bit(small_fcn):
    a, b = run(small_fcn), run(small_fcn)
    pd.testing.assert_frame_equal(a.market_frame(), b.market_frame())
    pd.testing.assert_frame_equal(a.trade_frame(), b.trade_frame())
    pd.testing.assert_frame_equal(a.trader_frame(), b.trader_frame())


def test_different_seeds_differ(small_fcn):
    a, b = run(small_fcn), run(small_fcn.replace(seed=4))
    assert not a.market_frame()["last_price"].equals(b.market_frame()["last_price"])


@pytest.mark.parametrize("name", ["fcn", "zero-intelligence"])
@pytest.mark.parametrize("batched", [True, False])
def test_populations_trade_and_conserve(name, batched):
    model = MarketModel(scenario(name, traders=40, ticks=150, seed=1, batched=batched)).run()
    assert len(model.exchange.trades) > 0
    assert model.accounts.shares.sum() == model.initial_shares.sum()
    assert model.accounts.cash.sum() == pytest.approx(model.initial_cash.sum())
    market = model.market_frame()
    assert len(market) == 151 and market["last_price"].gt(0).all()


def test_cara_fcn_handles_short_holdings_and_tiny_variance():
    s = scenario("fcn", traders=40, ticks=300, seed=2)
    s.traders[0] = TraderGroupSettings(
        kind="fcn", count=40, params={"order_rule": "cara"},
        shares={"kind": "uniform", "low": -50, "high": 50},
    )
    model = MarketModel(s).run()
    assert len(model.exchange.trades) > 0
    assert np.isfinite(model.market_frame()["last_price"]).all()


def test_collected_data_shapes(small_fcn):
    model = run(small_fcn.replace(trader_report_period=50))
    traders = model.trader_frame()
    assert sorted(traders["tick"].unique()) == [0, 50, 100, 150, 200]
    assert len(traders) == 5 * 50
    assert set(traders.columns) >= {"cash", "shares", "wealth", "alpha", "gamma", "sigma"}
    trades = model.trade_frame()
    assert set(trades["resting_side"]) <= {"buy", "sell"}
    assert (trades["volume"] > 0).all()
    orders = model.order_frame()
    assert len(orders) >= len(trades) / 10


def test_agents_expose_their_rows():
    model = MarketModel(scenario("fcn", traders=10, ticks=5))
    agent = model.traders[3]
    assert isinstance(agent, FCNTrader)
    assert agent.cash == model.accounts.cash[agent.row]
    assert agent.horizon >= 1 and 0 < agent.gamma < 1
    assert len(model.agents_by_type[FCNTrader]) == 10


def test_mixed_population_and_market_maker_quotes():
    s = scenario("fcn", traders=20, ticks=100, seed=5)
    s.traders.append(TraderGroupSettings(kind="zero-intelligence", count=10))
    s.market.maker_quotes = True
    model = MarketModel(s).run()
    assert {g.kind for g in model.groups} == {"fcn", "zero-intelligence"}
    assert model.market_frame()["spread"].iloc[1:].notna().all()  # both sides quoted
    assert model.accounts.shares.sum() == model.initial_shares.sum()


def test_fundamental_volatility_range_is_drawn():
    s = scenario("fcn", traders=10, ticks=10)
    s.market.fundamental_volatility_range = [0.0, 0.003]
    model = MarketModel(s)
    assert 0 <= model.fundamental.volatility <= 0.003


def test_fundamental_news_jumps():
    from abm_hetero.market import FundamentalProcess

    plain = FundamentalProcess(100.0, volatility=0.001)
    jumpy = FundamentalProcess(100.0, volatility=0.001, jump_rate=0.05, jump_size=0.02)
    assert plain.variance_per_tick == pytest.approx(1e-6)
    assert jumpy.variance_per_tick == pytest.approx(1e-6 + 0.05 * 0.02 ** 2)
    rng = np.random.default_rng(0)
    jumpy.reset(rng)
    steps = np.diff(np.log([jumpy.step(rng) for _ in range(20000)]))
    assert steps.var() == pytest.approx(jumpy.variance_per_tick, rel=0.15)
    assert (np.abs(steps) > 0.01).mean() > 0.01  # jumps, which the diffusion alone never makes
    # without jumps no extra random numbers are drawn: runs stay as they were
    a, b = np.random.default_rng(1), np.random.default_rng(1)
    plain.reset(a)
    for _ in range(10):
        plain.step(a)
    b.standard_normal(10)
    assert a.random() == b.random()


def test_keyword_construction_as_mesa_models_do():
    from abm_hetero.scenarios import KEYWORD_DEFAULTS

    model = MarketModel(population="zero-intelligence", traders=30, ticks=20, seed=4,
                        alpha_mean=1.0, alpha_sd=0.0, fundamental_volatility=0.002)
    assert model.population == "zero-intelligence" and model.settings.ticks == 20
    assert (model.groups[0].traits.alpha == 1.0).all()
    assert model.fundamental.volatility == 0.002
    again = MarketModel(scenario("zero-intelligence", traders=30, ticks=20, seed=4))
    assert again.settings.traders[0].count == 30
    # the keywords left out take the one table of defaults
    default = MarketModel(traders=10, ticks=5, seed=1)
    assert default.population == KEYWORD_DEFAULTS["population"]
    # no seed: a fresh one, recorded, so the run can be repeated
    fresh = MarketModel(traders=10, ticks=5)
    repeat = MarketModel(fresh.settings)
    fresh.run()
    repeat.run()
    assert fresh.exchange.price_history("reference").values.tolist() == \
        repeat.exchange.price_history("reference").values.tolist()
    with pytest.raises(SettingsError, match="either settings or keywords"):
        MarketModel(scenario("fcn"), traders=10)


def test_the_model_stops_running_at_its_last_tick():
    model = MarketModel(population="fcn", traders=10, ticks=3, seed=0)
    while model.running:
        model.step()
    assert model.steps == 3


def test_a_tick_paused_for_outside_actions_is_the_same_step():
    """An environment's tick is the model's own step(): Mesa counts it, and a tick paused for
    a controlled group must be completed before the next one."""
    model = MarketModel(scenario("learned-heterogeneous", traders=30, ticks=20, seed=3))
    (group,) = [g for g in model.groups if g.kind == "learning"]
    with pytest.raises(RuntimeError, match="no tick is paused"):
        model.complete_tick({})
    while not model.pending:
        model.step((group,))
    ticks = model.steps
    ((paused, decision),) = model.pending
    assert paused is group and len(decision.active) > 0
    with pytest.raises(ValueError, match="no actions for the paused learning group"):
        model.complete_tick({})
    with pytest.raises(ValueError, match="expected shape"):
        model.complete_tick({group: np.zeros((len(decision.active) + 1, 2))})
    assert model.pending  # a refused call keeps the tick paused
    model.complete_tick({group: np.zeros((len(decision.active), 2))})
    assert model.pending == [] and model.steps == ticks
    assert len(model.market_frame()) == ticks + 1  # the paused tick was recorded once
    while not model.pending:
        model.step((group,))
    with pytest.raises(RuntimeError, match="complete_tick"):
        model.step()
    per_trader = MarketModel(scenario("learned-heterogeneous", traders=30, ticks=20, seed=3,
                                      batched=False))
    with pytest.raises(ValueError, match="batched"):
        per_trader.step(tuple(per_trader.groups))


def test_mesa_batch_run_returns_the_market_series():
    import mesa

    results = mesa.batch_run(
        MarketModel, parameters={"population": ["fcn", "zero-intelligence"], "traders": 30,
                                 "ticks": 25, "seed": [0]},
        iterations=2, max_steps=1000, data_collection_period=1, display_progress=False)
    frame = pd.DataFrame(results)
    assert set(frame["population"]) == {"fcn", "zero-intelligence"}
    assert set(frame["iteration"]) == {0, 1}
    assert {"mid", "last_price", "fundamental", "volume"} <= set(frame.columns)
    assert frame.groupby(["population", "iteration"])["Step"].max().eq(24).all()
    per_run = frame.groupby(["population", "iteration"])["mid"].apply(list)
    assert per_run[("fcn", 0)] == per_run[("fcn", 1)]  # same seed, same series


def test_a_datacollector_held_across_ticks_shows_every_tick():
    model = MarketModel(scenario("fcn", traders=20, ticks=20, seed=0))
    collector = model.datacollector
    for _ in range(5):
        model.step()
    assert len(collector.get_model_vars_dataframe()) == 6
    assert len(collector.model_vars["mid"]) == 6
    model.run(3)
    frame = collector.get_model_vars_dataframe()
    assert len(frame) == 9
    assert frame.equals(model.datacollector.get_model_vars_dataframe())
