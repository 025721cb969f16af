"""Calibrate the population's trait distributions to a real series by optimal transport.

The reference trains one policy per grid point. Here one policy trained over a broad trait prior
(the shipped ``prior`` policy, or any checkpoint) is *simulated* at each candidate
distribution, so calibration needs simulation only. A candidate is

    alpha ~ normal(alpha_mean, alpha_sd), sigma ~ normal(sigma_mean, sigma_sd) (truncated at 0),
    gamma ~ uniform(gamma_low, 0.999)

(a spread of 0 means every trader has the mean). Each candidate is simulated for several seeds
(the same seeds for every candidate); the returns of each run are standardised and pooled into
the three point clouds of :mod:`.ot`, and their OT distances to the target's clouds are the
candidate's scores.

Selection rule (explicit, as the reference has none): each distance is divided by its median
over all scored candidates, and the candidate with the lowest mean of the three normalised
distances is the calibrated distribution.

Search: ``grid`` scores every combination of the given values; ``halving`` (successive halving)
draws ``candidates`` random distributions from the given ranges, scores them all on as few
seeds as the tail cloud needs, keeps the best third, scores those on ``eta`` times as many
seeds, and so on until the full seed list (9 seeds by default: 3, then 9).
We use successive halving rather than a Bayesian optimiser because the scores are noisy
simulations, its rounds are batches of independent tasks that run in parallel on any backend,
and it needs no extra dependency.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from ..defaults import BURN_IN, TICKS, TRADERS
from ..errors import AbmHeteroError
from ..experiments import scenario_returns
from ..learning.pretrained import PRETRAINED_DIR
from ..output import Workspace
from ..training.engine import run_tasks
from ..traits import spread_distribution
from ..validation import MAX_COUNT, MAX_TICKS, check, check_number, check_ranges
from . import figures
from .data import load_reference
from .ot import CLOUDS, CloudSettings, ot_distances, point_clouds
from .stylized_facts import stylized_facts

PARAMS = ("alpha_mean", "alpha_sd", "sigma_mean", "sigma_sd", "gamma_low")
SEARCHES = ("grid", "halving")


def default_grid() -> dict[str, list[float]]:
    """The grid search's default values of each parameter (18 candidates)."""
    return {"alpha_mean": [1.0, 2.0, 3.5], "alpha_sd": [0.5], "sigma_mean": [0.001, 0.003, 0.008],
            "sigma_sd": [0.001], "gamma_low": [0.6, 0.9]}


def default_ranges() -> dict[str, list[float]]:
    """Successive halving's default [low, high] of each parameter (inside the prior)."""
    return {"alpha_mean": [0.5, 4.0], "alpha_sd": [0.0, 1.5], "sigma_mean": [0.0, 0.012],
            "sigma_sd": [0.0, 0.002], "gamma_low": [0.5, 0.95]}


