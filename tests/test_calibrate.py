"""Calibration by optimal transport: identifiability, backends, resume, errors."""

import json

import numpy as np
import pandas as pd
import pytest

from abm_hetero.analysis.calibrate import (
    CalibrationSettings,
    calibrate,
    simulate_returns,
    write_results,
)
from abm_hetero.analysis.ot import CloudSettings
from abm_hetero.cli import main
from abm_hetero.errors import AbmHeteroError

TRUTH = {"alpha_mean": 2.0, "alpha_sd": 0.5, "sigma_mean": 0.003, "sigma_sd": 0.001,
         "gamma_low": 0.75}
SIZE = dict(traders=200, ticks=1100, burn_in=100)


def small(target, **changes) -> CalibrationSettings:
    base = dict(target=str(target), policy="prior", seeds=[0, 1], **SIZE,
                space={"alpha_mean": [0.5, 2.0, 4.0], "alpha_sd": [0.5],
                       "sigma_mean": [0.003], "sigma_sd": [0.001], "gamma_low": [0.75]},
                clouds=CloudSettings(points=80))
    base.update(changes)
    return CalibrationSettings(**base)


@pytest.fixture(scope="module")
def target_csv(tmp_path_factory):
    """A "real" series made by the simulator itself at known traits (other seeds)."""
    path = tmp_path_factory.mktemp("target") / "target.csv"
    returns = np.concatenate([simulate_returns(TRUTH, "learned-heterogeneous", s, "prior",
                                               SIZE["traders"], SIZE["ticks"], SIZE["burn_in"])
                              for s in (101, 102, 103)])
    prices = 300 * np.exp(np.concatenate([[0], np.cumsum(returns)]))
    pd.DataFrame({"time": np.arange(len(prices)), "price": prices}).to_csv(path, index=False)
    return path


def test_calibration_recovers_the_risk_aversion(target_csv, tmp_path):
    # risk aversion decides how much risk the market carries and so its returns: alpha is
    # identifiable from the returns alone
    cal = calibrate(small(target_csv), tmp_path, progress=lambda _: None)
    assert len(cal.table) == 3 and list(cal.table["rank"]) == [1, 2, 3]
    assert cal.best["alpha_mean"] == 2.0  # the truth
    assert cal.table.iloc[-1]["alpha_mean"] == 0.5  # the far end of the grid ranks last
    assert cal.table["score"].dropna().is_monotonic_increasing


def test_ray_gives_the_same_table_as_sequential(target_csv, tmp_path):
    pytest.importorskip("ray")
    settings = small(target_csv, seeds=[0], clouds=CloudSettings(points=40))
    seq = calibrate(settings, tmp_path / "seq", progress=lambda _: None).table
    assert seq["score"].notna().sum() >= 2
    ray = calibrate(settings, tmp_path / "ray", backend="ray", workers=2,
                    progress=lambda _: None).table
    pd.testing.assert_frame_equal(seq.drop(columns="error", errors="ignore"),
                                  ray.drop(columns="error", errors="ignore"))


def test_rerun_reuses_finished_simulations(target_csv, tmp_path):
    settings = small(target_csv, seeds=[0], clouds=CloudSettings(points=40))
    calibrate(settings, tmp_path, progress=lambda _: None)
    tasks = sorted((tmp_path / "tasks").glob("*.npz"))
    stamps = [p.stat().st_mtime_ns for p in tasks]
    (tasks[0]).unlink()  # as if the run had been killed before this simulation finished
    calibrate(settings, tmp_path, progress=lambda _: None)
    after = sorted((tmp_path / "tasks").glob("*.npz"))
    assert [p.name for p in after] == [p.name for p in tasks]
    assert [p.stat().st_mtime_ns for p in after[1:]] == stamps[1:]


def test_results_files(target_csv, tmp_path):
    settings = small(target_csv, seeds=[0], clouds=CloudSettings(points=40))
    cal = calibrate(settings, tmp_path, progress=lambda _: None)
    write_results(cal, tmp_path)
    for name in ("ranked.csv", "best.json", "best_facts.csv", "landscape.png",
                 "candidates.csv"):
        assert (tmp_path / name).exists(), name
    assert json.loads((tmp_path / "best.json").read_text())["best"] == cal.best


@pytest.mark.parametrize(
    "change, text",
    [
        (dict(search="anneal"), "search must be one of"),
        (dict(space={"alpha_mean": [1.0]}), "needs exactly"),
        (dict(search="halving"), "halving needs \\[low, high\\]"),
        (dict(seeds=[]), "at least one seed"),
    ],
)
def test_bad_settings(change, text):
    with pytest.raises(AbmHeteroError, match=text):
        small("sp500", **change)


def test_nothing_scorable_is_an_error(target_csv, tmp_path):
    with pytest.raises(AbmHeteroError, match="no candidate could be scored: .*needs at least"):
        calibrate(small(target_csv, seeds=[0], clouds=CloudSettings(points=100)), tmp_path,
                  progress=lambda _: None)


def test_calibrate_cli_errors(tmp_path, capsys):
    rc = main(["calibrate", "--target", str(tmp_path / "nope.csv"), "--out",
               str(tmp_path / "o"), "--quiet"])
    assert rc == 2 and "no such file" in capsys.readouterr().err
    rc = main(["calibrate", "--policy", "martians", "--out", str(tmp_path / "o"), "--quiet"])
    assert rc == 2 and "unknown policy" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_successive_halving_spends_more_seeds_on_the_best(target_csv, tmp_path):
    settings = small(target_csv, search="halving", candidates=3, eta=3, seeds=[0, 1],
                     clouds=CloudSettings(points=40),
                     space={"alpha_mean": [1.0, 3.0], "alpha_sd": [0.0, 1.0],
                            "sigma_mean": [0.001, 0.008], "sigma_sd": [0.0, 0.002],
                            "gamma_low": [0.6, 0.9]})
    cal = calibrate(settings, tmp_path, progress=lambda _: None)
    assert list(cal.table["seeds"]) == [2, 1, 1]  # the best third went on to both seeds
    assert cal.best == cal.table.iloc[0][list(cal.best)].to_dict()


def test_calibrate_command_end_to_end(tmp_path, capsys):
    settings = tmp_path / "cal.json"
    settings.write_text(json.dumps({
        "traders": 100, "ticks": 400, "burn_in": 50, "seeds": [0],
        "space": {"alpha_mean": [1.0, 3.0], "alpha_sd": [0.5], "sigma_mean": [0.003],
                  "sigma_sd": [0.001], "gamma_low": [0.6]},
        "clouds": {"points": 10, "lags": [1, 10]},
    }))
    out = tmp_path / "cal"
    assert main(["calibrate", "--settings", str(settings), "--out", str(out), "--quiet",
                 "--no-scenarios"]) == 0
    assert "best of 2 candidates" in capsys.readouterr().out
    ranked = pd.read_csv(out / "ranked.csv")
    assert len(ranked) == 2 and set(ranked["alpha_mean"]) == {1.0, 3.0}
