"""What a run promises to repeat, checked three ways (docs/guarantees.md, "Same settings, same
run"):

* **on every machine, byte for byte**: the rule-based scenarios (``RULE_BASED``). Their
  fingerprints are recorded in ``identity.json`` and compared on any CPU, Python and numpy.
* **on one machine, byte for byte**: learned scenarios and training go through torch's float
  kernels, which differ between CPUs; the tests run them twice and compare the two runs, never
  a hash recorded elsewhere.
* **on every machine, statistically**: summaries of the learned runs (``scenario_summary``,
  ``training_summary``) are recorded with a tolerance derived from the spread they showed
  under emulated CPUs (torch, MKL, oneDNN, numpy and glibc kernels restricted to older
  instruction sets) and under last-bit changes of the policy's weights.

Record again (``python tests/golden/identity.py --record``, a few minutes) only when a change
of behaviour is intended, and say so in the commit. ``--check`` compares this machine with the
record and runs the same-machine checks (the emulated-CPU test runs it under restricted kernels).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

GOLDEN = Path(__file__).with_name("identity.json")
SCENARIO_SIZE = dict(traders=60, ticks=150, seed=5)
RULE_BASED = ("fcn", "zero-intelligence")
LEARNED = ("learned-heterogeneous", "learned-homogeneous")
TRAINING = dict(traders=30, episode_ticks=50, warmup_ticks=5, episodes_per_rollout=2,
                hidden=[16, 16], eval_interval=2_000, eval_episodes=1, total_steps=4_000,
                seed=3)
#: older instruction sets for every math library the package goes through; numpy's dispatch
#: names are looked up at run time (they differ between numpy versions)
OLDER_CPU = {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
             "ONEDNN_MAX_CPU_ISA": "SSE41", "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2,-FMA"}
#: the emulated CPUs the record's tolerances are derived from (with :func:`older_cpu`, all at once)
EMULATED_CPUS = {
    "native": {},
    "aten-default": {"ATEN_CPU_CAPABILITY": "default"},
    "aten-avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "mkl-sse4.2": {"MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "ONEDNN_MAX_CPU_ISA": "SSE41"},
    "glibc-no-fma": {"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2,-FMA"},
}
#: the market seeds a learned scenario's summary averages over
SUMMARY_SEEDS = (5, 6, 7, 8, 9)
#: the training seeds whose spread sets the training summary's noise
TRAINING_SEEDS = (3, 4, 5, 6, 7)
#: a tolerance is at least this many times the seed-to-seed noise: 4 standard errors of a
#: 5-seed mean, 3 standard deviations of one training
NOISE_MULTIPLE = {"learned-heterogeneous": 4.0, "learned-homogeneous": 4.0, "training": 3.0}
#: last-bit changes of the policy's weights (another CPU's kernels round differently)
PERTURBATIONS = 6


def platform_id() -> dict[str, str]:
    import pandas

    return {"python": platform.python_version(), "machine": platform.machine(),
            "numpy": np.__version__, "pandas": pandas.__version__}


def older_numpy_kernels() -> dict[str, str]:
    """``NPY_DISABLE_CPU_FEATURES`` naming this numpy's AVX-512 dispatch targets."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__
    except ImportError:  # numpy 1.x
        from numpy.core._multiarray_umath import __cpu_dispatch__
    wide = [name for name in __cpu_dispatch__ if "512" in name or name == "X86_V4"]
    return {"NPY_DISABLE_CPU_FEATURES": " ".join(wide)} if wide else {}


def older_cpu() -> dict[str, str]:
    """The environment that holds every math library to older instruction sets."""
    return {**OLDER_CPU, **older_numpy_kernels()}


def frames_digest(frames) -> str:
    """Hash of DataFrames by their raw values (not their text, which depends on pandas)."""
    h = hashlib.sha256()
    for frame in frames:
        h.update(repr(list(frame.columns)).encode())
        h.update(np.asarray(frame.index).astype(np.int64).tobytes())
        for column in frame.columns:
            values = frame[column].to_numpy()
            if values.dtype.kind in "biuf":
                h.update(values.astype(np.float64).tobytes())
            else:
                h.update("\x1f".join(map(str, values)).encode())
    return h.hexdigest()


