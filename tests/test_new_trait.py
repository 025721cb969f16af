"""A trait registered in one place reaches every part of the package.

The fourth trait ``kappa`` is registered here alone (``traits.registered``), then a short
training, a simulation with the trained policy, a diagnosis and the behaviour analysis are run
with it; afterwards it is gone, so no other test sees it.
"""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from abm_hetero.analysis.behaviour import behaviour_table, trait_correlations
from abm_hetero.cli import main
from abm_hetero.distributions import Uniform
from abm_hetero.learning.checkpoint import CheckpointError, load_checkpoint, load_policy
from abm_hetero.learning.observer import SHIPPED_FEATURES, feature_names, observation_size
from abm_hetero.learning.pretrained import pretrained_path
from abm_hetero.training import Trainer, TrainingSettings
from abm_hetero.traits import TRAIT_NAMES, TraitSpec, heterogeneous, registered

KAPPA = TraitSpec("kappa", "a trait for this test", 0.0, 1.0, True, True, cap=1.0,
                  default=0.5, enters="nothing",
                  presets={"heterogeneous": Uniform(0.2, 0.8), "prior": Uniform(0.0, 1.0)})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A policy trained with kappa registered (kappa stays registered while a test uses it)."""
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("kappa")
    with registered(KAPPA):
        settings = TrainingSettings.from_dict(dict(
            traders=10, episode_ticks=20, warmup_ticks=2, episodes_per_rollout=1,
            hidden=[8, 8], total_steps=400, eval_interval=10_000, eval_episodes=1, seed=0))
        trainer = Trainer(settings, folder / "train", progress=False)
        trainer.train()
        yield folder, trainer


def test_the_trait_is_observed_and_trained_on(trained):
    folder, trainer = trained
    assert "kappa" in TRAIT_NAMES and "kappa" in heterogeneous().names
    assert feature_names() == (*SHIPPED_FEATURES, "kappa")
    assert trainer.policy.net.arch.obs_dim == observation_size() == len(SHIPPED_FEATURES) + 1
    data = load_checkpoint(folder / "train" / "policy.pt")
    assert data["features"][-1] == "kappa" and "kappa" in data["trait_bounds"]
    # the shipped policies never saw kappa: one line naming the file and the feature
    with pytest.raises(CheckpointError, match=r"heterogeneous\.pt: features .* lacks kappa"):
        load_policy(pretrained_path("heterogeneous"))


def test_simulate_diagnose_and_analyse_with_the_trait(trained):
    folder, _ = trained
    policy = str(folder / "train" / "policy.pt")
    run = folder / "run"
    main(["simulate", "--population", "learned-heterogeneous", "--traders", "20", "--ticks",
          "40", "--policy", policy, "--out", str(run), "--quiet"])
    traders = pd.read_csv(run / "traders.csv")
    assert list(traders.columns[-4:]) == ["alpha", "gamma", "sigma", "kappa"]
    assert traders["kappa"].between(0.2, 0.8).all() and traders["kappa"].nunique() > 1
    assert "kappa" in json.loads((run / "settings.json").read_text())["traders"][0]["traits"]

    runs = {name: pd.read_csv(run / f"{name}.csv") for name in ("market", "traders", "trades",
                                                                "orders")}
    table = behaviour_table(runs)
    assert "kappa" in table
    assert "kappa" in set(trait_correlations(table, n_boot=20)["trait"])

    main(["diagnose", "--population", "learned-heterogeneous", "--policy", policy, "--seeds",
          "1", "--ticks", "60", "--traders", "20", "--out", str(folder / "diagnose")])
    coverage = pd.read_csv(folder / "diagnose" / "observation_coverage.csv")
    assert coverage["name"].iloc[-1] == "kappa"
    sensitivity = pd.read_csv(folder / "diagnose" / "policy_sensitivity.csv")
    assert "kappa" in set(sensitivity["trait"])


def test_the_trait_is_gone_afterwards(trained):
    with registered(TraitSpec("kappa2", "another", 0.0, 1.0, True, True, cap=1.0, default=0.0)):
        assert TRAIT_NAMES[-1] == "kappa2"
    assert "kappa2" not in TRAIT_NAMES
    assert np.all([name != "kappa2" for name in feature_names()])
