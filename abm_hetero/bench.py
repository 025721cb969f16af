"""Speed measurements behind ``benchmarks/`` and ``abm-hetero bench``.

Each measurement returns plain numbers for one market core (``Settings.core``: the compiled
core, or the pure-Python core it is tested against). :func:`run_all` repeats every measurement
``runs`` times, alternating the cores when it compares them, and reports the median and the
range of each figure: these machines are shared, and single timings swing by half, so a figure
is only as good as its spread, and a ratio is only meaningful between two cores measured in the
same run. Importing this module loads torch (the training and learning-trader measurements
need it).
"""

from __future__ import annotations

import dataclasses
import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .agents.learning import load_named_policy
from .defaults import CORES, TRADERS
from .errors import AbmHeteroError
from .experiments import run_market, scenario_settings
from .market import CompiledOrderBook, OrderBook
from .market.compiled.replay import replay
from .model import MarketModel
from .training import Trainer, TrainingSettings

#: the JSON keys of the pure-Python core's figures start with this
PYTHON_CORE = "python_core_"


def best_time(fn: Callable[[], object], repeats: int = 1) -> float:
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


def new_book(core: str = "compiled"):
    """An empty order book of the ``core`` (the same interface on both)."""
    if core == "python":
        return OrderBook()
    return CompiledOrderBook()


def submit_one_by_one(book, rows) -> None:
    """Feed recorded orders ``(time, trader, side, price_ticks, volume, ttl)`` to ``book`` with
    one call per order, as a user's own loop would, expiring stale orders at each new tick."""
    now = -1
    for t, trader, side, price, volume, ttl in rows:
        if t != now:
            book.expire(t)
            now = t
        book.submit(trader, side, price, volume, t, None if ttl < 0 else ttl)


def order_book_throughput(orders, repeats: int = 1, core: str = "compiled"
                          ) -> dict[str, float]:
    """Orders per second of a bare order book of ``core`` replaying ``orders`` (expiry
    included), one call per order as a user's own loop would."""
    rows = list(orders.itertuples(index=False, name=None))
    seconds = best_time(lambda: submit_one_by_one(new_book(core), rows), repeats)
    return {"orders": len(rows), "seconds": seconds, "orders_per_s": len(rows) / seconds}


def market_ticks_per_second(population: str = "fcn", traders: int = TRADERS, ticks: int = 500,
                            batched: bool = True, repeats: int = 1, core: str = "compiled"
                            ) -> dict[str, float]:
    """Ticks (and orders) per second of a whole ``MarketModel`` run, data collection included."""
    settings = scenario_settings(population, 0, traders=traders, ticks=ticks, batched=batched)
    settings = settings.replace(core=core)
    counts = {}

    def run() -> None:
        model = MarketModel(settings).run()
        counts["orders"] = len(model.exchange.orders)

    seconds = best_time(run, repeats)
    return {
        "traders": traders, "ticks": ticks, "seconds": seconds, "ticks_per_s": ticks / seconds,
        "orders_per_s": counts["orders"] / seconds,
    }


