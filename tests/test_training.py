"""Training runs: resume, learning beats a random policy, CLI errors."""

import pandas as pd
import pytest
import torch

from abm_hetero.cli import main
from abm_hetero.errors import SettingsError
from abm_hetero.learning.checkpoint import load_checkpoint
from abm_hetero.learning.policy import Policy
from abm_hetero.training.trainer import Trainer, TrainingSettings, evaluate

torch.set_num_threads(1)


def small(**changes) -> TrainingSettings:
    base = dict(traders=50, episode_ticks=60, warmup_ticks=5, episodes_per_rollout=2,
                hidden=[32, 32], eval_interval=10_000, eval_episodes=2, total_steps=3_000)
    base.update(changes)
    return TrainingSettings.from_dict(base)


def test_resume_continues_from_the_saved_step(tmp_path):
    out = tmp_path / "run"
    first = Trainer(small(total_steps=2_000), out, progress=False)
    first.train()
    saved = load_checkpoint(out / "checkpoint.pt")["counters"]
    assert saved["steps"] == first.steps >= 2_000
    resumed = Trainer(TrainingSettings(), out, resume=True, progress=False)
    assert (resumed.steps, resumed.episodes) == (first.steps, first.episodes)
    resumed.settings.total_steps = 4_000
    resumed.train()
    metrics = pd.read_csv(out / "metrics.csv")
    assert metrics["steps"].is_monotonic_increasing
    assert metrics["steps"].iloc[-1] == resumed.steps >= 4_000
    for name in ("checkpoint.pt", "policy.pt", "best.pt", "training_settings.json"):
        assert (out / name).exists()


def test_a_second_run_into_the_same_folder_is_refused(tmp_path):
    Trainer(small(total_steps=500), tmp_path, progress=False).train()
    with pytest.raises(Exception, match="--resume"):
        Trainer(small(), tmp_path, progress=False)


def test_learning_beats_a_random_policy(tmp_path):
    # a small market in which going short or overdrawn costs a whole unit of reward: a random
    # policy often pays it, a learned one learns to avoid it within a minute
    settings = small(total_steps=60_000, eval_interval=10**9,
                     learning={"short_selling_penalty": 1.0, "cash_shortage_penalty": 1.0})
    trainer = Trainer(settings, tmp_path, progress=False)
    trainer.train()
    random_policy = Policy.fresh(settings.traits, settings.architecture, seed=99)
    seeds = 4242
    random = evaluate(settings, random_policy, 4, seeds, deterministic=False)["eval_reward"]
    learned = evaluate(settings, trainer.policy, 4, seeds)["eval_reward"]
    learned_sampling = evaluate(settings, trainer.policy, 4, seeds,
                                deterministic=False)["eval_reward"]
    assert learned > random + 0.05
    assert learned_sampling > random


@pytest.mark.parametrize(
    "args, text",
    [
        (["--resume"], "--resume needs --out"),
        (["--out", "o", "--steps", "0"], "--steps: must be at least 1"),
        (["--out", "o", "--traits", "martians"], "unknown trait preset 'martians'"),
        (["--out", "o", "--resume", "--seed", "3"], "only --steps and where"),
        pytest.param(["--out", "o", "--device", "cuda:7"], "no CUDA GPU",
                     marks=pytest.mark.skipif(torch.cuda.is_available(), reason="has a GPU")),
    ],
)
def test_train_cli_errors(tmp_path, monkeypatch, cli_error, args, text):
    monkeypatch.chdir(tmp_path)
    assert text in cli_error(["train", "--quiet", *args])


def test_resume_of_a_missing_run(tmp_path, capsys):
    assert main(["train", "--resume", "--out", str(tmp_path / "none"), "--quiet"]) == 2
    assert "(it does not exist)" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


def test_a_network_too_large_to_train_is_refused_before_anything_is_built():
    with pytest.raises(SettingsError, match="at most 50,000,000"):
        TrainingSettings.from_dict({"hidden": [65536, 65536]})
