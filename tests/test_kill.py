"""Kill tests: SIGKILL at random moments leaves a consistent state and no live process."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from processes import COMMAND, alive, children, kill_after, start

from abm_hetero.output import FILES, MARKER

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="uses /proc and SIGKILL")
def assert_complete_run(folder: Path, ticks: int) -> int:
    assert (folder / MARKER).is_file()
    for name in FILES:
        assert (folder / name).is_file(), name
    market = pd.read_csv(folder / "market.csv")
    assert len(market) == ticks + 1
    return json.loads((folder / "settings.json").read_text())["seed"]


def test_simulate_force_killed_at_random_moments_leaves_the_old_or_the_new_run(tmp_path):
    out = tmp_path / "run"
    args = ["simulate", "--population", "fcn", "--ticks", "1500", "--traders", "200",
            "--out", str(out), "--quiet"]
    assert subprocess.run([*COMMAND, *args, "--seed", "0"], cwd=tmp_path).returncode == 0
    seeds = {0}
    rng = np.random.default_rng(7)
    for k in range(1, 7):
        proc = start([*args, "--seed", str(k), "--force"], tmp_path)
        if not kill_after(proc, float(rng.uniform(1.5, 3.2))):
            assert proc.returncode == 0, proc.stderr.read().decode()
            seeds.add(k)
        assert assert_complete_run(out, 1500) in seeds | {k}
        seeds.add(k)
    # the next run cleans what the killed ones left beside the folder
    assert subprocess.run([*COMMAND, *args, "--seed", "9", "--force"],
                          cwd=tmp_path).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_train_killed_at_random_moments_resumes_with_metrics_that_agree(tmp_path):
    settings = tmp_path / "tiny.json"
    settings.write_text(json.dumps({
        "total_steps": 6000, "traders": 20, "episode_ticks": 40, "warmup_ticks": 5,
        "episodes_per_rollout": 1, "eval_interval": 10 ** 9, "eval_episodes": 1,
        "hidden": [16, 16]}))
    out = tmp_path / "train"
    rng = np.random.default_rng(3)
    finished = False
    for _ in range(4):
        resume = (out / "checkpoint.pt").exists()
        args = ["train", "--out", str(out), "--quiet",
                *(["--resume"] if resume else ["--settings", str(settings)])]
        proc = start(args, tmp_path)
        if not kill_after(proc, float(rng.uniform(4.0, 9.0))):
            assert proc.returncode == 0, proc.stderr.read().decode()
            finished = True
            break
    if not finished:
        args = ["train", "--out", str(out), "--quiet",
                *(["--resume"] if (out / "checkpoint.pt").exists() else
                  ["--settings", str(settings)])]
        assert subprocess.run([*COMMAND, *args], cwd=tmp_path).returncode == 0
    metrics = pd.read_csv(out / "metrics.csv")
    steps = metrics["steps"].to_numpy()
    assert (np.diff(steps) > 0).all() and steps[-1] >= 6000
    assert list(metrics["rollouts"]) == list(range(1, len(metrics) + 1))
    import torch

    saved = torch.load(out / "checkpoint.pt", weights_only=True)["counters"]
    assert saved["steps"] == steps[-1] and saved["rollouts"] == len(metrics)
    assert not list(out.glob(".*.pt.*"))


def test_killing_calibrate_leaves_no_worker_alive(tmp_path):
    settings = tmp_path / "cal.json"
    settings.write_text(json.dumps({"traders": 60, "ticks": 1100, "burn_in": 100,
                                    "seeds": [0, 1, 2, 3]}))
    proc = start(["calibrate", "--backend", "local", "--workers", "2", "--settings",
                  str(settings), "--out", str(tmp_path / "cal"), "--quiet",
                  "--no-scenarios"], tmp_path)
    workers: list[int] = []
    deadline = time.time() + 60
    while time.time() < deadline and len(workers) < 2 and proc.poll() is None:
        time.sleep(0.5)
        workers = [p for p in children(proc.pid) if alive(p)]
    assert workers, "the calibration started no worker processes"
    time.sleep(2.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(alive(p) for p in workers):
        time.sleep(0.2)
    assert not [p for p in workers if alive(p)], "workers outlived the killed main process"
    # finished simulations stay usable: nothing half-written among the cached results
    for entry in (tmp_path / "cal" / "tasks").glob("*.npz"):
        assert not entry.name.startswith(".")
