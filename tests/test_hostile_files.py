"""Hostile files: data files the package reads hold data only, and checkpoints are checked
before use. A planted or broken cache entry is recomputed, never executed; a crafted checkpoint
stops with one line naming the file and the field, before any network is allocated."""

import json
import math
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from abm_hetero import scenario
from abm_hetero.cli import main
from abm_hetero.errors import AbmHeteroError
from abm_hetero.learning.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from abm_hetero.learning.network import Architecture
from abm_hetero.learning.policy import Policy
from abm_hetero.training.cache import _cache_path, _fingerprint
from abm_hetero.training.engine import run_tasks
from abm_hetero.traits import heterogeneous

# ------------------------------------------------------------------ the task cache


class Plant:
    """Unpickling this creates the file ``marker``: proof that a cache file ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def logged(x: int, log: str):
    with open(log, "a") as fh:
        fh.write(f"{x}\n")
    return {"returns": np.arange(x, dtype=float), "mean": float(x), "count": x,
            "pair": (np.float32(x), None)}


def same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, (np.ndarray, np.generic)):
        return type(a) is type(b) and a.dtype == b.dtype and np.array_equal(a, b)
    return type(a) is type(b) and a == b


def calls(log: Path) -> int:
    return len(log.read_text().split()) if log.exists() else 0


@pytest.mark.parametrize("name", ["a.pkl", "a.npz"])
def test_a_planted_pickle_is_never_executed(tmp_path, name):
    cache, log, marker = tmp_path / "tasks", tmp_path / "log", tmp_path / "pwned"
    cache.mkdir()
    (cache / name).write_bytes(pickle.dumps({"fingerprint": "x", "result": Plant(marker)}))
    out = run_tasks(logged, {"a": (3, str(log))}, cache=cache)
    assert same(out["a"], logged(3, str(tmp_path / "other")))
    assert calls(log) == 1 and not marker.exists()
    # the saved entry is reused, as the same data
    again = run_tasks(logged, {"a": (3, str(log))}, cache=cache)
    assert same(again["a"], out["a"]) and calls(log) == 1
    assert not list(cache.glob(".*"))


def test_a_planted_entry_with_the_right_fingerprint_cannot_run_code(tmp_path):
    """Even a well-formed entry for exactly these arguments holding a pickled object array is
    refused (arrays are read with allow_pickle=False) and recomputed."""
    cache, log, marker = tmp_path / "tasks", tmp_path / "log", tmp_path / "pwned"
    cache.mkdir()
    entry = _cache_path(cache, "a")
    with zipfile.ZipFile(entry, "w") as zf:
        zf.writestr("fingerprint", _fingerprint(logged, (3, str(log)), ""))
        zf.writestr("result.json", json.dumps({"array": 0, "scalar": False}))
        with zf.open("0.npy", "w") as member:
            np.lib.format.write_array(member, np.array([Plant(marker)], dtype=object),
                                      allow_pickle=True)
    out = run_tasks(logged, {"a": (3, str(log))}, cache=cache)
    assert calls(log) == 1 and not marker.exists()
    assert same(out["a"], logged(3, str(tmp_path / "other")))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "huge array header"])
def test_a_damaged_entry_is_recomputed(tmp_path, damage):
    cache, log = tmp_path / "tasks", tmp_path / "log"
    first = run_tasks(logged, {"a": (5, str(log))}, cache=cache)["a"]
    entry = _cache_path(cache, "a")
    raw = entry.read_bytes()
    if damage == "truncate":
        entry.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        entry.write_bytes(bytes(range(256)) * 10)
    elif damage == "empty":
        entry.write_bytes(b"")
    else:  # the right fingerprint, but an array declaring far more data than the file holds
        with zipfile.ZipFile(entry) as zf:
            fingerprint = zf.read("fingerprint")
        with zipfile.ZipFile(entry, "w") as zf:
            zf.writestr("fingerprint", fingerprint)
            zf.writestr("result.json", json.dumps({"array": 0, "scalar": False}))
            zf.writestr("0.npy", b"\x93NUMPY\x01\x00v\x00" + b"{'descr': '<f8', 'fortran_order':"
                                 b" False, 'shape': (1000000000000,), }".ljust(117) + b"\n")
    again = run_tasks(logged, {"a": (5, str(log))}, cache=cache)["a"]
    assert same(again, first) and calls(log) == 2


def test_a_result_that_is_not_data_is_refused_not_pickled(tmp_path):
    with pytest.raises(TypeError, match="cannot hold a Plant"):
        run_tasks(Plant, {"a": (tmp_path / "x",)}, cache=tmp_path / "tasks")
    assert not list((tmp_path / "tasks").iterdir())


def test_non_finite_numbers_and_nested_types_survive_the_cache(tmp_path):
    cache = tmp_path / "tasks"
    value = [math.nan, math.inf, (1, "x"), {"k": np.int16(3)}, np.array([np.nan, 1.0]), True]
    run_tasks(lambda_free_identity, {"v": (value,)}, cache=cache)
    got = run_tasks(lambda_free_identity, {"v": (value,)}, cache=cache)["v"]
    assert math.isnan(got[0]) and got[1] == math.inf and got[2] == (1, "x")
    assert same(got[3], {"k": np.int16(3)}) and got[5] is True
    np.testing.assert_array_equal(got[4], value[4])


def lambda_free_identity(x):
    return x


# ------------------------------------------------------------------ checkpoints


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    policy = Policy.fresh(heterogeneous(), Architecture(hidden=(4,)), seed=0)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "good.pt", policy)


def stored(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def weights(arch: Architecture) -> dict:
    return dict(Policy.fresh(heterogeneous(), arch, seed=0).net.state_dict())


def crafted(data: dict, case: str) -> None:
    """Change a valid checkpoint's contents as the named hostile case does."""
    arch, state = data["architecture"], data["policy_state"]
    if case == "huge hidden":
        arch["hidden"] = [10 ** 12]
    elif case == "many layers":
        arch["hidden"] = [4] * 1000
    elif case == "largest sizes, small weights":
        arch["hidden"] = [65536] * 16  # inside the bounds: the weights' shapes give it away
    elif case == "wrong observation size":
        arch["obs_dim"] = 7
        data["policy_state"] = weights(Architecture(obs_dim=7, hidden=(4,)))
    elif case == "wrong action size":
        arch["act_dim"] = 3
        data["policy_state"] = weights(Architecture(act_dim=3, hidden=(4,)))
    elif case == "NaN weights":
        state["actor.0.weight"][0, 0] = math.nan
    elif case == "infinite log std":
        state["log_std"][0] = -math.inf
    elif case == "missing architecture":
        del data["architecture"]
    elif case == "missing hidden":
        del arch["hidden"]
    elif case == "missing weights":
        del data["policy_state"]
    elif case == "missing weight":
        del state["critic.0.bias"]
    elif case == "extra weight":
        state["actor.9.weight"] = torch.zeros(2, 2)
    elif case == "missing trait bounds":
        del data["trait_bounds"]
    elif case == "architecture of the wrong type":
        data["architecture"] = "big"
    elif case == "hidden of the wrong type":
        arch["hidden"] = "128"
    elif case == "fractional layer size":
        arch["hidden"] = [4.5]
    elif case == "obs_dim of the wrong type":
        arch["obs_dim"] = "11"
    elif case == "unknown architecture field":
        arch["dropout"] = 0.5
    elif case == "weights of the wrong type":
        data["policy_state"] = [1, 2, 3]
    elif case == "a weight that is not a tensor":
        state["actor.0.bias"] = [0.0] * 4
    elif case == "a weight of whole numbers":
        state["actor.0.bias"] = torch.zeros(4, dtype=torch.int64)
    elif case == "shapes not matching the declared sizes":
        arch["hidden"] = [8]
    elif case == "name of the wrong type":
        data["name"] = 5
    elif case == "masked_traits of the wrong type":
        data["masked_traits"] = "yes"
    elif case == "trait bounds of the wrong type":
        data["trait_bounds"] = {"alpha": "wide"}
    elif case == "huge initial log std":
        arch["init_log_std"] = 1e308
    elif case == "a weight on the meta device":
        state["actor.0.bias"] = torch.zeros(4, device="meta")
    elif case == "huge finite weights":
        state["actor.0.weight"].fill_(3e38)
    elif case == "huge log std":
        state["log_std"].fill_(1e30)
    elif case == "trait bounds of three numbers":
        data["trait_bounds"]["alpha"] = [0.0, 1.0, 2.0]
    elif case == "trait bounds too narrow to divide by":
        data["trait_bounds"]["alpha"] = [0.0, 1e-320]
    elif case == "version true":
        data["version"] = True
    elif case == "counters of the wrong type":
        data["counters"] = "many"
    else:
        raise AssertionError(case)