def run_scenario(name: str, perturb: int | None = None, **size):
    """A finished scenario run; ``perturb``: a copy of the learned policy with its weights
    moved by one unit in the last place, at random (seeded), acts instead of the shipped one."""
    from abm_hetero import MarketModel, scenario

    settings = scenario(name, **{**SCENARIO_SIZE, **size})
    policy = None
    if name in LEARNED:
        import torch

        torch.set_num_threads(1)
        if perturb is not None:
            policy = perturbed_policy(settings, perturb)
    model = MarketModel(settings, policy=policy)
    model.run()
    model.finish()
    return model


def perturbed_policy(settings, seed: int):
    """The scenario's shipped policy with each weight moved up, down or not at all by one unit
    in the last place (float32), as another CPU's kernels might round it."""
    import copy

    import torch

    from abm_hetero.agents.learning import load_named_policy

    (group,) = [g for g in settings.traders if g.kind == "learning"]
    policy = copy.deepcopy(load_named_policy(group.params.policy))
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for p in policy.net.parameters():
            step = torch.as_tensor(rng.integers(-1, 2, size=tuple(p.shape)))
            p.copy_(torch.where(step == 0, p, torch.nextafter(p, step * torch.inf)))
    return policy


def scenario_fingerprint(name: str) -> str:
    """Hash of every output table of one scenario run (market, traders, trades, orders)."""
    model = run_scenario(name)
    return frames_digest((model.market_frame(), model.trader_frame(), model.trade_frame(),
                          model.order_frame()))


def scenario_statistics(name: str, seed: int, perturb: int | None = None
                         ) -> dict[str, float]:
    """Statistics of one scenario run: the tick returns' standard deviation, the volume, and
    the distance of the price from the fundamental."""
    from abm_hetero.market import raw_log_returns
    model = run_scenario(name, perturb, seed=seed)
    market = model.market_frame()
    mid = market["mid"].to_numpy(dtype=float)
    returns = raw_log_returns(mid[np.isfinite(mid)])
    gap = np.log(market["last_price"] / market["fundamental"]).dropna()
    return {"return_sd_bp": float(returns.std() * 1e4),
            "volume_per_tick": float(market["volume"].mean()),
            "mean_abs_gap_bp": float(gap.abs().mean() * 1e4)}


def scenario_summary(name: str, perturb: int | None = None) -> dict[str, float]:
    """:func:`scenario_statistics` averaged over ``SUMMARY_SEEDS``: another CPU should
    reproduce it within tolerance, even where its rounding sends the markets elsewhere."""
    runs = [scenario_statistics(name, seed, perturb) for seed in SUMMARY_SEEDS]
    return {stat: float(np.mean([r[stat] for r in runs])) for stat in runs[0]}


def _train(folder, seed: int = TRAINING["seed"], **backend):
    from abm_hetero.training.trainer import Trainer, TrainingSettings

    settings = TrainingSettings.from_dict({**TRAINING, "seed": seed})
    trainer = Trainer(settings, folder, progress=False, **backend)
    trainer.train()
    return trainer


def trainer_fingerprint(trainer) -> str:
    """Hash of a finished training: its weights and its metrics without timings."""
    import pandas as pd

    h = hashlib.sha256()
    state = trainer.policy.net.state_dict()
    for key in sorted(state):
        h.update(key.encode())
        h.update(state[key].numpy().tobytes())
    metrics = pd.read_csv(trainer.out / "metrics.csv").drop(columns=["seconds", "steps_per_s"])
    h.update(frames_digest([metrics]).encode())
    return h.hexdigest()


def training_fingerprint(**backend) -> str:
    """Hash of a short training run (``backend``: the trainer's backend, workers, address and
    update threads)."""
    with tempfile.TemporaryDirectory() as tmp:
        return trainer_fingerprint(_train(tmp, **backend))


def training_summary(seed: int = TRAINING["seed"]) -> dict[str, float]:
    """Statistics of the short training that another CPU should reproduce within tolerance."""
    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        trainer = _train(tmp, seed=seed)
        metrics = pd.read_csv(trainer.out / "metrics.csv")
    return {"train_reward": float(metrics["train_reward"].mean()),
            "eval_reward": float(metrics["eval_reward"].dropna().iloc[-1])}


