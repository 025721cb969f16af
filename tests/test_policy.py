"""Shared policy, GAE, PPO losses, checkpoints and a short training run."""

import math

import numpy as np
import pytest
import torch

from abm_hetero.learning.buffer import RolloutBuffer, compute_gae
from abm_hetero.learning.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_policy,
    policy_from_checkpoint,
    save_checkpoint,
)
from abm_hetero.learning.network import ActorCritic, Architecture
from abm_hetero.learning.observer import observation_size
from abm_hetero.learning.policy import Policy
from abm_hetero.learning.ppo import PPOSettings, ppo_losses, ppo_update
from abm_hetero.traits import heterogeneous

#: a learning trader's observation size
N = observation_size()

torch.set_num_threads(1)


def test_batched_and_per_trader_calls_give_identical_actions():
    policy = Policy.fresh(heterogeneous(), seed=1)
    rng = np.random.default_rng(0)
    obs = rng.uniform(-1, 1, (50, N)).astype(np.float32)
    noise = np.random.default_rng(7).standard_normal((50, 2))
    batched = policy.act(obs, noise)
    # the per-trader mode draws the same noise stream one trader at a time
    stream = np.random.default_rng(7)
    single = [policy.act(obs[i : i + 1], stream.standard_normal((1, 2))) for i in range(50)]
    for key in ("action", "raw", "logp"):
        np.testing.assert_allclose(batched[key], np.concatenate([s[key] for s in single]),
                                   rtol=0, atol=1e-6)
    det = policy.act(obs)
    np.testing.assert_allclose(det["action"], np.concatenate(
        [policy.act(obs[i : i + 1])["action"] for i in range(50)]), atol=1e-6)
    assert np.abs(batched["action"]).max() <= 0.999


def test_log_prob_matches_squashed_gaussian():
    net = ActorCritic()
    mean = torch.tensor([[0.1, -0.3]])
    raw = torch.tensor([[0.5, 0.2]])
    std = math.exp(-1.0)
    expected = 0.0
    for m, u in zip(mean[0].tolist(), raw[0].tolist()):
        expected += (-0.5 * ((u - m) / std) ** 2 - math.log(std) - 0.5 * math.log(2 * math.pi)
                     - math.log(1 - math.tanh(u) ** 2 + 1e-6))
    assert float(net.log_prob(mean, raw).detach()) == pytest.approx(expected, rel=1e-5)


def test_gae_with_per_trader_discounts_matches_hand_computation():
    # trader A: transitions 0 -> 2 -> 3 (done), gamma 0.9; trader B: 1 -> 4 (done), gamma 0.5
    reward = np.array([1.0, 2.0, 0.0, 3.0, -1.0])
    value = np.array([0.5, 1.0, 0.2, 0.4, 0.3])
    gamma = np.array([0.9, 0.5, 0.9, 0.9, 0.5])
    done = np.array([False, False, False, True, True])
    nxt = np.array([2, 4, 3, -1, -1])
    lam = 0.8
    adv, ret = compute_gae(reward, value, gamma, done, nxt, lam)
    d3 = 3.0 - 0.4
    d2 = 0.0 + 0.9 * 0.4 - 0.2
    d0 = 1.0 + 0.9 * 0.2 - 0.5
    d4 = -1.0 - 0.3
    d1 = 2.0 + 0.5 * 0.3 - 1.0
    a3, a4 = d3, d4
    a2 = d2 + 0.9 * lam * a3
    a0 = d0 + 0.9 * lam * a2
    a1 = d1 + 0.5 * lam * a4
    np.testing.assert_allclose(adv, [a0, a1, a2, a3, a4])
    np.testing.assert_allclose(ret, adv + value)


def test_buffer_links_decisions():
    buf = RolloutBuffer(N, 2, capacity=2)
    first = buf.add(np.zeros((3, N)), np.zeros((3, 2)), np.zeros(3), np.zeros(3),
                    np.full(3, 0.9), [0, 1, 2])
    second = buf.add(np.zeros((3, N)), np.zeros((3, 2)), np.zeros(3), np.zeros(3),
                     np.full(3, 0.9), [0, 1, 2])
    buf.close(first, [1.0, 2.0, 3.0], second)
    assert list(buf.complete()) == [0, 1, 2]
    buf.close(second, [0.0, 0.0, 0.0], None)
    assert buf.done[3:6].all() and list(buf.next_index[:3]) == [3, 4, 5]


