"""Diagnostics of learning traders: observation coverage, policy sensitivity, the command."""

import numpy as np
import pandas as pd
import pytest

from abm_hetero import scenario
from abm_hetero.analysis.diagnostics import (
    observation_coverage,
    policy_sensitivity,
    run_diagnosis,
    write_diagnosis,
)
from abm_hetero.cli import main
from abm_hetero.learning.network import Architecture
from abm_hetero.learning.observer import observation_size
from abm_hetero.learning.policy import Policy
from abm_hetero.traits import heterogeneous

#: a learning trader's observation size
N = observation_size()


@pytest.fixture(scope="module")
def diagnosis():
    """The shipped heterogeneous policy on a short market."""
    return run_diagnosis(scenario("learned-heterogeneous", traders=100, ticks=300), [0])


#: features the shipped policy's market is known to push against a bound (docs/learning.md,
#: "Diagnostics of the shipped policy"): the traders' holdings often exceed a quarter of the
#: bid side's depth, the top of bid_depth_ratio's range
KNOWN_PINNED = {"bid_depth_ratio"}


def test_no_observation_feature_is_pinned_in_a_learned_market(diagnosis):
    coverage = diagnosis.coverage.set_index("name")
    pinned = set(coverage.index[coverage["pinned"]])
    assert pinned <= KNOWN_PINNED, coverage[coverage["pinned"]]
    assert (coverage["q05"] >= -1).all() and (coverage["q95"] <= 1).all()
    assert (coverage["q95"] - coverage["q05"] > 0.5).all()  # even the known one still moves
    assert not coverage["constant"].any()  # heterogeneous traits: every feature varies


def test_coverage_flags_a_pinned_and_a_constant_feature():
    rng = np.random.default_rng(0)
    n = 1000
    frame = pd.DataFrame({"obs_0": rng.uniform(-1, 1, n), "obs_1": np.full(n, -1.0),
                          "obs_2": rng.normal(0.3, 0.01, n), "obs_3": np.zeros(n)})
    c = observation_coverage(frame, names=("wide", "at_bound", "narrow", "constant"))
    assert list(c["pinned"]) == [False, True, True, False]
    assert list(c["constant"]) == [False, False, False, True]


def test_policy_sensitivity_sees_a_trait_the_network_reads():
    import torch

    policy = Policy.fresh(heterogeneous(), Architecture(hidden=(4,)), seed=0)
    actor = policy.net.actor  # Linear(N, 4) -> SiLU -> Linear(4, 2)
    with torch.no_grad():
        for layer in (actor[0], actor[2]):
            layer.weight.zero_()
            layer.bias.zero_()
        actor[0].weight[0, 9] = 3.0  # hidden unit 0 reads the alpha feature (column 9)
        actor[2].weight[1, 0] = 1.0  # the volume output reads hidden unit 0
    obs = np.random.default_rng(0).uniform(-1, 1, (200, N)).astype(np.float32)
    table, curves = policy_sensitivity(policy, obs, points=5)
    t = table.set_index(["trait", "output"])
    assert t.loc[("alpha", "action_1"), "change"] > 0.9
    assert t.loc[("alpha", "action_1"), "direction"] == 1
    assert t.loc[("alpha", "action_1"), "change_over_noise"] > 1
    assert t.loc[("gamma", "action_1"), "change"] == pytest.approx(0, abs=1e-6)
    assert t.loc[("alpha", "action_0"), "change"] == pytest.approx(0, abs=1e-6)
    assert len(curves) == 3 * 5


def test_write_diagnosis(diagnosis, tmp_path):
    write_diagnosis(diagnosis, tmp_path)
    for name in ("reward_audit.csv", "observation_coverage.csv", "policy_sensitivity.csv",
                 "sensitivity_curves.csv", "reward_timing.csv", "trait_sensitivity.png",
                 "summary.md"):
        assert (tmp_path / name).is_file(), name
    text = (tmp_path / "summary.md").read_text()
    assert "Reward terms by share of variance" in text and "Pinned observation features" in text
    audit = pd.read_csv(tmp_path / "reward_audit.csv")
    overall = audit[(audit["group"] == "all") & audit["in_reward"]]
    assert overall["reward_variance_share"].sum() == pytest.approx(1.0)
    assert {"alpha low", "gamma high", "sigma middle"} <= set(audit["group"])


def test_diagnose_command(tmp_path, capsys):
    out = tmp_path / "diag"
    assert main(["diagnose", "--seeds", "1", "--ticks", "120", "--traders", "40",
                 "--out", str(out)]) == 0
    assert (out / "summary.md").is_file()
    assert "Reward terms by share of variance" in capsys.readouterr().out


@pytest.mark.parametrize("args, match", [
    (["--population", "fcn"], "no learning traders"),
    (["--population", "nonsense"], "unknown population"),
    (["--seeds", "0"], "at least 1"),
])
def test_diagnose_errors(cli_error, tmp_path, args, match):
    assert match in cli_error(["diagnose", "--out", str(tmp_path / "d"), *args])
