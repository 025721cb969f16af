"""Hostile input: every input either runs to sane outputs or stops with a one-line error that
names the problem, before any simulation, leaving nothing behind."""

import json
import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abm_hetero import MarketModel, Settings, scenario
from abm_hetero.analysis.calibrate import CalibrationSettings
from abm_hetero.cli import main
from abm_hetero.config_io import build_dataclass
from abm_hetero.errors import SettingsError
from abm_hetero.output import MARKER
from abm_hetero.training.engine import run_tasks
from abm_hetero.training.trainer import TrainingSettings

HOSTILE = [math.nan, math.inf, -math.inf, 1e300, -1e300, 1e-310, 0, -1, 2 ** 70, 1e12, 0.5,
           "x", None, [], {}, True, "1e3"]


def leaves(data, path=()):
    """Every (path, value) of a nested settings mapping."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield from leaves(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from leaves(v, (*path, i))
    else:
        yield path, data


def set_leaf(data, path, value):
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


def small(population: str):
    s = scenario(population, traders=12, ticks=4, seed=1)
    return s.to_dict()


BASES = {name: small(name) for name in ("fcn", "zero-intelligence", "learned-heterogeneous")}
PATHS = {name: [p for p, _ in leaves(data)] for name, data in BASES.items()}


def assert_one_line(message: str) -> None:
    assert message and "\n" not in message and "Traceback" not in message


def assert_sane(model: MarketModel) -> None:
    prices = model.exchange.reference_prices.values
    assert np.isfinite(prices).all() and (prices > 0).all()
    assert np.isfinite(model.accounts.cash).all()
    assert (np.abs(model.accounts.shares) < 2 ** 62).all()
    assert model.accounts.shares.sum() == model.initial_shares.sum()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(BASES)), st.data(), st.sampled_from(HOSTILE))
def test_any_settings_value_runs_sanely_or_is_refused_in_one_line(population, data, value):
    settings_dict = json.loads(json.dumps(BASES[population]))
    path = data.draw(st.sampled_from(PATHS[population]))
    set_leaf(settings_dict, path, value)
    try:
        s = Settings.from_dict(settings_dict)
    except SettingsError as exc:
        assert_one_line(str(exc))
        return
    if s.n_traders > 200:
        s = s.replace(traders=[g for g in s.traders if g.count <= 200] or s.traders[:0])
        if not s.traders:
            return
    model = MarketModel(s.replace(ticks=3)).run()
    model.finish()
    assert_sane(model)


@pytest.mark.parametrize("edit, words", [
    (lambda d: d.update(ticks=math.nan), "ticks must be a whole number"),
    (lambda d: d.update(seed=math.inf), "seed must be a whole number"),
    (lambda d: d["traders"][0].update(count=math.nan), "count must be a whole number"),
    (lambda d: d["traders"][0].update(count=1e12), "count must be a finite number"),
    (lambda d: d["traders"][0].update(shares=math.nan), "shares"),
    (lambda d: d["traders"][0].update(shares=1e30), "shares"),
    (lambda d: d["traders"][0].update(shares={"kind": "lognormal", "mean": 1e8, "std": 1e9}),
     "shares"),
    (lambda d: d["traders"][0].update(cash=math.nan), "cash"),
    (lambda d: d["traders"][0]["traits"].update(alpha={"kind": "exponential", "mean": 1e308}),
     "alpha"),
    (lambda d: d["traders"][0]["traits"].update(alpha={"kind": "normal", "mean": math.nan,
                                                       "std": 1}), "alpha"),
    (lambda d: d["traders"][0]["traits"].update(gamma={"kind": "uniform", "low": 0.5,
                                                       "high": math.inf}), "gamma"),
    (lambda d: d["traders"][0]["params"].update(fundamental_weight=math.nan),
     "fundamental_weight"),
    (lambda d: d["traders"][0]["params"].update(fundamental_weight=0, chart_weight=0,
                                                 noise_weight=0), "cannot all be 0"),
    (lambda d: d["market"].update(fundamental_volatility=1e300), "fundamental_volatility"),
    (lambda d: d["market"].update(tick_size=1e-310), "tick_size"),
    (lambda d: d.update(name="a\x00b"), "name"),
    (lambda d: d.update(name=".."), "name"),
    (lambda d: d.update(name="../../etc"), "name"),
])
def test_named_bad_values_are_refused_before_anything_runs(tmp_path, cli_error, edit, words):
    data = scenario("fcn", traders=10, ticks=10).to_dict()
    edit(data)
    path = tmp_path / "s.json"
    path.write_text(json.dumps(data, allow_nan=True))
    out = tmp_path / "out"
    line = cli_error(["simulate", "--settings", str(path), "--out", str(out), "--quiet"])
    assert words in line, line
    assert not out.exists()


def test_learning_group_with_a_huge_order_volume_is_refused():
    data = scenario("learned-heterogeneous", traders=10, ticks=10).to_dict()
    data["traders"][0]["params"]["max_order_volume"] = 1e20
    with pytest.raises(SettingsError, match="max_order_volume"):
        Settings.from_dict(data)


def test_learning_group_with_an_unknown_policy_name_is_refused():
    data = scenario("learned-heterogeneous", traders=10, ticks=10).to_dict()
    data["traders"][0]["params"]["policy"] = "x"
    with pytest.raises(SettingsError, match="learning.policy must be a shipped policy"):
        Settings.from_dict(data)


@pytest.mark.parametrize("content", [b"\xff\xfe\x00garbage", bytes(range(256)), b"\x00\x00"])
def test_binary_and_non_utf8_settings_files(tmp_path, cli_error, content):
    path = tmp_path / "s.json"
    path.write_bytes(content)
    line = cli_error(["simulate", "--settings", str(path), "--out", str(tmp_path / "o")])
    assert str(path) in line and ("UTF-8" in line or "not a text file" in line)


@pytest.mark.parametrize("kind", ["device", "fifo", "huge"])
def test_settings_that_are_not_a_small_regular_file(tmp_path, cli_error, kind):
    path = tmp_path / "s.json"
    if kind == "device":
        path.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        with path.open("wb") as fh:
            fh.truncate(20_000_000)
    line = cli_error(["simulate", "--settings", str(path), "--out", str(tmp_path / "o")])
    assert "not a regular file" in line or "too large for a settings file" in line


def test_yaml_aliases_are_refused_and_errors_stay_one_short_line(tmp_path, cli_error):
    items = ["&a0 [x, x]"] + [f"&a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 27)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("name: [" + ", ".join(items) + "]\n")
    assert "anchors and aliases" in cli_error(["simulate", "--settings", str(bomb)])
    deep = tmp_path / "deep.json"
    deep.write_text('{"name": ' + "[" * 50 + "1" + "]" * 50 + "}")
    assert len(cli_error(["simulate", "--settings", str(deep)])) < 300


def test_a_settings_path_that_is_a_folder(tmp_path, cli_error):
    folder = tmp_path / "s.json"
    folder.mkdir()
    assert "is a folder" in cli_error(["simulate", "--settings", str(folder)])


# ------------------------------------------------------------------ output folders


def test_force_never_deletes_a_folder_the_package_did_not_write(tmp_path, cli_error,
                                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "thesis.tex").write_text("years of work")
    (tmp_path / "data").mkdir()
    line = cli_error(["simulate", "--ticks", "5", "--traders", "5", "--out", ".", "--force"])
    assert "--out" in line or "names no folder" in line
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    line = cli_error(["simulate", "--ticks", "5", "--traders", "5", "--out", str(mine),
                      "--force", "--quiet"])
    assert "not one" in line and "nothing was deleted" in line
    assert (mine / "notes.txt").read_text() == "keep me"
    assert (tmp_path / "thesis.tex").read_text() == "years of work"


def test_force_replaces_an_earlier_run_and_keeps_look_alike_folders(tmp_path):
    out = tmp_path / "run"
    args = ["simulate", "--ticks", "5", "--traders", "5", "--out", str(out), "--quiet"]
    assert main(args) == 0
    assert (out / MARKER).is_file()
    # named like a leftover, but no run recorded it: it may be the user's, so it stays (the
    # leftovers of killed runs are recognised by their token: tests/test_output_folders.py)
    stale = tmp_path / ".run.tmp-crashed"
    stale.mkdir()
    (stale / "market.csv").write_text("half")
    assert main([*args, "--seed", "3", "--force"]) == 0
    assert json.loads((out / "settings.json").read_text())["seed"] == 3
    assert (stale / "market.csv").read_text() == "half"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".run.tmp-crashed", "run"]


@pytest.mark.parametrize("where", ["under_a_file", "through_a_missing_folder"])
def test_output_paths_are_checked_before_simulating(tmp_path, cli_error, where):
    if where == "under_a_file":
        (tmp_path / "f").write_text("x")
        out = tmp_path / "f" / "run"
        assert "is a file" in cli_error(["simulate", "--ticks", "5", "--traders", "5",
                                         "--out", str(out), "--quiet"])
    else:  # parents are created
        out = tmp_path / "a" / "b" / "run"
        assert main(["simulate", "--ticks", "5", "--traders", "5", "--out", str(out),
                     "--quiet"]) == 0
        assert (out / "market.csv").is_file()


def test_output_under_a_read_only_folder(tmp_path, cli_error):
    import os

    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):  # root writes anyway: nothing to refuse
            pytest.skip("running as root: a read-only folder is still writable")
        line = cli_error(["run", "--seeds", "1", "--ticks", "400", "--traders", "10",
                          "--out", str(ro / "report"), "--quiet"])
        assert "cannot write" in line
    finally:
        ro.chmod(0o755)


# ------------------------------------------------------------------ commands


@pytest.mark.parametrize("args, words", [
    (["train", "--device", "bogus"], "device"),
    (["train", "--device", "cuda:abc"], "device"),
    (["viz", "--port", "99999"], "1-65535"),
    (["viz", "--port", "0"], "1-65535"),
])
def test_bad_command_options(tmp_path, cli_error, args, words):
    assert words in cli_error([*args, *(["--out", str(tmp_path / "t")] if args[0] == "train"
                                        else [])])
    assert not (tmp_path / "t").exists()


def test_bench_json_pointing_at_a_folder_fails_before_benchmarking(tmp_path, cli_error):
    line = cli_error(["bench", "--quick", "--json", str(tmp_path)])
    assert "is a folder" in line


def test_a_crafted_checkpoint_without_trait_bounds(tmp_path, cli_error):
    import torch

    from abm_hetero.learning.checkpoint import FORMAT, VERSION
    from abm_hetero.learning.network import ActorCritic

    net = ActorCritic()
    path = tmp_path / "crafted.pt"
    torch.save({"format": FORMAT, "version": VERSION, "architecture": net.arch.to_dict(),
                "policy_state": net.state_dict()}, path)
    line = cli_error(["simulate", "--population", "learned-heterogeneous", "--policy",
                      str(path), "--ticks", "3", "--traders", "5",
                      "--out", str(tmp_path / "o"), "--quiet"])
    assert "trait bounds" in line


@pytest.mark.parametrize("change, words", [
    ({"burn_in": -100}, "burn_in"),
    ({"search": "halving", "candidates": 0}, "candidates"),
    ({"search": "halving", "eta": 1}, "eta"),
    ({"seeds": [0, 0]}, "seeds"),
    ({"ticks": math.nan}, "ticks"),
])
def test_bad_calibration_settings(change, words):
    with pytest.raises(SettingsError, match=words):
        build_dataclass(CalibrationSettings, change, "calibration")


@pytest.mark.parametrize("change, words", [
    ({"total_steps": math.inf}, "total_steps"),
    ({"hidden": [0]}, "hidden"),
    ({"cash": {"kind": "exponential", "mean": 1e300}}, "cash"),
    ({"ppo": {"clip": math.nan}}, "clip"),
    ({"episode_ticks": 10, "warmup_ticks": 10}, "warmup_ticks"),
])
def test_bad_training_settings(change, words):
    with pytest.raises(SettingsError, match=words):
        TrainingSettings.from_dict(change)


# ------------------------------------------------------------------ the task cache


def _square(x, tag):
    return x * x


def test_cached_results_are_reused_only_for_the_same_arguments(tmp_path):
    cache = tmp_path / "tasks"
    first = run_tasks(_square, {"a": (3, "one")}, cache=cache)
    assert first == {"a": 9}
    # same key, other arguments: recomputed, not reused
    assert run_tasks(_square, {"a": (4, "one")}, cache=cache) == {"a": 16}
    # other salt (e.g. the policy file's contents changed): recomputed
    entry = next(cache.glob("*.npz"))
    before = entry.read_bytes()
    run_tasks(_square, {"a": (4, "one")}, cache=cache, cache_salt="other")
    assert entry.read_bytes() != before
    # a corrupt entry is recomputed
    entry.write_bytes(b"not a pickle")
    assert run_tasks(_square, {"a": (5, "one")}, cache=cache) == {"a": 25}
    assert json.loads(np.load(entry, allow_pickle=False)["result.json"]) == 25
    # a half-written entry of a killed run of this folder (its token) is removed; a file that
    # only looks like one is not
    token = "a" * 16
    (cache / f".a.npz.tmp-{token}-0001").write_bytes(b"half")
    (cache / ".a.npz.tmp123").write_bytes(b"mine")
    run_tasks(_square, {"a": (5, "one")}, cache=cache, cache_token=token)
    assert not (cache / f".a.npz.tmp-{token}-0001").exists()
    assert (cache / ".a.npz.tmp123").read_bytes() == b"mine"


ARG_VALUES = ["0", "-1", "nan", "inf", "1e3", "abc", "", "99999999999", "3", "\x00",
              "../..", "learned-homogeneous", "fcn", "robot"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["--ticks", "--traders", "--seed", "--population",
                                           "--policy"]),
                          st.sampled_from(ARG_VALUES)), max_size=3))
def test_any_simulate_arguments_run_or_fail_in_one_line(tmp_path_factory, capsys, pairs):
    out = tmp_path_factory.mktemp("cli") / "run"
    args = ["simulate", "--ticks", "3", "--traders", "4", "--out", str(out), "--quiet"]
    for option, value in pairs:
        args += [option, value]
    try:
        rc = main(args)
    except SystemExit as exc:  # argparse usage errors
        rc = exc.code
    err = capsys.readouterr().err.strip()
    if rc == 0:
        assert (out / "market.csv").is_file() and (out / MARKER).is_file()
    else:
        assert rc == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert not out.exists()