def test_clipped_loss_at_the_clip_edges():
    net = ActorCritic()
    obs = torch.zeros((4, N))
    raw = torch.zeros((4, 2))
    with torch.no_grad():
        logp, _, _ = net.evaluate(obs, raw)
    clip = 0.2
    returns = torch.zeros(4)
    # ratio = exp(logp - logp_old): choose logp_old so ratios are 1.5, 0.5, 1.1 and 0.9
    ratios = torch.tensor([1.5, 0.5, 1.1, 0.9])
    old = logp - ratios.log()
    adv = torch.tensor([1.0, -1.0, 1.0, -1.0])
    pl, *_ = ppo_losses(net, obs, raw, old, adv, returns, clip)
    # per sample max(-A r, -A clip(r)): a positive advantage gains at most 1 + clip and a
    # negative one at most 1 - clip: (-1.2 + 0.8 - 1.1 + 0.9) / 4
    assert float(pl.detach()) == pytest.approx(-0.15, abs=1e-5)
    # beyond the edge the gradient of the clipped terms vanishes
    net.zero_grad()
    pl, *_ = ppo_losses(net, obs[:1], raw[:1], old[:1], adv[:1], returns[:1], clip)
    pl.backward()
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0
               for p in net.actor.parameters())


def test_no_nan_after_many_updates_on_random_data():
    torch.manual_seed(0)
    net = ActorCritic(Architecture(hidden=(32, 32)))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    settings = PPOSettings(epochs=2, minibatch_size=64)
    for _ in range(50):
        n = 256
        batch = {"obs": rng.uniform(-1, 1, (n, N)), "raw": rng.normal(0, 3, (n, 2)),
                 "logp": rng.normal(-2, 5, n), "advantages": rng.normal(0, 100, n),
                 "returns": rng.normal(0, 100, n)}
        stats = ppo_update(net, opt, batch, settings, rng, torch.device("cpu"))
        assert all(math.isfinite(v) for v in stats.values())
    assert all(torch.isfinite(p).all() for p in net.parameters())


def test_the_update_recomputes_the_behaviour_log_probabilities():
    """The stored log-probabilities come from whichever forward the markets acted through;
    the update uses its own network's, so the first minibatch's ratio is 1 (KL 0, nothing
    clipped) even if the stored ones are far off, as they can be where the tanh saturates."""
    torch.manual_seed(0)
    net = ActorCritic(Architecture(hidden=(32, 32)))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    n = 256
    batch = {"obs": rng.uniform(-1, 1, (n, N)), "raw": rng.normal(0, 3, (n, 2)),
             "logp": rng.normal(-2, 5, n), "advantages": rng.normal(0, 1, n),
             "returns": rng.normal(0, 1, n)}
    stats = ppo_update(net, opt, batch, PPOSettings(epochs=1, minibatch_size=n), rng,
                       torch.device("cpu"))
    assert abs(stats["approx_kl"]) < 1e-6
    assert stats["clip_frac"] == 0.0


# ---------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip(tmp_path):
    policy = Policy.fresh(heterogeneous(), Architecture(hidden=(16, 8)), seed=3)
    path = save_checkpoint(tmp_path / "p.pt", policy, counters={"steps": 12})
    again = load_policy(path)
    obs = np.random.default_rng(1).uniform(-1, 1, (5, N)).astype(np.float32)
    np.testing.assert_array_equal(policy.act(obs)["action"], again.act(obs)["action"])
    assert again.bounds == policy.bounds
    assert load_checkpoint(path)["counters"] == {"steps": 12}


def test_bad_checkpoint_files_error_clearly(tmp_path):
    policy = Policy.fresh(heterogeneous(), Architecture(hidden=(16, 8)))
    good = save_checkpoint(tmp_path / "good.pt", policy)
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "missing.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="truncated or is not a checkpoint"):
        load_checkpoint(truncated)
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="truncated or is not a checkpoint"):
        load_checkpoint(text)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(CheckpointError, match="not an abm-hetero checkpoint"):
        load_checkpoint(other)
    with pytest.raises(CheckpointError, match="another architecture"):
        policy_from_checkpoint(load_checkpoint(good), good, Architecture(hidden=(128, 128)))
    broken = load_checkpoint(good)
    broken["architecture"]["hidden"] = [32, 32]
    with pytest.raises(CheckpointError, match="do not fit its architecture"):
        policy_from_checkpoint(broken, good)
