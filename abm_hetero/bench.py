"""Speed measurements behind ``benchmarks/`` and ``abm-hetero bench``.

Each function returns plain numbers. Importing this module loads torch (the training and
learning-trader measurements need it). Timings use the best of ``repeats`` runs of the same
work, because these machines are shared and the minimum is the least noisy estimate.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable

import numpy as np
import torch

from .agents.learning import load_named_policy
from .defaults import TRADERS
from .errors import AbmHeteroError
from .experiments import run_market, scenario_settings
from .market import OrderBook
from .model import MarketModel
from .training import Trainer, TrainingSettings


def best_time(fn: Callable[[], object], repeats: int = 3) -> float:
    """Smallest wall time of ``repeats`` calls of ``fn``."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def recorded_order_stream(population: str = "fcn", traders: int = TRADERS,
                          ticks: int = 1000, seed: int = 0):
    """The orders of a simulated market, for replaying into a bare book.

    Returns a DataFrame with ``time, trader, side (+1/-1), price_ticks, volume, ttl``.
    """
    model = run_market(scenario_settings(population, seed, traders=traders, ticks=ticks))
    orders = model.exchange.orders.to_frame()
    tick = model.settings.market.tick_size
    orders["price_ticks"] = np.rint(orders["price"] / tick).astype(np.int64)
    return orders[["time", "trader", "side", "price_ticks", "volume", "ttl"]]


def order_book_throughput(orders, repeats: int = 3) -> dict[str, float]:
    """Orders per second of the bare order book replaying ``orders`` (expiry included)."""
    rows = list(orders.itertuples(index=False, name=None))

    def replay() -> None:
        book = OrderBook()
        now = -1
        for t, trader, side, price, volume, ttl in rows:
            if t != now:
                book.expire(t)
                now = t
            book.submit(trader, side, price, volume, t, None if ttl < 0 else ttl)

    seconds = best_time(replay, repeats)
    return {"orders": len(rows), "seconds": seconds, "orders_per_s": len(rows) / seconds}


def market_ticks_per_second(population: str = "fcn", traders: int = TRADERS, ticks: int = 500,
                            batched: bool = True, repeats: int = 3) -> dict[str, float]:
    """Ticks (and orders) per second of a whole ``MarketModel`` run, data collection included."""
    settings = scenario_settings(population, 0, traders=traders, ticks=ticks, batched=batched)
    counts = {}

    def run() -> None:
        model = MarketModel(settings).run()
        counts["orders"] = len(model.exchange.orders)

    seconds = best_time(run, repeats)
    return {
        "traders": traders, "ticks": ticks, "seconds": seconds, "ticks_per_s": ticks / seconds,
        "orders_per_s": counts["orders"] / seconds,
    }


def learning_decisions_per_second(traders: int = TRADERS, ticks: int = 300, batched: bool = True,
                                  policy: str = "heterogeneous", repeats: int = 3
                                  ) -> dict[str, float]:
    """Decisions per second of a market of learning traders (one policy call per tick when
    batched, one per trader otherwise)."""
    torch.set_num_threads(1)
    settings = scenario_settings("learned-heterogeneous", 0, traders=traders, ticks=ticks,
                                 policy=policy, batched=batched)
    counts = {}

    def run() -> None:
        model = MarketModel(settings).run()
        counts["decisions"] = model.groups[0].decisions

    seconds = best_time(run, repeats)
    return {"traders": traders, "ticks": ticks, "seconds": seconds,
            "decisions_per_s": counts["decisions"] / seconds}


def training_steps_per_second(steps: int = 60_000, traders: int = TRADERS,
                              backend: str = "sequential", workers: int | None = None,
                              address: str | None = None) -> dict[str, float]:
    """Environment steps per second of a training run, PPO updates and checkpoints included,
    with episodes on ``backend``: the steady rate of a long run, so the workers start before
    the clock does and stop after it (``start_seconds``: how long they took to start)."""
    settings = TrainingSettings.from_dict({"total_steps": steps, "traders": traders,
                                           "eval_interval": 10**12})
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(settings, tmp, progress=False, backend=backend, workers=workers,
                          address=address)
        start = time.perf_counter()
        trainer.runner.start()
        started = time.perf_counter()
        trainer.train(close_workers=False)
        seconds = time.perf_counter() - started
        trainer.close()
    return {"steps": trainer.steps, "seconds": seconds, "steps_per_s": trainer.steps / seconds,
            "start_seconds": started - start}


