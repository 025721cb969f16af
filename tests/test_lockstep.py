"""Markets in lockstep: several episodes per worker with one policy call per tick for all.

What holds exactly: a group of one is the plain run, bit for bit; each market draws its noise
from its own generator where ``decide`` draws it, so in a group of four the markets take the
paths they take alone (observations, rewards and links equal) and only the policy's outputs
differ, in the last bits of float32 (the batched forward pass rounds over more rows); a
training with a given ``markets_per_worker`` is the same on every backend.
"""

import numpy as np
import pytest
import torch
from golden.identity import trainer_fingerprint

from abm_hetero.learning.buffer import RolloutBuffer, compute_gae
from abm_hetero.learning.policy import Policy
from abm_hetero.training.lockstep import run_markets
from abm_hetero.training.rollouts import episode_groups, run_episodes
from abm_hetero.training.trainer import Trainer, TrainingSettings

torch.set_num_threads(1)

SMALL = dict(traders=40, episode_ticks=80, warmup_ticks=6)
SEEDS = [11, 12, 13, 14]
EXACT = ("obs", "gamma", "reward", "done", "next_index", "trader")
ROUNDED = ("raw", "logp", "value")


@pytest.fixture(scope="module")
def setup():
    settings = TrainingSettings.from_dict(SMALL)
    policy = Policy.fresh(settings.traits, settings.architecture, seed=1)
    alone = [run_episodes(settings, policy, [seed], True, False, True)[0] for seed in SEEDS]
    return settings, policy, alone


def test_a_group_of_one_is_the_plain_run_bit_for_bit(setup):
    settings, policy, alone = setup
    buffer = RolloutBuffer(settings.architecture.obs_dim, settings.architecture.act_dim)
    (model,) = run_markets([settings.episode_settings(SEEDS[0])], policy, [buffer],
                           settings.warmup_ticks)
    assert buffer.size == alone[0].size > 0
    for name in RolloutBuffer.FIELDS:
        assert np.array_equal(getattr(buffer, name)[:buffer.size], alone[0].transitions[name])


def test_four_markets_in_lockstep_take_the_paths_they_take_alone(setup):
    settings, policy, alone = setup
    together = run_episodes(settings, policy, SEEDS, True, False, True)
    for one, many in zip(alone, together):
        assert one.size == many.size > 0
        assert one.decisions == many.decisions
        assert one.reward_sum == many.reward_sum
        np.testing.assert_array_equal(one.returns, many.returns)
        for name in EXACT:
            np.testing.assert_array_equal(one.transitions[name], many.transitions[name])
        for name in ROUNDED:  # float32 rounding of the batched forward pass
            np.testing.assert_allclose(one.transitions[name], many.transitions[name],
                                       rtol=1e-5, atol=1e-6)


def test_deterministic_markets_in_lockstep_score_as_alone(setup):
    settings, policy, _ = setup
    alone = [run_episodes(settings, policy, [s], False, True, True)[0] for s in SEEDS[:2]]
    together = run_episodes(settings, policy, SEEDS[:2], False, True, True)
    for one, many in zip(alone, together):
        assert one.decisions == many.decisions
        assert one.reward_sum == pytest.approx(many.reward_sum, rel=1e-9)


def test_markets_in_lockstep_need_equal_ticks(setup):
    settings, policy, _ = setup
    markets = [settings.episode_settings(1), settings.episode_settings(2).replace(ticks=50)]
    with pytest.raises(ValueError, match="equal ticks"):
        run_markets(markets, policy, [None, None])


def test_episode_groups_are_cut_in_order():
    assert episode_groups([5, 6, 7, 8, 9], 2) == [[5, 6], [7, 8], [9]]
    assert episode_groups([5, 6], 4) == [[5, 6]]
    assert episode_groups([5, 6, 7], 1) == [[5], [6], [7]]


def test_gae_by_chain_levels_equals_a_backward_loop():
    rng = np.random.default_rng(0)
    n, traders = 3000, rng.integers(0, 40, 3000)
    nxt, last = np.full(n, -1), {}
    for i in range(n - 1, -1, -1):
        nxt[i], last[traders[i]] = last.get(traders[i], -1), i
    done = (nxt < 0) & (rng.random(n) < 0.8)
    reward, value = rng.standard_normal(n), rng.standard_normal(n)
    gamma, lam = rng.uniform(0.9, 0.999, n), 0.95
    adv, returns = compute_gae(reward, value, gamma, done, nxt, lam)
    cont = ~done & (nxt >= 0)
    expected = [0.0] * n
    for i in range(n - 1, -1, -1):
        j = nxt[i]
        nv = value[j] if j >= 0 else 0.0
        delta = reward[i] + gamma[i] * nv * cont[i] - value[i]
        expected[i] = delta + (gamma[i] * lam * cont[i] * expected[j] if j >= 0 else 0.0)
    assert np.array_equal(adv, np.array(expected))
    assert np.array_equal(returns, adv + value)
    empty = np.zeros(0)
    assert compute_gae(empty, empty, empty, empty.astype(bool), empty.astype(int), lam)[0].size == 0


LOCKSTEP = dict(traders=30, episode_ticks=60, warmup_ticks=5, episodes_per_rollout=4,
                markets_per_worker=2, hidden=[16, 16], eval_interval=2_000, eval_episodes=3,
                total_steps=2_000, seed=3)


def train(folder, **backend) -> str:
    trainer = Trainer(TrainingSettings.from_dict(LOCKSTEP), folder, progress=False, **backend)
    trainer.train()
    return trainer_fingerprint(trainer)


def test_a_lockstep_training_is_the_same_in_one_process_and_on_two_workers(tmp_path):
    assert train(tmp_path / "s") == train(tmp_path / "l", backend="local", workers=2)