def summaries(perturb: int | None = None) -> dict[str, dict[str, float]]:
    out = {name: scenario_summary(name, perturb) for name in LEARNED}
    if perturb is None:
        out["training"] = training_summary()
    return out


def within(summary: dict[str, dict[str, float]], record: dict) -> list[str]:
    """The recorded statistics that ``summary`` misses by more than their tolerance."""
    misses = []
    for run, stats in record["summaries"].items():
        for stat, value in stats.items():
            tol = record["tolerances"][run][stat]
            got = summary[run][stat]
            if not abs(got - value) <= tol:
                misses.append(f"{run}.{stat}: {got:.6g}, recorded {value:.6g} +- {tol:.3g}")
    return misses


# ---------------------------------------------------------------------- record and check

def _in_subprocess(env: dict[str, str], *args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], env={**os.environ, **env},
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def seed_noise() -> dict[str, dict[str, float]]:
    """How much each summary moves from seed to seed: the standard error of a learned
    scenario's mean over ``SUMMARY_SEEDS`` (from those seeds' spread), and the standard
    deviation of the training summary over ``TRAINING_SEEDS``."""
    out = {}
    for name in LEARNED:
        runs = [scenario_statistics(name, seed) for seed in SUMMARY_SEEDS]
        out[name] = {stat: float(np.std([r[stat] for r in runs], ddof=1)
                                 / np.sqrt(len(runs))) for stat in runs[0]}
    runs = [training_summary(seed) for seed in TRAINING_SEEDS]
    out["training"] = {stat: float(np.std([r[stat] for r in runs], ddof=1))
                       for stat in runs[0]}
    return out


def record() -> dict:
    """Fingerprints of the rule-based scenarios, and summaries of the learned runs with
    tolerances. A tolerance is the larger of three times the largest deviation seen under the
    emulated CPUs and the weight perturbations, and ``NOISE_MULTIPLE`` times the summary's
    seed-to-seed noise (another CPU may send the markets elsewhere, as another seed would)."""
    runs = {}
    for cpu, env in {**EMULATED_CPUS, "older-cpu": older_cpu()}.items():
        runs[cpu] = _in_subprocess(env, "--summaries")
        print(f"summaries on {cpu}: {runs[cpu]}", file=sys.stderr)
    for k in range(PERTURBATIONS):
        runs[f"perturbed-{k}"] = summaries(perturb=k)
    base = runs["native"]
    noise = seed_noise()
    deviation = {run: {stat: max(abs(r[run][stat] - value) for r in runs.values() if run in r)
                       for stat, value in stats.items()} for run, stats in base.items()}
    tolerances = {run: {stat: max(3 * deviation[run][stat],
                                  NOISE_MULTIPLE[run] * noise[run][stat])
                        for stat in stats} for run, stats in base.items()}
    return {"platform": platform_id(),
            "portable": {name: scenario_fingerprint(name) for name in RULE_BASED},
            "summaries": base, "tolerances": tolerances, "largest_deviation": deviation,
            "seed_noise": noise, "emulated": runs}


def check() -> dict:
    """Every promise, on this machine: the portable fingerprints, learned runs and training
    repeated twice, two workers against one process, and the summaries within tolerance."""
    recorded = json.loads(GOLDEN.read_text())
    out = {"portable": {name: scenario_fingerprint(name) == recorded["portable"][name]
                        for name in RULE_BASED}}
    out["learned_repeat"] = {name: scenario_fingerprint(name) == scenario_fingerprint(name)
                             for name in LEARNED}
    with tempfile.TemporaryDirectory() as tmp:
        sequential = trainer_fingerprint(_train(Path(tmp) / "s", update_threads=2))
        local = trainer_fingerprint(_train(Path(tmp) / "l", backend="local", workers=2,
                                           update_threads=2))
    out["training_backends"] = sequential == local
    out["summary_misses"] = within(summaries(), recorded)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--record", action="store_true", help="write identity.json")
    group.add_argument("--check", action="store_true", help="check every promise here")
    group.add_argument("--summaries", action="store_true", help="print the summaries")
    args = parser.parse_args()
    if args.summaries:
        print(json.dumps(summaries()))
    elif args.check:
        print(json.dumps(check()))
    else:
        current = record()
        GOLDEN.write_text(json.dumps(current, indent=2) + "\n")
        print(json.dumps(current, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