CASES = {  # case: words the error must contain (besides the file's path)
    "huge hidden": "architecture.hidden",
    "many layers": "architecture.hidden",
    "largest sizes, small weights": "policy_state.actor.0.weight",
    "wrong observation size": "architecture.obs_dim",
    "wrong action size": "architecture.act_dim",
    "NaN weights": "policy_state.actor.0.weight holds NaN",
    "infinite log std": "policy_state.log_std holds NaN or infinite",
    "missing architecture": "architecture",
    "missing hidden": "architecture.hidden",
    "missing weights": "policy_state",
    "missing weight": "policy_state.critic.0.bias is missing",
    "extra weight": "policy_state.actor.9.weight is not a weight",
    "missing trait bounds": "trait_bounds",
    "architecture of the wrong type": "architecture must be",
    "hidden of the wrong type": "architecture.hidden",
    "fractional layer size": "architecture.hidden",
    "obs_dim of the wrong type": "architecture.obs_dim must be a whole number",
    "unknown architecture field": "architecture.dropout",
    "weights of the wrong type": "policy_state must be",
    "a weight that is not a tensor": "policy_state.actor.0.bias must be a tensor",
    "a weight of whole numbers": "policy_state.actor.0.bias must be a tensor",
    "shapes not matching the declared sizes": "do not fit its architecture",
    "name of the wrong type": "name must be a str",
    "masked_traits of the wrong type": "masked_traits must be a bool",
    "trait bounds of the wrong type": "trait_bounds",
    "huge initial log std": "architecture.init_log_std",
    "a weight on the meta device": "policy_state.actor.0.bias must be a tensor",
    "huge finite weights": "policy_state.actor.0.weight holds numbers outside",
    "huge log std": "policy_state.log_std holds numbers outside",
    "trait bounds of three numbers": "trait_bounds",
    "trait bounds too narrow to divide by": "trait_bounds",
    "version true": "version",
    "counters of the wrong type": "counters must be a dict",
}