@dataclass
class CalibrationSettings:
    target: str = "sp500"
    policy: str = "prior"
    traders: int = TRADERS
    ticks: int = TICKS
    burn_in: int = BURN_IN
    #: seeds of every candidate (default: 0-2 for a grid, 0-8 for halving: room for two
    #: rounds, 3 seeds then 9)
    seeds: list[int] | None = None
    #: "grid" (every combination of the values in ``space``) or "halving"
    search: str = "grid"
    #: grid: the values of each parameter; halving: [low, high] of each parameter (default:
    #: ``default_grid()`` or ``default_ranges()``)
    space: dict[str, list[float]] | None = None
    candidates: int = 27
    eta: int = 3
    search_seed: int = 0
    clouds: CloudSettings = field(default_factory=CloudSettings)

    RANGES: ClassVar[dict] = {"traders": (2, MAX_COUNT), "ticks": (2, MAX_TICKS),
                              "burn_in": (0, MAX_TICKS), "candidates": (1, 100_000),
                              "eta": (2, 1000), "search_seed": (0, 2 ** 63 - 1)}

    def __post_init__(self) -> None:
        check(self.search in SEARCHES,
              f"search must be one of {', '.join(SEARCHES)}, got {self.search!r}")
        if self.seeds is None:
            self.seeds = list(range(3 if self.search == "grid" else 9))
        if self.space is None:
            self.space = default_grid() if self.search == "grid" else default_ranges()
        check_ranges(self, "calibration.")
        check(all(isinstance(s, int) and 0 <= s < 2 ** 63 for s in self.seeds)
              and len(set(self.seeds)) == len(self.seeds),
              f"calibration.seeds must be distinct whole numbers >= 0, got {self.seeds}")
        check(self.burn_in < self.ticks, "calibration.burn_in must be below ticks")
        for name, values in self.space.items():
            for v in values if isinstance(values, list) else [values]:
                check_number(f"calibration.space.{name}", v, -1e6, 1e6)
        unknown = set(self.space) - set(PARAMS)
        missing = set(PARAMS) - set(self.space)
        check(not unknown and not missing,
              f"the search space needs exactly {', '.join(PARAMS)} (unknown: "
              f"{sorted(unknown)}, missing: {sorted(missing)})")
        check(bool(self.seeds), "at least one seed is needed")
        check(self.search != "halving" or all(len(v) == 2 for v in self.space.values()),
              "halving needs [low, high] for every parameter")
        check(self.ticks - self.burn_in >= max(self.clouds.lags) + 2,
              "ticks minus burn-in must exceed the largest lag")

    def min_seeds(self) -> int:
        """Seeds needed before a candidate's returns can fill the tail cloud."""
        per_run = max(self.ticks - self.burn_in - 1, 1)
        return min(len(self.seeds), math.ceil(self.clouds.points / self.clouds.tail / per_run))

    def candidate_list(self) -> list[dict[str, float]]:
        if self.search == "grid":
            names = list(PARAMS)
            return [dict(zip(names, values))
                    for values in itertools.product(*(self.space[n] for n in names))]
        rng = np.random.default_rng(self.search_seed)
        return [{n: float(rng.uniform(*self.space[n])) for n in PARAMS}
                for _ in range(self.candidates)]


def candidate_traits(c: dict[str, float]):
    """The trait distribution of a candidate (validated: bad values raise SettingsError)."""
    return spread_distribution(c["alpha_mean"], c["alpha_sd"], c["sigma_mean"], c["sigma_sd"],
                               c["gamma_low"])


