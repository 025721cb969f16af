"""Behaviour measures, niches, trade network, real-data loaders and the run command."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from abm_hetero.analysis.behaviour import behaviour_table, partial_spearman, trait_correlations
from abm_hetero.analysis.data import AnalysisError, load_csv, load_reference
from abm_hetero.analysis.network import network_measures
from abm_hetero.analysis.niches import (
    _permutation,
    find_niches,
    name_niches,
    trait_silhouette_null,
)
from abm_hetero.cli import main


def hand_run():
    """Two traders over 4 ticks, with known answers."""
    market = pd.DataFrame({
        "tick": [0, 1, 2, 3, 4],
        "mid": [100.0, 100.0, 102.0, 101.0, 100.0],
        "last_price": [100.0, 100.0, 102.0, 101.0, 100.0],
        "fundamental": [101.0, 101.0, 101.0, 99.0, 99.0],
        "volume": [0, 2, 1, 0, 0],
    })
    traders = pd.DataFrame({
        "tick": [0, 0, 4, 4], "agent_id": [1, 2, 1, 2], "kind": ["x"] * 4, "row": [0, 1, 0, 1],
        "cash": [1000.0, 1000.0, 798.0, 1202.0], "shares": [10, 10, 12, 8],
        "alpha": [1.0, 2.0, 1.0, 2.0], "gamma": [0.9, 0.8, 0.9, 0.8],
        "sigma": [0.01, 0.02, 0.01, 0.02],
    })
    trades = pd.DataFrame({
        "time": [1, 2], "price": [100.0, 102.0], "volume": [1, 1], "buyer": [0, 0],
        "seller": [1, 1], "resting_side": ["sell", "buy"],
    })
    orders = pd.DataFrame({
        "time": [1, 1, 2, 2], "order_id": [0, 1, 2, 3], "trader": [1, 0, 1, 0],
        "side": ["sell", "buy", "buy", "buy"], "price": [100.0, 101.0, 101.0, 102.0],
        "volume": [2, 1, 3, 1], "ttl": [5] * 4, "mid": [100.0, 100.0, 100.0, 100.0],
    })
    return {"market": market, "traders": traders, "trades": trades, "orders": orders}


def test_behaviour_measures_on_a_hand_built_log():
    t = behaviour_table(hand_run()).set_index("row")
    # trader 0 bought 1 at tick 1 and 1 at tick 2: holdings 11, 12, 12, 12
    assert t.loc[0, "mean_abs_inventory"] == pytest.approx((11 + 12 + 12 + 12) / 4)
    assert t.loc[0, "max_abs_inventory"] == 12
    assert t.loc[1, "mean_abs_inventory"] == pytest.approx((9 + 8 + 8 + 8) / 4)
    # trader 0 rested at the bid in the second fill only: maker share 1/2; trader 1 the first
    assert t.loc[0, "maker_share"] == pytest.approx(0.5)
    assert t.loc[1, "maker_share"] == pytest.approx(0.5)
    # aggressiveness: trader 0 buys at 101 and 102 against a mid of 100 -> +1% and +2%
    assert t.loc[0, "aggressiveness"] == pytest.approx(0.015)
    # trader 1 sells at 100 (0) and buys at 101 (+1%)
    assert t.loc[1, "aggressiveness"] == pytest.approx(0.005)
    assert t.loc[0, "order_size"] == 1 and t.loc[1, "order_size"] == 2.5
    assert t.loc[0, "order_rate"] == pytest.approx(0.5) and t.loc[0, "fill_rate"] == 0.5
    # the fundamental (101) is above the mid (100) before ticks 1 and 2: buys agree
    assert t.loc[0, "fundamental_agreement"] == 1.0
    assert t.loc[1, "fundamental_agreement"] == 0.5
    # trading profit at the final price 100: trader 0 paid 202 for shares worth 200
    assert t.loc[0, "profit"] == pytest.approx(-2.0)
    assert t.loc[1, "profit"] == pytest.approx(2.0)
    # endowment-free measures: the second half is ticks 3-4, holding 12 and 8
    assert t.loc[0, "initial_shares"] == 10 and t.loc[1, "initial_shares"] == 10
    assert t.loc[0, "position_late"] == 12 and t.loc[1, "position_late"] == 8
    assert t.loc[0, "net_position_late"] == 2 and t.loc[1, "net_position_late"] == -2
    assert np.isnan(t.loc[0, "holding_period_late"])  # no trade in the second half
    # both fills happened while the fundamental (101) was above the price seen (100): the
    # buyer was on the favoured side both times, the seller never
    assert t.loc[0, "informed_fill_share"] == 1.0 and t.loc[1, "informed_fill_share"] == 0.0
    assert t.loc[0, "risk_taken"] > t.loc[1, "risk_taken"] > 0


def test_relative_gap_agreement_reads_the_gap_against_its_run_average():
    run = hand_run()
    # the fundamental stays above the mid throughout (every buy is on the raw gap's side), but
    # before tick 2 the gap is below its run average (0.0187): a buy then disagrees
    run["market"]["fundamental"] = [103.0, 100.5, 103.0, 103.0, 103.0]
    t = behaviour_table(run).set_index("row")
    assert t.loc[0, "fundamental_agreement"] == 1.0
    assert t.loc[0, "relative_gap_agreement"] == 0.5
    assert t.loc[1, "fundamental_agreement"] == 0.5
    assert t.loc[1, "relative_gap_agreement"] == 0.0


def test_partial_correlation_removes_the_endowment():
    rng = np.random.default_rng(2)
    n = 2000
    endowment = rng.exponential(20, n)
    alpha = rng.uniform(0, 4, n)
    position = endowment * np.exp(-0.3 * alpha) + rng.normal(0, 1, n)
    plain = stats.spearmanr(alpha, position).statistic
    partial = partial_spearman(alpha, position, endowment)
    assert partial < plain < 0 and partial < -0.6
    # a measure that only follows the endowment has no partial correlation with the trait
    assert abs(partial_spearman(alpha, endowment + rng.normal(0, 1, n), endowment)) < 0.05
    table = pd.DataFrame({"alpha": alpha, "gamma": rng.uniform(0.5, 1, n),
                          "sigma": rng.uniform(0, 1, n), "initial_shares": endowment,
                          "position_late": position})
    c = trait_correlations(table, n_boot=100, measures=("position_late",)).set_index("trait")
    assert c.loc["alpha", "partial_rho"] == pytest.approx(partial)
    assert c.loc["alpha", "partial_high"] < c.loc["alpha", "high"]


def test_trait_correlations_have_bootstrap_intervals():
    rng = np.random.default_rng(0)
    n = 200
    table = pd.DataFrame({"alpha": rng.uniform(0, 5, n), "gamma": rng.uniform(0.5, 1, n),
                          "sigma": np.full(n, 0.02)})
    table["mean_abs_inventory"] = 50 - 8 * table["alpha"] + rng.normal(0, 5, n)
    table["aggressiveness"] = rng.normal(size=n)
    c = trait_correlations(table, n_boot=200, measures=("mean_abs_inventory",
                                                        "aggressiveness")).set_index(
        ["trait", "measure"])
    strong = c.loc[("alpha", "mean_abs_inventory")]
    assert strong["rho"] < -0.5 and strong["high"] < 0
    noise = c.loc[("gamma", "aggressiveness")]
    assert noise["low"] < 0 < noise["high"]
    assert np.isnan(c.loc[("sigma", "aggressiveness"), "rho"])  # no spread in sigma


def test_clustering_is_seeded_and_stable():
    rng = np.random.default_rng(1)
    a = pd.DataFrame({"maker_share": rng.normal(0.9, 0.03, 50),
                      "aggressiveness": rng.normal(-0.02, 0.002, 50)})
    b = pd.DataFrame({"maker_share": rng.normal(0.1, 0.03, 50),
                      "aggressiveness": rng.normal(0.02, 0.002, 50)})
    table = pd.concat([a, b], ignore_index=True)
    first, second = find_niches(table, seed=3), find_niches(table, seed=3)
    assert first["k"] == 2 and (first["labels"] == second["labels"]).all()
    assert set(first["names"]) == {"liquidity provider", "aggressive taker"}
    assert len(set(first["labels"][:50])) == 1 and len(set(first["labels"][50:])) == 1


def trait_driven_table(seed: int = 4, n: int = 120) -> pd.DataFrame:
    """Traders whose risk aversion decides whether they provide or take liquidity."""
    rng = np.random.default_rng(seed)
    alpha = rng.uniform(0, 4, n)
    maker = alpha > 2
    return pd.DataFrame({
        "alpha": alpha, "gamma": rng.uniform(0.5, 1, n), "sigma": rng.uniform(0, 0.05, n),
        "seed": np.repeat([0, 1], n // 2),
        "maker_share": np.where(maker, 0.9, 0.1) + rng.normal(0, 0.03, n),
        "aggressiveness": np.where(maker, -0.02, 0.02) + rng.normal(0, 0.002, n),
    })


def test_niches_against_permuted_traits():
    table = trait_driven_table()
    labels = find_niches(table)["labels"]
    driven = trait_silhouette_null(table, labels, permutations=99)
    assert driven["p_value"] == pytest.approx(0.01) and driven["observed"] > driven["null_95"]
    shuffled = table.assign(alpha=np.random.default_rng(5).permutation(table["alpha"]))
    null = trait_silhouette_null(shuffled, labels, permutations=99)
    assert null["p_value"] > 0.05
    one = trait_silhouette_null(table, np.zeros(len(table), dtype=int), permutations=9)
    assert np.isnan(one["observed"]) and np.isnan(one["p_value"])
    # a homogeneous population: constant traits (whose pandas std is a rounding error above 0)
    same = table.assign(alpha=2.05524786267899, gamma=0.8745, sigma=0.0025)
    none = trait_silhouette_null(same, labels, permutations=9)
    assert np.isnan(none["observed"]) and none["traits"] == ""


def test_trait_permutations_stay_within_each_market():
    groups = np.repeat([0, 1, 2], 10)
    perm = _permutation(groups, np.random.default_rng(0))
    assert (groups[perm] == groups).all() and sorted(perm) == list(range(30))


def test_niche_names_are_unique():
    centres = pd.DataFrame({"maker_share": [1.0, 1.2], "aggressiveness": [0.0, 0.1]})
    assert name_niches(centres) == ["liquidity provider 1", "liquidity provider 2"]


def test_trade_network_measures():
    run = hand_run()
    table = behaviour_table(run)
    m = network_measures(run["trades"], table, ["a", "b"])
    assert m["edges"] == 1
    assert m["graph"][0][1]["weight"] == 2
    # liquidity: trader 1 (niche b) rested in fill 1, trader 0 (niche a) in fill 2
    assert m["liquidity_flow"].loc["b", "a"] == 1 and m["liquidity_flow"].loc["a", "b"] == 1


# ------------------------------------------------------------------ real data loaders


def test_builtin_references():
    assert load_reference("nasdaq").name == "NASDAQ"
    assert len(load_reference("sp500").returns()) == 5030


@pytest.mark.parametrize(
    "text, match",
    [
        ("date,close\n2020-01-01,1\n2020-01-02,abc\n2020-01-03,3\n", "line 3, column 'close'"),
        ("date,close\n2020-01-01,1\n2020-01-02,-2\n2020-01-03,3\n", "line 3.*positive"),
        ("when,close\n2020-01-01,1\n", "no time column"),
        ("date,value\n2020-01-01,1\n", "no price column"),
        ("date,close\nyesterday,1\n2020-01-02,2\n2020-01-03,3\n", "line 2, column 'date'"),
        ("date,close\n2020-01-01,1\n", "at least 3 rows"),
    ],
)
def test_bad_csv_files(tmp_path, text, match):
    path = tmp_path / "prices.csv"
    path.write_text(text)
    with pytest.raises(AnalysisError, match=match):
        load_csv(path)


def test_good_csv_with_volume(tmp_path):
    path = tmp_path / "mine.csv"
    rng = np.random.default_rng(0)
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 300)))
    pd.DataFrame({"Date": pd.date_range("2020-01-01", periods=300), "Close": prices,
                  "Volume": rng.integers(1, 100, 300)}).to_csv(path, index=False)
    s = load_csv(path)
    assert s.name == "mine" and len(s.returns()) == 299 and len(s.return_volume()) == 299


# ------------------------------------------------------------------ the run command


def test_run_on_tiny_settings_writes_every_section(tmp_path):
    out = tmp_path / "report"
    assert main(["run", "--out", str(out), "--seeds", "2", "--ticks", "400", "--traders", "40",
                 "--quiet"]) == 0
    md = (out / "report.md").read_text()
    for section in ("## Setup", "## The two questions", "## Headline",
                    "## Which facts each market shows", "## Q2", "## Q1", "## Figures",
                    "rho(alpha, position_late | initial_shares)", "Niches:", "Trade network",
                    "## Volatility clustering", "## Fat tails under aggregation",
                    "| garch_lr_p |", "| hill_5pct_100 |", "Trait-specific niches",
                    "## The price's tie to the fundamental", "| fundamental_share_10 |",
                    "| no_fill_fraction |"):
        assert section in md, section
    for name in ("prices", "returns", "tails", "acf", "trait_behaviour", "niches", "network"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 1000
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64") == 7
    facts = pd.read_csv(out / "facts.csv")
    assert set(facts["scenario"]) == {"learned-heterogeneous", "learned-homogeneous", "fcn",
                                      "zero-intelligence"}
    assert len(facts) == 8 and "garch_lr_p" in facts
    assert facts["fundamental_share_10"].between(0, 1).all()
    learned = facts["scenario"].str.startswith("learned")
    assert facts.loc[learned, "no_fill_fraction"].between(0, 1).all()
    assert facts.loc[~learned, "no_fill_fraction"].isna().all()
    assert (out / "niche_null.csv").exists()


@pytest.mark.parametrize(
    "args, text",
    [
        (["--scenarios", "fcn,martians"], "unknown scenario(s) martians"),
        (["--ticks", "250"], "must exceed the burn-in"),
        (["--reference", "missing.csv"], "missing.csv: no such file"),
        (["--seeds", "0"], "--seeds: must be at least 1"),
    ],
)
def test_run_bad_input(tmp_path, monkeypatch, cli_error, args, text):
    monkeypatch.chdir(tmp_path)
    assert text in cli_error(["run", "--quiet", *args])
    assert not (tmp_path / "runs").exists()