def simulate(policy: Path, tmp_path: Path) -> list[str]:
    return ["simulate", "--population", "learned-heterogeneous", "--policy", str(policy),
            "--ticks", "3", "--traders", "5", "--out", str(tmp_path / "out"), "--quiet"]


@pytest.mark.parametrize("case", list(CASES))
def test_a_crafted_checkpoint_stops_in_one_line_naming_file_and_field(good, tmp_path,
                                                                      cli_error, case):
    data = stored(good)
    crafted(data, case)
    path = tmp_path / "crafted.pt"
    torch.save(data, path)
    line = cli_error(simulate(path, tmp_path))
    assert str(path) in line and CASES[case] in line, line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content", ["text", "random bytes", "a list", "a planted pickle"])
def test_a_file_that_is_not_a_checkpoint(tmp_path, cli_error, content):
    path, marker = tmp_path / "policy.pt", tmp_path / "pwned"
    if content == "text":
        path.write_text("hello")
    elif content == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif content == "a list":
        torch.save([torch.zeros(3)], path)
    else:
        torch.save({"format": "abm-hetero-checkpoint", "plant": Plant(marker)}, path)
    line = cli_error(simulate(path, tmp_path))
    assert str(path) in line and "checkpoint" in line
    assert not marker.exists()


def test_every_command_that_reads_a_policy_checks_it(good, tmp_path, cli_error):
    data = stored(good)
    crafted(data, "NaN weights")
    path = tmp_path / "nan.pt"
    torch.save(data, path)
    line = cli_error(["diagnose", "--policy", str(path), "--seeds", "1", "--ticks", "5",
                      "--traders", "5", "--out", str(tmp_path / "diag")])
    assert str(path) in line and "policy_state.actor.0.weight" in line
    settings = scenario("learned-heterogeneous", traders=5, ticks=3).to_dict()
    settings["traders"][0]["params"]["policy"] = str(path)
    file = tmp_path / "settings.json"
    file.write_text(json.dumps(settings))
    line = cli_error(["simulate", "--settings", str(file), "--out", str(tmp_path / "o"),
                      "--quiet"])
    assert str(path) in line and "policy_state.actor.0.weight" in line