def policy_fingerprint(policy: str | None) -> str:
    """What identifies the policies a task simulates beyond its arguments: the contents of the
    chosen policy file and of the shipped ones (the named scenarios use those), so that cached
    results are recomputed, not reused, when a checkpoint is retrained in place."""
    digest = hashlib.sha256()
    paths = sorted(PRETRAINED_DIR.glob("*.pt"))
    if policy and Path(policy).suffix:
        paths.append(Path(policy))
    for path in paths:
        digest.update(str(path.name).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def candidate_key(c: dict[str, float]) -> str:
    return "_".join(f"{n}={c[n]:.6g}" for n in PARAMS)


def simulate_returns(traits_params: dict[str, float] | None, scenario: str, seed: int,
                     policy: str | None, traders: int, ticks: int, burn_in: int) -> np.ndarray:
    """Tick returns of the reference price of one run (a task: top-level and picklable)."""
    traits = candidate_traits(traits_params) if traits_params is not None else None
    return scenario_returns(scenario, seed, traders=traders, ticks=ticks, burn_in=burn_in,
                            policy=policy, traits=traits)


@dataclass
class Calibration:
    settings: CalibrationSettings
    table: pd.DataFrame  # one row per scored candidate, ranked
    best: dict[str, float]
    target_name: str


def score_table(rows: list[dict]) -> pd.DataFrame:
    """Rank candidates by the mean of their median-normalised distances."""
    df = pd.DataFrame(rows)
    for name in CLOUDS:
        median = df[name].median()
        df[f"{name}_norm"] = df[name] / median if median > 0 else np.nan
    df["score"] = df[[f"{n}_norm" for n in CLOUDS]].mean(axis=1)
    # stable: ties (and unscorable candidates) keep the candidates' own order, whatever order
    # the backend finished them in
    df = df.sort_values(["seeds", "score"], ascending=[False, True], ignore_index=True,
                        kind="mergesort", na_position="last")
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    return df


def calibrate(settings: CalibrationSettings, out: str | Path, backend: str = "sequential",
              workers: int | None = None, address: str | None = None,
              progress: Callable[[str], None] = print) -> Calibration:
    """Search the candidates; results stream into ``out/candidates.csv``; resumable. ``out``
    follows the folder rule (:mod:`abm_hetero.output`): it is created, or is empty, or is an
    earlier calibration folder to continue; it is locked while the search runs."""
    with Workspace(out, "calibration") as folder:
        return _search(settings, folder, backend, workers, address, progress)


def plain_returns(value: object) -> bool:
    """Whether a cached simulation result is what :func:`simulate_returns` returns: a flat
    array of finite log returns (anything else in the cache is computed again)."""
    return (isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind == "f"
            and bool(np.isfinite(value).all()) and (value.size == 0 or
                                                    float(np.abs(value).max()) <= 100.0))


def cache_options(folder: Workspace | None) -> dict:
    """How the simulations' cache in a calibration folder is used: results must be returns
    (:func:`plain_returns`), and with the folder held, its temporary files carry its token and
    nothing is saved once the folder was moved or replaced."""
    if folder is None:
        return {"cache_check": plain_returns}
    return {"cache_check": plain_returns, "cache_token": folder.token,
            "cache_guard": folder.verify}


def _search(settings: CalibrationSettings, folder: Workspace, backend: str,
            workers: int | None, address: str | None, progress: Callable[[str], None]
            ) -> Calibration:
    """The search of :func:`calibrate` in the folder ``folder`` (held by the caller)."""
    out = folder.out
    target = load_reference(settings.target)
    target_clouds = point_clouds([target.returns()], settings.clouds)
    (out / "calibration_settings.json").write_text(
        json.dumps(asdict(settings), indent=2, default=str) + "\n")
    candidates = settings.candidate_list()
    for c in candidates:
        candidate_traits(c)  # fail early on invalid values
    salt = policy_fingerprint(settings.policy)
    scored: dict[str, dict] = {}
    stream = out / "candidates.csv"
    stream.unlink(missing_ok=True)

    def score(c: dict[str, float], returns: list[np.ndarray]) -> dict:
        row = {**c, "seeds": len(returns)}
        try:
            row.update(ot_distances(point_clouds(returns, settings.clouds), target_clouds))
        except AbmHeteroError as exc:
            row.update({n: math.nan for n in CLOUDS})
            row["error"] = str(exc)
        return row

    def run_round(cands: list[dict[str, float]], seeds: list[int]) -> None:
        tasks = {f"{candidate_key(c)}__seed={s}": (c, "learned-heterogeneous", s,
                                                    settings.policy, settings.traders,
                                                    settings.ticks, settings.burn_in)
                 for c in cands for s in seeds}
        got: dict[str, dict[int, np.ndarray]] = {}
        by_key = {candidate_key(c): c for c in cands}

        def on_result(key, returns) -> None:
            folder.verify()  # never write on into a folder that replaced ours meanwhile
            ckey, seed = key.rsplit("__seed=", 1)
            got.setdefault(ckey, {})[int(seed)] = returns
            if len(got[ckey]) == len(seeds):  # a candidate is complete: score and stream it
                row = score(by_key[ckey], [got[ckey][s] for s in seeds])
                scored[ckey] = row
                pd.DataFrame([row]).to_csv(stream, mode="a", header=not stream.exists(),
                                           index=False)
                progress(f"candidate {len(scored)}: {ckey} "
                         + " ".join(f"{n}={row[n]:.4f}" for n in CLOUDS))

        run_tasks(simulate_returns, tasks, backend=backend, workers=workers, address=address,
                  cache=out / "tasks", on_result=on_result, cache_salt=salt,
                  **cache_options(folder))

    if settings.search == "grid":
        run_round(candidates, settings.seeds)
    else:
        alive = candidates
        n_seeds = settings.min_seeds()
        while True:
            seeds = settings.seeds[:n_seeds]
            run_round(alive, seeds)
            if n_seeds >= len(settings.seeds) or len(alive) <= 1:
                break
            ranked = score_table([scored[candidate_key(c)] for c in alive
                                  if candidate_key(c) in scored])
            keep = max(1, len(alive) // settings.eta)
            order = ranked[list(PARAMS)].head(keep).to_dict("records")
            alive = [c for c in candidates if any(
                all(math.isclose(c[n], o[n]) for n in PARAMS) for o in order)]
            n_seeds = min(len(settings.seeds), n_seeds * settings.eta)
    table = score_table([scored[k] for k in map(candidate_key, candidates) if k in scored])
    if table["score"].isna().all():
        reasons = "; ".join(sorted(set(table.get("error", pd.Series(dtype=str)).dropna())))
        raise AbmHeteroError(f"no candidate could be scored: {reasons}")
    best = table.iloc[0][list(PARAMS)].to_dict()
    return Calibration(settings, table, best, target.name)


def scenario_distances(settings: CalibrationSettings, out: str | Path, backend: str = "sequential",
                       workers: int | None = None, address: str | None = None,
                       scenarios=("learned-heterogeneous", "learned-homogeneous", "fcn",
                                  "zero-intelligence"), folder: Workspace | None = None
                       ) -> pd.DataFrame:
    """OT distances of the named scenarios (their own policies and traits), same seeds;
    ``folder``: the calibration folder held by the caller (see :func:`cache_options`)."""
    target_clouds = point_clouds([load_reference(settings.target).returns()], settings.clouds)
    tasks = {f"scenario={sc}__seed={s}": (None, sc, s, None, settings.traders, settings.ticks,
                                          settings.burn_in)
             for sc in scenarios for s in settings.seeds}
    results = run_tasks(simulate_returns, tasks, backend=backend, workers=workers,
                        address=address, cache=Path(out) / "tasks",
                        cache_salt=policy_fingerprint(None), **cache_options(folder))
    rows = []
    for sc in scenarios:
        returns = [results[f"scenario={sc}__seed={s}"] for s in settings.seeds]
        row = {"scenario": sc}
        try:
            row.update(ot_distances(point_clouds(returns, settings.clouds), target_clouds))
        except AbmHeteroError as exc:
            row.update({n: math.nan for n in CLOUDS})
            row["error"] = str(exc)
        rows.append(row)
    return pd.DataFrame(rows)


def write_results(cal: Calibration, out: str | Path, scenarios: pd.DataFrame | None = None,
                  backend: str = "sequential", workers: int | None = None,
                  address: str | None = None, folder: Workspace | None = None) -> None:
    """Ranked table, best distribution, its stylized facts beside the target's, and plots;
    ``folder``: the calibration folder held by the caller (see :func:`cache_options`)."""
    out = Path(out)
    if folder is not None:
        folder.verify()
    cal.table.to_csv(out / "ranked.csv", index=False)
    s = cal.settings
    best = cal.best
    tasks = {f"{candidate_key(best)}__seed={seed}": (best, "learned-heterogeneous", seed,
                                                     s.policy, s.traders, s.ticks, s.burn_in)
             for seed in s.seeds}
    runs = run_tasks(simulate_returns, tasks, backend=backend, workers=workers,
                     address=address, cache=out / "tasks", cache_salt=policy_fingerprint(s.policy),
                     **cache_options(folder))
    per_run = [stylized_facts(r) for r in runs.values() if len(r) > 200]
    target = load_reference(s.target)
    facts = pd.DataFrame({
        "calibrated (mean over seeds)": pd.DataFrame(per_run).mean() if per_run else np.nan,
        target.name: pd.Series(stylized_facts(target.returns(), target.return_volume())),
    })
    if folder is not None:
        folder.verify()
    facts.to_csv(out / "best_facts.csv")
    (out / "best.json").write_text(json.dumps(
        {"best": best, "selection_rule": "lowest mean of the three OT distances, each divided "
                                         "by its median over the scored candidates",
         "target": cal.target_name}, indent=2) + "\n")
    if scenarios is not None:
        scenarios.to_csv(out / "scenarios.csv", index=False)
    figures.distance_landscape(cal.table, [p for p in PARAMS if cal.table[p].nunique() > 1],
                               out / "landscape.png")