def resident_mb() -> float:
    """This process's resident memory in MB (Linux ``/proc``; NaN elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * 4096 / 2**20
    except OSError:
        return float("nan")


def learning_decisions_per_second(traders: int = TRADERS, ticks: int = 300, batched: bool = True,
                                  policy: str = "heterogeneous", repeats: int = 1,
                                  core: str = "compiled") -> dict[str, float]:
    """Decisions per second of a market of learning traders (one policy call per tick when
    batched, one per trader otherwise), and the growth of resident memory over the run with
    the model kept (``memory_mb``)."""
    torch.set_num_threads(1)
    settings = scenario_settings("learned-heterogeneous", 0, traders=traders, ticks=ticks,
                                 policy=policy, batched=batched).replace(core=core)
    seconds, memory = float("inf"), 0.0
    for _ in range(repeats):
        gc.collect()  # outside the clock: a collection with torch loaded takes a while
        before = resident_mb()
        start = time.perf_counter()
        model = MarketModel(settings).run()
        elapsed = time.perf_counter() - start
        if elapsed < seconds:
            seconds, memory = elapsed, resident_mb() - before
        decisions = model.groups[0].decisions
        del model
    return {"traders": traders, "ticks": ticks, "seconds": seconds,
            "decisions_per_s": decisions / seconds, "memory_mb": memory}


def training_steps_per_second(steps: int = 60_000, traders: int = TRADERS,
                              backend: str = "sequential", workers: int | None = None,
                              address: str | None = None, core: str = "compiled"
                              ) -> dict[str, float]:
    """Environment steps per second of a training run, PPO updates and checkpoints included,
    with episodes on ``backend``: the steady rate of a long run, so the workers start before
    the clock does and stop after it (``start_seconds``: how long they took to start)."""
    settings = TrainingSettings.from_dict({"total_steps": steps, "traders": traders,
                                           "eval_interval": 10**12})
    settings = dataclasses.replace(settings, population=settings.population.replace(core=core))
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


def training_scaling(steps: int = 60_000, ray: bool = True, progress=None,
                     core: str = "compiled") -> dict[str, float]:
    """Training steps per second in one process, on 1 and 2 local workers and (``ray``) on a
    local Ray of 2 CPUs, measured one after the other in the same call, and the speed-up of 2
    workers over 1 (the keys of ``abm-hetero bench``). ``progress`` gets a line for a backend
    that is skipped (Ray not installed)."""
    runs = [("train_steps_per_s", "sequential", None),
            ("train_steps_per_s_workers_1", "local", 1),
            ("train_steps_per_s_workers_2", "local", 2)]
    if ray:
        runs.append(("train_steps_per_s_ray_2", "ray", 2))
    results: dict[str, float] = {}
    for key, backend, workers in runs:
        try:
            train = training_steps_per_second(steps, backend=backend, workers=workers,
                                              core=core)
        except AbmHeteroError as exc:  # Ray is not installed
            if progress is not None:
                progress(f"training on {backend}: skipped ({exc})")
            continue
        results[key] = train["steps_per_s"]
    results["train_speedup_workers_2"] = (results["train_steps_per_s_workers_2"]
                                          / results["train_steps_per_s_workers_1"])
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


def warm_up() -> None:
    """Load the compiled core's functions (from numba's cache, or compile them) with small
    markets of every kind the bench runs, so that no timing includes it."""
    torch.set_num_threads(1)
    for population in ("learned-heterogeneous", "fcn"):
        for batched in (True, False):
            MarketModel(scenario_settings(population, 0, traders=20, ticks=20,
                                          batched=batched)).run()


@dataclass(frozen=True)
class Figure:
    """One measurement of the bench: what it measures (``words``), and a function of the core
    that returns its figures by JSON key (the first is the headline)."""

    words: str
    unit: str
    measure: Callable[[str], dict[str, float]]
    #: measured on the pure-Python core too when the bench compares the cores
    compare: bool = True


def figures(quick: bool = False, progress=print) -> list[Figure]:
    """The measurements of ``abm-hetero bench`` (smaller workloads with ``quick``)."""
    scale = 0.2 if quick else 1.0
    ticks = max(20, int(300 * scale))
    stream = []

    def book(core: str) -> dict[str, float]:
        if not stream:  # recorded once; both cores replay the same orders
            stream.append(recorded_order_stream(ticks=max(100, int(1000 * scale))))
        return {"book_orders_per_s": order_book_throughput(stream[0], core=core)["orders_per_s"]}

    def book_in_one_call(core: str) -> dict[str, float]:
        if not stream:
            stream.append(recorded_order_stream(ticks=max(100, int(1000 * scale))))
        orders = stream[0]
        columns = [orders[c].to_numpy() for c in ("time", "trader", "side", "price_ticks",
                                                  "volume", "ttl")]
        replay(CompiledOrderBook(), *(c[:100] for c in columns))  # loads the compiled code
        start = time.perf_counter()
        replay(CompiledOrderBook(), *columns)
        return {"book_orders_per_s_one_call": len(orders) / (time.perf_counter() - start)}

    def environment(core: str) -> dict[str, float]:
        try:
            env = environment_overhead(ticks=max(50, int(300 * scale)), repeats=1)
        except ModuleNotFoundError as exc:  # the rl extra is not installed
            progress(f"PettingZoo environment: skipped ({exc.name} is not installed: pip "
                     "install 'abm-hetero[rl]')")
            return {}
        return {"env_steps_per_s_pettingzoo": env["env_steps_per_s"],
                "env_own_ticks_per_s": env["own_ticks_per_s"],
                "env_overhead": env["env_overhead"]}

    def large(core: str) -> dict[str, float]:
        run = learning_decisions_per_second(traders=2000, ticks=50 if quick else 2000,
                                            core=core)
        return {"sim_2000_decisions_per_s": run["decisions_per_s"],
                "sim_2000_memory_mb": run["memory_mb"]}

    return [
        Figure(f"simulation, {TRADERS} learning traders, batched", "decisions/s",
               lambda core: {"sim_decisions_per_s_batched": learning_decisions_per_second(
                   ticks=ticks, core=core)["decisions_per_s"]}),
        Figure(f"simulation, {TRADERS} learning traders, per-trader calls", "decisions/s",
               lambda core: {"sim_decisions_per_s_per_trader": learning_decisions_per_second(
                   ticks=max(10, ticks // 5), batched=False, core=core)["decisions_per_s"]}),
        Figure("simulation, 2,000 learning traders", "decisions/s", large),
        Figure(f"training, {TRADERS} learning traders, PPO updates included", "steps/s",
               lambda core: training_scaling(steps=max(12_000, int(60_000 * scale)),
                                             ray=not quick and core == "compiled",
                                             progress=progress, core=core)),
        Figure(f"simulation, {TRADERS} FCN traders", "ticks/s",
               lambda core: {"fcn_200_ticks_per_s": market_ticks_per_second(
                   "fcn", ticks=max(50, int(500 * scale)), core=core)["ticks_per_s"]}),
        Figure("order book alone, recorded FCN stream, a call per order", "orders/s", book),
        Figure("compiled order book alone, the same stream in one call", "orders/s",
               book_in_one_call, compare=False),
        Figure(f"PettingZoo environment, {TRADERS} learning traders", "steps/s", environment,
               compare=False),
    ]


#: the words and unit of each figure that is not the headline of its measurement
DETAILS = {
    "sim_2000_memory_mb": ("  resident memory growth, 2,000 learning traders", "MB"),
    "train_steps_per_s_workers_1": ("  1 local worker", "steps/s"),
    "train_steps_per_s_workers_2": ("  2 local workers", "steps/s"),
    "train_steps_per_s_ray_2": ("  Ray with 2 CPUs", "steps/s"),
    "train_speedup_workers_2": ("  2 local workers against 1", "x"),
    "env_own_ticks_per_s": ("  the package's own loop on the same market", "ticks/s"),
    "env_overhead": ("  the environment's time against the own loop's", "x"),
}


def summarise(values: list[float]) -> tuple[float, float, float]:
    """Median, smallest and largest of one figure's runs."""
    return statistics.median(values), min(values), max(values)