TRAINING_CASES = {
    "counters.steps": lambda d: d["counters"].update(steps="many"),
    "counters.best_eval": lambda d: d["counters"].update(best_eval=math.nan),
    "counters": lambda d: d.pop("counters"),
    "rng_state": lambda d: d.update(rng_state={"bit_generator": "MT19937"}),
    "reward_normaliser": lambda d: d["reward_normaliser"].pop("m2"),
    "optimizer_state.state.1.exp_avg": lambda d: d["optimizer_state"]["state"][1][
        "exp_avg"].fill_(math.nan),
    "optimizer_state.param_groups": lambda d: d["optimizer_state"]["param_groups"][0][
        "params"].append(99),
    "optimizer_state.param_groups.lr": lambda d: d["optimizer_state"]["param_groups"][0]
    .update(lr=math.inf),
    "optimizer_state.param_groups.betas": lambda d: d["optimizer_state"]["param_groups"][0]
    .update(betas=(2.0, 5.0)),
    "optimizer_state.param_groups.amsgrad": lambda d: d["optimizer_state"]["param_groups"][0]
    .update(amsgrad=True),
    "optimizer_state.param_groups.capturable": lambda d: d["optimizer_state"]["param_groups"][
        0].update(capturable=True),
    "optimizer_state.param_groups.eps": lambda d: d["optimizer_state"]["param_groups"][0]
    .update(eps=0.0),
    "optimizer_state.state.1.exp_avg_sq": lambda d: d["optimizer_state"]["state"][1][
        "exp_avg_sq"].fill_(-1.0),
    "reward_normaliser ": lambda d: d["reward_normaliser"].update(m2=-5.0),
    "reward_normaliser  ": lambda d: d["reward_normaliser"].update(count=-3.0),
    "rng_state ": lambda d: d["rng_state"]["state"].update(inc=2),
    "rng_state  ": lambda d: d["rng_state"].update(has_uint32=5),
    "torch_rng_state": lambda d: d.update(torch_rng_state=[1, 2, 3]),
    "counters.update_threads": lambda d: d["counters"].update(update_threads=10 ** 6),
    "counters.steps ": lambda d: d["counters"].update(steps=10 ** 30),
    "counters.seconds": lambda d: d["counters"].update(seconds=-1.0),
    "masked_traits": lambda d: d["training_settings"].update(mask_traits=True),
    "optimizer_state.state.0": lambda d: d["optimizer_state"]["state"][0].pop("exp_avg"),
    "optimizer_state.state.0 ": lambda d: d["optimizer_state"]["state"][0].pop("step"),
    "optimizer_state.state.0.step": lambda d: d["optimizer_state"]["state"][0].update(
        step=torch.tensor(True)),
    "optimizer_state.param_groups.weight_decay": lambda d: d["optimizer_state"][
        "param_groups"][0].pop("weight_decay"),
    "optimizer_state.param_groups  ": lambda d: d["optimizer_state"]["param_groups"][
        0].update(params=d["optimizer_state"]["param_groups"][0]["params"][::-1]),
    "optimizer_state.param_groups   ": lambda d: d["optimizer_state"]["param_groups"].append(
        {**d["optimizer_state"]["param_groups"][0],
         "params": [d["optimizer_state"]["param_groups"][0]["params"].pop()]}),
    "optimizer_state.param_groups.foreach": lambda d: d["optimizer_state"]["param_groups"][
        0].update(foreach="yes"),
}


def training_state(path: Path) -> Path:
    """A training checkpoint as the trainer writes it, after one optimiser step."""
    policy = Policy.fresh(heterogeneous(), Architecture(hidden=(4,)), seed=0)
    optimizer = torch.optim.Adam(policy.net.parameters(), lr=3e-4)
    sum(p.sum() for p in policy.net.parameters()).backward()
    optimizer.step()
    return save_checkpoint(
        path, policy, optimizer_state=optimizer.state_dict(),
        reward_normaliser={"count": 3.0, "mean": 0.1, "m2": 0.2},
        rng_state=np.random.default_rng(0).bit_generator.state,
        training_settings={"hidden": [4]},
        counters={"steps": 10, "rollouts": 1, "episodes": 2, "best_eval": -math.inf,
                  "next_eval": 100, "seconds": 1.5})


