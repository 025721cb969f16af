"""The console command, run in-process through ``main`` (imports are slow to repeat)."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from abm_hetero.cli import main


@pytest.mark.parametrize("population", ["fcn", "zero-intelligence"])
def test_simulate_smoke(tmp_path, population, capsys):
    out = tmp_path / "run"
    rc = main(["simulate", "--population", population, "--ticks", "60", "--traders", "30",
               "--seed", "2", "--out", str(out), "--quiet"])
    assert rc == 0
    assert str(out) in capsys.readouterr().out
    market = pd.read_csv(out / "market.csv")
    assert len(market) == 61
    settings = json.loads((out / "settings.json").read_text())
    assert settings["seed"] == 2 and settings["ticks"] == 60
    # the saved settings repeat the run exactly
    again = tmp_path / "again"
    assert main(["simulate", "--settings", str(out / "settings.json"), "--out", str(again),
                 "--quiet"]) == 0
    pd.testing.assert_frame_equal(market, pd.read_csv(again / "market.csv"))


def test_help_for_newcomers(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    assert "simulate" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    assert "--population" in capsys.readouterr().out


def test_help_and_rule_based_runs_never_load_torch(tmp_path):
    # a fresh interpreter: torch is already loaded in this one
    script = (
        "import sys\n"
        "from abm_hetero.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "assert 'torch' not in sys.modules, 'help'\n"
        f"assert main(['simulate', '--ticks', '5', '--traders', '5', '--quiet', '--out', "
        f"{str(tmp_path / 'run')!r}]) == 0\n"
        "assert 'torch' not in sys.modules, 'simulate'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "args, text",
    [
        (["--ticks", "-3"], "--ticks: must be at least 1"),
        (["--ticks", "ten"], "expected a whole number"),
        (["--population", "martians"], "unknown population 'martians'"),
        (["--seed", "-1"], "--seed: must be >= 0"),
    ],
)
def test_bad_arguments_exit_nonzero_with_one_line(tmp_path, cli_error, args, text):
    out = tmp_path / "out"
    assert text in cli_error(["simulate", "--out", str(out), "--quiet", *args])
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "edit, text",
    [
        (lambda d: d["market"].update(tick=1), "unknown key(s) 'tick'"),
        (lambda d: d["traders"][0]["traits"].update(alpha={"kind": "constant", "value": -1}),
         "alpha"),
        (lambda d: d["traders"][0]["traits"].update(gamma=1.2), "gamma"),
    ],
)
def test_bad_settings_file(tmp_path, cli_error, edit, text):
    from abm_hetero import scenario

    data = scenario("fcn", traders=10, ticks=10).to_dict()
    edit(data)
    path = tmp_path / "s.json"
    path.write_text(json.dumps(data))
    out = tmp_path / "out"
    line = cli_error(["simulate", "--settings", str(path), "--out", str(out), "--quiet"])
    assert text in line and str(path) in line
    assert not out.exists()


def test_existing_output_folder_is_not_overwritten(tmp_path, cli_error):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert "--force" in cli_error(["simulate", "--ticks", "5", "--traders", "5", "--out",
                                   str(out), "--quiet"])
    assert (out / "keep.txt").read_text() == "mine"
    # --force replaces only an earlier run of the package, never a folder of the user's
    assert "not one" in cli_error(["simulate", "--ticks", "5", "--traders", "5", "--out",
                                   str(out), "--quiet", "--force"])
    assert (out / "keep.txt").read_text() == "mine"
    run = tmp_path / "run"
    for seed in ("1", "2"):
        assert main(["simulate", "--ticks", "5", "--traders", "5", "--out", str(run),
                     "--quiet", "--force", "--seed", seed]) == 0
    assert '"seed": 2' in (run / "settings.json").read_text()


def test_bench_quick_writes_the_documented_keys(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--json", str(path)]) == 0
    data = json.loads(path.read_text())
    for key in ("sim_decisions_per_s_batched", "sim_decisions_per_s_per_trader",
                "train_steps_per_s", "train_steps_per_s_workers_1",
                "train_steps_per_s_workers_2", "train_speedup_workers_2", "fcn_200_ticks_per_s",
                "book_orders_per_s"):
        assert data[key] > 0
    assert "decisions/s" in capsys.readouterr().out


def test_bench_json_into_a_missing_folder(tmp_path, capsys):
    assert main(["bench", "--quick", "--json", str(tmp_path / "no" / "b.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("population", ["learned-heterogeneous", "learned-homogeneous"])
def test_simulate_learned_populations(tmp_path, population):
    out = tmp_path / "run"
    assert main(["simulate", "--population", population, "--ticks", "40", "--traders", "40",
                 "--out", str(out), "--quiet"]) == 0
    orders = pd.read_csv(out / "orders.csv")
    assert len(orders) > 0


def test_policy_option_errors(tmp_path, capsys):
    rc = main(["simulate", "--population", "fcn", "--policy", "x.pt", "--out",
               str(tmp_path / "o"), "--quiet"])
    assert rc == 2 and "has no learning traders" in capsys.readouterr().err
    rc = main(["simulate", "--population", "learned-heterogeneous", "--policy",
               str(tmp_path / "missing.pt"), "--out", str(tmp_path / "o"), "--quiet"])
    assert rc == 2 and "no such checkpoint file" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
