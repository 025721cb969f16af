"""The market as environments for other learners: PettingZoo's and Gymnasium's own checkers,
seeding, rewards as the package computes them, and bad actions."""

import numpy as np
import pytest

pettingzoo = pytest.importorskip("pettingzoo")
gym = pytest.importorskip("gymnasium")

from pettingzoo.test import parallel_api_test, parallel_seed_test  # noqa: E402

from abm_hetero.envs.parallel import MarketParallelEnv  # noqa: E402
from abm_hetero.envs.single import ENV_ID, TraderEnv  # noqa: E402
from abm_hetero.experiments import scenario_settings  # noqa: E402
from abm_hetero.scenarios import TraderGroupSettings  # noqa: E402


def small_env(**changes):
    return MarketParallelEnv(traders=30, ticks=50, **changes)


def play(env, seed, steps=None, action_seed=0):
    """Run an episode with seeded random actions; what it observed and earned."""
    obs, infos = env.reset(seed=seed)
    rng = np.random.default_rng(action_seed)
    trace, total = [], dict.fromkeys(env.possible_agents, 0.0)
    while env.agents and (steps is None or len(trace) < steps):
        actions = {a: rng.uniform(-1, 1, 2).astype(np.float32) for a in env.agents}
        obs, rewards, terms, truncs, infos = env.step(actions)
        trace.append((sorted(obs.items())[:3], sorted(rewards.items())[:3]))
        for a, r in rewards.items():
            total[a] += r
    return trace, total


def test_pettingzoo_parallel_api_test():
    parallel_api_test(small_env(), num_cycles=100)


def test_pettingzoo_seed_test():
    parallel_seed_test(small_env)


def test_same_seed_same_episode_and_truncation_at_the_end():
    env = small_env()
    first, total = play(env, seed=5)
    second, _ = play(small_env(), seed=5)
    assert len(first) == len(second)
    for (o1, r1), (o2, r2) in zip(first, second):
        assert r1 == r2
        assert all(a == b and np.array_equal(x, y) for (a, x), (b, y) in zip(o1, o2))
    other, _ = play(small_env(), seed=6)
    assert [r for _, r in other] != [r for _, r in first]
    assert env.agents == [] and any(v != 0 for v in total.values())


def test_rewards_are_the_packages_own():
    env = small_env()
    _, total = play(env, seed=2)
    group = env.market.model.groups[0]
    # every reward the group computed reached an agent, the final settlement included
    assert sum(total.values()) == pytest.approx(group.reward_sum, rel=1e-9, abs=1e-12)


def test_inactive_agents_actions_are_ignored():
    env = small_env()
    obs, infos = env.reset(seed=1)
    active = [a for a in env.agents if infos[a]["active"]]
    inactive = [a for a in env.agents if not infos[a]["active"]]
    assert active and inactive
    env.step({a: np.zeros(2, np.float32) for a in active})  # inactive agents left out: fine
    orders = env.market.model.order_frame()
    rows = {int(a.split("_")[1]) for a in inactive}
    assert not set(orders["trader"]) & rows - {int(a.split("_")[1]) for a in active}


@pytest.mark.parametrize("bad, words", [
    (np.zeros(3), "shape"), (np.array([np.nan, 0.0]), "finite"), ("buy", "numbers"),
])
def test_bad_actions_get_a_clear_error(bad, words):
    env = small_env()
    obs, infos = env.reset(seed=0)
    actions = {a: np.zeros(2, np.float32) for a in env.agents}
    first = next(a for a in env.agents if infos[a]["active"])
    actions[first] = bad
    with pytest.raises(ValueError, match=words):
        env.step(actions)
    single = TraderEnv(traders=20, ticks=60)
    single.reset(seed=0)
    with pytest.raises(ValueError, match=words):
        single.step(bad)


def test_out_of_bounds_actions_are_clipped():
    env = TraderEnv(traders=20, ticks=60)
    env.reset(seed=0)
    env.step(np.array([-5.0, 5.0]))  # cross as far as allowed, buy the most
    orders = env.market.model.order_frame()
    mine = orders[orders["trader"] == 19]
    assert len(mine) == 1 and mine["volume"].iloc[0] == 20 and mine["side"].iloc[0] == "buy"


def test_a_missing_action_for_an_active_agent_is_an_error():
    env = small_env()
    obs, infos = env.reset(seed=0)
    with pytest.raises(ValueError, match="no action for the active agent"):
        env.step({})


def test_background_traders_of_any_kind():
    settings = scenario_settings("fcn", 0, traders=20, ticks=40)
    learners = scenario_settings("learned-heterogeneous", 0, traders=10, ticks=40).traders
    mixed = settings.replace(traders=[*settings.traders, *learners])
    env = MarketParallelEnv(mixed)
    assert len(env.possible_agents) == 10
    play(env, seed=0)
    assert isinstance(mixed.traders[0], TraderGroupSettings)


def test_gymnasium_and_sb3_checkers():
    from gymnasium.utils.env_checker import check_env

    check_env(gym.make(ENV_ID, traders=30, ticks=80).unwrapped)
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    sb3_check_env(TraderEnv(traders=30, ticks=80))


def test_single_trader_steps_are_decisions_and_traits_are_options():
    env = TraderEnv(background="zero-intelligence", traders=30, ticks=200, alpha=1.0)
    obs, info = env.reset(seed=3, options={"gamma": 0.8, "sigma": 0.0})
    me = env.market.model.groups[-1]
    assert (me.traits.alpha, me.traits.gamma, me.traits.sigma) == (1.0, 0.8, 0.0)
    ticks = [info["tick"]]
    total, truncated = 0.0, False
    while not truncated:
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert not terminated and obs.shape == (11,) and np.isfinite(reward)
        ticks.append(info["tick"])
        total += reward
    assert np.all(np.diff(ticks) >= 1) and ticks[-1] == 200
    assert total == pytest.approx(me.reward_sum)
    with pytest.raises(ValueError, match="unknown option"):
        env.reset(options={"beta": 1})
    with pytest.raises(ValueError, match="background must be one of"):
        TraderEnv(background="robots")