@pytest.mark.parametrize("field", list(TRAINING_CASES))
def test_a_crafted_training_state_names_its_field(tmp_path, field):
    path = training_state(tmp_path / "checkpoint.pt")
    load_checkpoint(path)  # the untouched state is fine
    data = stored(path)
    TRAINING_CASES[field](data)
    torch.save(data, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    # (trailing spaces tell apart cases of one field)
    assert len(message.splitlines()) == 1 and message.startswith(f"{path}: {field.strip()} "), \
        message


def test_train_resume_checks_the_checkpoint(tmp_path, cli_error):
    from abm_hetero.training.trainer import Trainer, TrainingSettings

    out = tmp_path / "run"
    settings = TrainingSettings.from_dict(dict(
        traders=10, episode_ticks=20, warmup_ticks=2, episodes_per_rollout=1, hidden=[4],
        eval_interval=10 ** 9, eval_episodes=1, total_steps=1))
    Trainer(settings, out, progress=False).train()
    checkpoint = out / "checkpoint.pt"
    data = stored(checkpoint)
    data["policy_state"]["critic.0.weight"][1, 1] = math.nan
    torch.save(data, checkpoint)
    line = cli_error(["train", "--resume", "--out", str(out), "--quiet"])
    assert str(checkpoint) in line and "policy_state.critic.0.weight" in line


def test_the_shipped_policies_pass_the_checks():
    from abm_hetero.learning.checkpoint import load_policy
    from abm_hetero.learning.pretrained import SHIPPED, pretrained_path

    for name in SHIPPED:
        assert load_policy(pretrained_path(name)).net.arch == Architecture()


# ------------------------------------------------------------------ diagnose, smallest markets


@pytest.mark.parametrize("ticks, traders", [(1, 1), (30, 1), (2, 2)])
def test_diagnose_on_the_smallest_markets_works_or_says_why(tmp_path, capsys, ticks, traders):
    args = ["diagnose", "--seeds", "1", "--ticks", str(ticks), "--traders", str(traders),
            "--out", str(tmp_path / "diag")]
    rc = main(args)
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) <= 1, err
    if rc == 0:
        assert (tmp_path / "diag" / "summary.md").is_file()
    else:
        assert rc == 2 and "nothing to diagnose" in err


# ------------------------------------------------------------------ the cache's folder


def test_a_users_files_in_the_cache_folder_are_never_cleaned_up(tmp_path):
    cache, log = tmp_path / "tasks", tmp_path / "log"
    cache.mkdir()
    mine = [cache / ".backup.npz.txt", cache / ".x.npz.1", cache / f".a.npz.tmp-{'0' * 16}-1"]
    for path in mine:
        path.write_text("mine")
    run_tasks(logged, {"a": (3, str(log))}, cache=cache, cache_token="f" * 16)
    assert all(path.read_text() == "mine" for path in mine)


def test_a_cache_folder_that_is_a_link_is_refused(tmp_path):
    mydata = tmp_path / "mydata"
    mydata.mkdir()
    (mydata / ".results.npz.bak").write_text("precious")
    (tmp_path / "tasks").symlink_to(mydata)
    with pytest.raises(AbmHeteroError, match="is a symbolic link"):
        run_tasks(logged, {"a": (3, str(tmp_path / "log"))}, cache=tmp_path / "tasks")
    assert [p.name for p in mydata.iterdir()] == [".results.npz.bak"]


def test_cache_entries_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        run_tasks(logged, {"a": (3, str(tmp_path / "log"))}, cache=tmp_path / "tasks")
    finally:
        os.umask(old)
    (entry,) = (tmp_path / "tasks").iterdir()
    assert entry.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("planted", ["hello", np.array([1.0, np.nan]), np.zeros((2, 2)),
                                     None, np.array(["a"]), np.array([1e308])])
def test_a_planted_calibration_result_with_the_right_fingerprint_is_recomputed(tmp_path,
                                                                               planted):
    """A fingerprint can be copied from an earlier entry: what a reused result looks like is
    checked too (calibration's results are flat arrays of finite returns)."""
    from abm_hetero.analysis.calibrate import plain_returns
    from abm_hetero.training.cache import _save

    cache, log = tmp_path / "tasks", tmp_path / "log"
    cache.mkdir()
    _save(_cache_path(cache, "a"), _fingerprint(returns_of, (3, str(log)), ""), planted)
    out = run_tasks(returns_of, {"a": (3, str(log))}, cache=cache, cache_check=plain_returns)
    assert calls(log) == 1 and np.array_equal(out["a"], np.arange(3.0))


def returns_of(x: int, log: str) -> np.ndarray:
    with open(log, "a") as fh:
        fh.write(f"{x}\n")
    return np.arange(float(x))


def test_the_saved_training_settings_of_a_resumed_run_are_named_in_errors(tmp_path, cli_error):
    out = tmp_path / "t"
    settings = tmp_path / "tiny.json"
    settings.write_text(json.dumps({"total_steps": 20, "traders": 4, "episode_ticks": 20,
                                    "warmup_ticks": 2, "episodes_per_rollout": 1,
                                    "hidden": [4], "eval_interval": 1000, "eval_episodes": 1}))
    assert main(["train", "--quiet", "--settings", str(settings), "--out", str(out)]) == 0
    data = stored(out / "checkpoint.pt")
    data["training_settings"]["total_steps"] = -5
    torch.save(data, out / "checkpoint.pt")
    error = cli_error(["train", "--quiet", "--resume", "--out", str(out), "--steps", "40"])
    assert error.startswith(f"abm-hetero: error: {out / 'checkpoint.pt'}: training_settings:")