def run_all(quick: bool = False, runs: int | None = None, compare: bool = False,
            progress=print) -> dict[str, object]:
    """The figures of ``abm-hetero bench``: every measurement ``runs`` times (default 5, 1 with
    ``quick``), and with ``compare`` on the pure-Python core too, the two cores alternating.

    Returns each figure's median under its key, with ``<key>_range`` ([smallest, largest])
    and ``<key>_runs``; the pure-Python core's figures carry the prefix ``python_core_``, and
    ``<key>_vs_python_core`` is the median (and ``_range``) of the per-run ratios.
    """
    runs = (1 if quick else 5) if runs is None else int(runs)
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    cores = CORES if compare else ("compiled",)
    warm_up()
    measured: dict[str, list[float]] = {}
    rows: dict[str, tuple[str, str]] = {}  # key: words and unit, in the order measured
    plan = figures(quick, progress)
    for run in range(runs):
        progress(f"run {run + 1} of {runs} ...")
        for figure in plan:
            for core in cores if figure.compare else ("compiled",):
                prefix = PYTHON_CORE if core == "python" else ""
                for key, value in figure.measure(core).items():
                    measured.setdefault(prefix + key, []).append(float(value))
                    rows.setdefault(key, DETAILS.get(key, (figure.words, figure.unit)))
    results: dict[str, object] = {}
    for key, values in measured.items():
        median, low, high = summarise(values)
        results[key] = median
        results[f"{key}_range"] = [low, high]
        results[f"{key}_runs"] = values
        other = measured.get(PYTHON_CORE + key)
        if other is not None and len(other) == len(values):
            ratio = summarise([a / b for a, b in zip(values, other)])
            results[f"{key}_vs_python_core"] = ratio[0]
            results[f"{key}_vs_python_core_range"] = [ratio[1], ratio[2]]
    progress(report(results, runs, compare, rows))
    return results


def report(results: dict[str, object], runs: int, compare: bool,
           rows: dict[str, tuple[str, str]]) -> str:
    """The bench's table: each figure's median and range, and against the pure-Python core
    (``rows``: the words and unit of each key, in the order to print)."""
    lines = [f"median (range) of {runs} run{'s' if runs > 1 else ''}"
             + (", compiled core against the pure-Python core" if compare else "")]
    for key, (text, unit) in rows.items():
        low, high = results[f"{key}_range"]
        line = f"{text}: {_number(results[key])} {unit} ({_number(low)}-{_number(high)})"
        if f"{key}_vs_python_core" in results:
            p_low, p_high = results[f"{PYTHON_CORE}{key}_range"]
            r_low, r_high = results[f"{key}_vs_python_core_range"]
            line += (f"; pure-Python core {_number(results[PYTHON_CORE + key])} "
                     f"({_number(p_low)}-{_number(p_high)}); ratio "
                     f"{results[key + '_vs_python_core']:.2f}x ({r_low:.2f}-{r_high:.2f})")
        lines.append(line)
    return "\n".join(lines)


def _number(x: float) -> str:
    """A figure for the table: whole numbers with thousands separators, small ones to 2
    decimals."""
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.2f}"
