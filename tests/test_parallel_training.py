"""Training with episodes on worker processes and on Ray: the same run as in one process.

An episode's transitions depend only on the settings, the weights and the episode's seed, and
the learner assembles them in the episodes' order, so every backend and worker count must give
the policy of the sequential run, byte for byte (on one machine).
"""

import os
import signal
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest
import torch
from golden.identity import trainer_fingerprint
from processes import COMMAND, alive, children, kill_after, start

from abm_hetero.cli import main
from abm_hetero.errors import AbmHeteroError
from abm_hetero.training.rollouts import EpisodeRunner
from abm_hetero.training.trainer import Trainer, TrainingSettings

torch.set_num_threads(1)

SMALL = dict(traders=30, episode_ticks=60, warmup_ticks=5, episodes_per_rollout=3,
             hidden=[16, 16], eval_interval=2_000, eval_episodes=2, total_steps=3_000, seed=3)


def train(folder, runner_hook=None, **backend) -> Trainer:
    trainer = Trainer(TrainingSettings.from_dict(SMALL), folder, progress=False, **backend)
    if runner_hook is not None:
        runner_hook(trainer.runner)
    trainer.train()
    return trainer


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    return trainer_fingerprint(train(tmp_path_factory.mktemp("sequential")))


def test_one_local_worker_equals_the_sequential_backend(tmp_path, sequential):
    assert trainer_fingerprint(train(tmp_path, backend="local", workers=1)) == sequential


def test_two_local_workers_repeat_and_equal_the_sequential_backend(tmp_path, sequential):
    first = trainer_fingerprint(train(tmp_path / "a", backend="local", workers=2))
    second = trainer_fingerprint(train(tmp_path / "b", backend="local", workers=2))
    assert first == second == sequential


def test_ray_workers_equal_the_sequential_backend(tmp_path, sequential):
    pytest.importorskip("ray")
    assert trainer_fingerprint(train(tmp_path, backend="ray", workers=2)) == sequential


def test_the_update_thread_count_is_the_runs_own_and_kept_on_resume(tmp_path):
    small = {**SMALL, "total_steps": 1_000, "episodes_per_rollout": 1}
    trainer = Trainer(TrainingSettings.from_dict(small), tmp_path, progress=False,
                      update_threads=3)
    assert trainer.update_threads == 3
    trainer.train()
    assert Trainer(TrainingSettings(), tmp_path, resume=True, progress=False).update_threads == 3


def test_the_default_update_thread_count_does_not_depend_on_the_backend(tmp_path):
    counts = {Trainer(TrainingSettings.from_dict(SMALL), tmp_path / name, progress=False,
                      **backend).update_threads
              for name, backend in (("s", {}), ("l", dict(backend="local", workers=1)))}
    assert len(counts) == 1


def kill_a_worker_during_rollout(rollout: int):
    """A hook that SIGKILLs one worker process shortly after rollout ``rollout`` starts."""
    killed: list[int] = []

    def hook(runner: EpisodeRunner) -> None:
        engine = runner.engine
        run_local = engine._run_local
        calls = []

        def wrapped(*batch):
            calls.append(1)
            if len(calls) == rollout:
                def kill() -> None:
                    time.sleep(0.05)
                    pid = next(iter(engine._pool._processes))
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)

                threading.Thread(target=kill, daemon=True).start()
            return run_local(*batch)

        engine._run_local = wrapped

    return hook, killed


def test_a_killed_worker_is_replaced_and_its_episode_rerun(tmp_path, sequential):
    hook, killed = kill_a_worker_during_rollout(3)
    trainer = train(tmp_path, hook, backend="local", workers=2)
    assert killed, "no worker was killed"
    assert trainer.steps >= SMALL["total_steps"]
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert list(metrics["rollouts"]) == list(range(1, len(metrics) + 1))
    assert trainer.episodes == len(metrics) * SMALL["episodes_per_rollout"]
    # nothing half-counted: the run is the one without the kill
    assert trainer_fingerprint(trainer) == sequential


def test_workers_that_keep_dying_raise_a_clear_error(tmp_path):
    runner = EpisodeRunner("local", 1, retries=0)
    settings = TrainingSettings.from_dict(SMALL)
    from abm_hetero.learning.policy import Policy

    policy = Policy.fresh(settings.traits, settings.architecture)
    runner.start()
    os.kill(next(iter(runner.engine._pool._processes)), signal.SIGKILL)
    try:
        with pytest.raises(AbmHeteroError, match="died 1 times"):
            runner.run(settings, policy, [1, 2])
    finally:
        runner.close()