def training_scaling(steps: int = 60_000, ray: bool = True, progress=print
                     ) -> dict[str, float]:
    """Training steps per second in one process, on 1 and 2 local workers and on a local Ray
    of 2 CPUs, measured one after the other in the same call (the keys of ``abm-hetero
    bench``)."""
    runs = [("train_steps_per_s", "sequential", None, "in one process"),
            ("train_steps_per_s_workers_1", "local", 1, "1 local worker"),
            ("train_steps_per_s_workers_2", "local", 2, "2 local workers")]
    if ray:
        runs.append(("train_steps_per_s_ray_2", "ray", 2, "Ray with 2 CPUs"))
    results: dict[str, float] = {}
    for key, backend, workers, words in runs:
        try:
            train = training_steps_per_second(steps, backend=backend, workers=workers)
        except AbmHeteroError as exc:  # Ray is not installed
            progress(f"training, {words}: skipped ({exc})")
            continue
        results[key] = train["steps_per_s"]
        progress(f"training, {TRADERS} learning traders, {words}, PPO updates included: "
                 f"{train['steps_per_s']:,.0f} steps/s")
    if "train_steps_per_s_workers_1" in results:
        results["train_speedup_workers_2"] = (results["train_steps_per_s_workers_2"]
                                              / results["train_steps_per_s_workers_1"])
        progress(f"training, 2 local workers against 1: "
                 f"{results['train_speedup_workers_2']:.2f}x")
    return results


def environment_overhead(traders: int = TRADERS, ticks: int = 300, repeats: int = 3
                         ) -> dict[str, float]:
    """Steps per second of the PettingZoo environment against ticks per second of the
    package's own batched loop, on the same market (200 learning traders by default). In the
    environment the shipped policy acts from outside: one batched call per step on the active
    agents' observations, as a learner would."""
    from .envs.parallel import MarketParallelEnv  # reason: the rl extra may be missing

    torch.set_num_threads(1)
    settings = scenario_settings("learned-heterogeneous", 0, traders=traders, ticks=ticks)
    policy = load_named_policy("heterogeneous")

    def own() -> None:
        MarketModel(settings).run()

    def through_env() -> None:
        env = MarketParallelEnv(settings)
        obs, infos = env.reset()
        rng = np.random.default_rng(0)
        while env.agents:
            active = [a for a in env.agents if infos[a]["active"]]
            out = policy.act(np.stack([obs[a] for a in active]),
                             rng.standard_normal((len(active), 2)))
            obs, _, _, _, infos = env.step(dict(zip(active, out["action"])))

    own_seconds = best_time(own, repeats)
    env_seconds = best_time(through_env, repeats)
    return {"own_ticks_per_s": ticks / own_seconds, "env_steps_per_s": ticks / env_seconds,
            "env_overhead": env_seconds / own_seconds}


def run_all(quick: bool = False, progress=print) -> dict[str, float]:
    """The figures of ``abm-hetero bench``: simulation and training speed, and the order book."""
    scale = 0.2 if quick else 1.0
    repeats = 1 if quick else 3
    ticks = max(20, int(300 * scale))
    results: dict[str, float] = {}
    batched = learning_decisions_per_second(ticks=ticks, repeats=repeats)
    results["sim_decisions_per_s_batched"] = batched["decisions_per_s"]
    progress(f"simulation, {TRADERS} learning traders, batched: "
             f"{batched['decisions_per_s']:,.0f} decisions/s")
    single = learning_decisions_per_second(ticks=max(10, ticks // 5), batched=False,
                                           repeats=repeats)
    results["sim_decisions_per_s_per_trader"] = single["decisions_per_s"]
    progress(f"simulation, {TRADERS} learning traders, per-trader calls: "
             f"{single['decisions_per_s']:,.0f} decisions/s")
    results.update(training_scaling(steps=max(12_000, int(60_000 * scale)), ray=not quick,
                                    progress=progress))
    fcn = market_ticks_per_second("fcn", traders=TRADERS, ticks=max(50, int(500 * scale)),
                                  repeats=repeats)
    results["fcn_200_ticks_per_s"] = fcn["ticks_per_s"]
    progress(f"simulation, {TRADERS} FCN traders: {fcn['ticks_per_s']:,.0f} ticks/s")
    book = order_book_throughput(recorded_order_stream(ticks=max(100, int(1000 * scale))),
                                 repeats=repeats)
    results["book_orders_per_s"] = book["orders_per_s"]
    progress(f"order book, recorded FCN stream: {book['orders_per_s']:,.0f} orders/s")
    try:
        env = environment_overhead(ticks=max(50, int(300 * scale)), repeats=repeats)
    except ModuleNotFoundError as exc:  # the rl extra is not installed
        progress(f"PettingZoo environment: skipped ({exc.name} is not installed: pip install "
                 "'abm-hetero[rl]')")
    else:
        results["env_steps_per_s_pettingzoo"] = env["env_steps_per_s"]
        results["env_own_ticks_per_s"] = env["own_ticks_per_s"]
        results["env_overhead"] = env["env_overhead"]
        progress(f"PettingZoo environment, {TRADERS} learning traders: "
                 f"{env['env_steps_per_s']:,.0f} steps/s against {env['own_ticks_per_s']:,.0f} "
                 f"ticks/s of the package's own loop ({env['env_overhead']:.2f}x the time)")
    return results