@pytest.mark.skipif(sys.platform != "linux", reason="uses /proc and SIGKILL")
def test_training_on_local_workers_killed_resumes_and_leaves_no_worker(tmp_path):
    # long enough that the kill, 0.5 s after the first checkpoint, lands before the run's end
    # on an idle fast machine too (8,000 steps could all be done by then)
    total = 40_000
    settings = tmp_path / "tiny.json"
    settings.write_text(pd.Series({
        "total_steps": total, "traders": 30, "episode_ticks": 60, "warmup_ticks": 5,
        "episodes_per_rollout": 2, "eval_interval": 10 ** 9, "eval_episodes": 1,
        "hidden": [16, 16]}).to_json())
    out = tmp_path / "train"
    backend = ["--backend", "local", "--workers", "2"]
    proc = start(["train", "--out", str(out), "--quiet", "--settings", str(settings),
                  *backend], tmp_path)
    workers: list[int] = []
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None and not (
            (out / "checkpoint.pt").exists() and len(workers) >= 2):
        time.sleep(0.2)
        workers = [p for p in children(proc.pid) if alive(p)]
    assert kill_after(proc, 0.5), "the run finished before it could be killed"
    deadline = time.time() + 10
    while time.time() < deadline and any(alive(p) for p in workers):
        time.sleep(0.2)
    assert not [p for p in workers if alive(p)], "workers outlived the killed learner"
    saved = torch.load(out / "checkpoint.pt", weights_only=True)["counters"]
    assert 0 < saved["steps"] < total
    done = subprocess.run([*COMMAND, "train", "--out", str(out), "--quiet", "--resume",
                           *backend], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    metrics = pd.read_csv(out / "metrics.csv")
    assert metrics["steps"].is_monotonic_increasing and metrics["steps"].iloc[-1] >= total
    assert list(metrics["rollouts"]) == list(range(1, len(metrics) + 1))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_gpu_learner_trains_with_workers_on_the_cpu(tmp_path):
    trainer = Trainer(TrainingSettings.from_dict({**SMALL, "device": "cuda"}), tmp_path,
                      progress=False, backend="local", workers=2)
    trainer.train()
    assert trainer.steps >= SMALL["total_steps"]
    assert trainer.policy.device.type == "cuda"
    assert pd.read_csv(tmp_path / "metrics.csv")["train_reward"].notna().all()


@pytest.mark.parametrize(
    "args, text",
    [
        (["--backend", "threads"], "invalid choice: 'threads'"),
        (["--backend", "local", "--workers", "0"], "--workers: must be at least 1"),
        (["--backend", "local", "--workers", "100000"], "--workers: at most 4096"),
        (["--backend", "local", "--address", "10.0.0.1:6379"], "it needs --backend ray"),
        (["--update-threads", "0"], "--update-threads: must be at least 1"),
        (["--update-threads", "x"], "--update-threads"),
    ],
)
def test_train_backend_errors(tmp_path, monkeypatch, cli_error, args, text):
    monkeypatch.chdir(tmp_path)
    assert text in cli_error(["train", "--quiet", "--out", "o", *args])
    assert not (tmp_path / "o").exists()


def test_a_ray_address_where_nothing_listens_fails_before_training(tmp_path, capsys):
    pytest.importorskip("ray")
    assert main(["train", "--quiet", "--out", str(tmp_path / "o"), "--backend", "ray",
                 "--address", "127.0.0.1:1"]) == 2
    assert "no Ray cluster answers at 127.0.0.1:1" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_learning_curve_on_two_workers_matches_one_process(tmp_path):
    """A longer run (200 traders, 300 000 steps): the parallel run's curve is the sequential
    one's, not only within noise."""
    settings = dict(total_steps=300_000, eval_interval=100_000, eval_episodes=2, seed=11)
    curves = {}
    for name, backend in (("sequential", {}), ("local", dict(backend="local", workers=2))):
        trainer = Trainer(TrainingSettings.from_dict(settings), tmp_path / name,
                          progress=False, **backend)
        trainer.train()
        curves[name] = pd.read_csv(tmp_path / name / "metrics.csv")
    for column in ("train_reward", "eval_reward", "policy_loss"):
        pd.testing.assert_series_equal(curves["sequential"][column], curves["local"][column])


def test_calibrate_refuses_an_address_without_ray(tmp_path, monkeypatch, cli_error):
    monkeypatch.chdir(tmp_path)
    assert "it needs --backend ray" in cli_error(
        ["calibrate", "--quiet", "--out", "c", "--backend", "local", "--address", "h:1"])
