"""How volatility's memory decays: ACF(|r|) at lags 1 to ``--max-lag`` per population, in a figure.

The ablation grid's table gives ACF(|r|) at three lags; this script draws the whole profile, so
that "no volatility clustering" can be seen rather than read off three numbers. Each population
is ``NAME=SPEC``:

* ``NAME=FOLDER[,FOLDER...]``: training folders (``benchmarks/clustering_pilot.py`` trained
  them; each holds ``policy.pt`` and ``training_settings.json``), every policy evaluated on its
  own training population;
* ``NAME=@SCENARIO``: a named population (``fcn``, ``learned-heterogeneous``...).

Every policy or scenario runs one market of ``--ticks`` ticks per market seed, as the grid's
evaluation does (the mid after tick 100, ``clustering_pilot.evaluate``), and the ACF of the
absolute tick returns is taken at every lag. The figure shows, per population, the median over
its markets and the band between the smallest and the largest, with the band that an
independent series of the same length stays within 95% of the time (+-1.96 / sqrt(n)) and the
clustering targets (markers); the S&P 500's daily absolute returns (1999-2018, lags in days)
are drawn beside them for scale.

It writes ``acf_profiles.csv`` (population, training folder, market seed, lag, acf) and
``acf_profiles.png`` into ``--out``::

    python benchmarks/acf_profiles.py --out grid/acf \\
        --population het=work/het-s0/runs/het-s0,work/het-s1/runs/het-s1 \\
        --population fcn=@fcn
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from clustering_pilot import (
    BURN_IN,
    parse_seeds,
    scenario_spec_settings,
    trained_settings,
    training_folder_problem,
)

from abm_hetero.analysis.data import load_builtin
from abm_hetero.analysis.stylized_facts import AnalysisError, acf, log_returns
from abm_hetero.experiments import run_market

#: the clustering targets of the shipped heterogeneous policy: ACF(|r|) >= 0.10 at lag 10 and
#: >= 0.05 at lag 50 (docs/science.md)
TARGETS = ((10, 0.10), (50, 0.05))


def market_acf(settings, max_lag: int) -> tuple[np.ndarray, int]:
    """ACF(|r|) at lags 1..max_lag of one market's mid tick returns after the burn-in, and
    the number of returns (NaN and 0 for a market whose price cannot be analysed, as
    ``clustering_pilot.evaluate`` treats it)."""
    model = run_market(settings)
    mid = np.asarray(model.exchange.price_history("reference").values, dtype=float)
    try:
        r = log_returns(mid[BURN_IN:])
    except AnalysisError as exc:
        print(f"  not analysable: {exc}", flush=True)
        return np.full(max_lag, np.nan), 0
    return acf(np.abs(r), range(1, max_lag + 1)), len(r)


def sources_of(spec: str) -> list[str]:
    """The training folders (or the one ``@SCENARIO``) of a population's SPEC."""
    return [spec] if spec.startswith("@") else [s for s in spec.split(",") if s]


def spec_problem(spec: str, ticks: int) -> str | None:
    """Why a population's SPEC cannot be run, or None: a source that is not a training folder,
    or a scenario whose name or settings are unknown (``@fcn,badkey=1``)."""
    for source in sources_of(spec):
        if not source.startswith("@"):
            if problem := training_folder_problem(Path(source)):
                return problem
            continue
        try:
            scenario_spec_settings(source, 0, ticks)
        except (AttributeError, TypeError, ValueError) as exc:
            return f"{source}: {exc}"
    return None if sources_of(spec) else "no training folder named"


def profiles(populations: list[tuple[str, str]], market_seeds: list[int], ticks: int,
             max_lag: int) -> tuple[pd.DataFrame, int]:
    """Every population's ACF profiles, one per policy (or scenario) and market seed, and the
    smallest number of returns behind one."""
    rows, sizes = [], []
    for name, spec in populations:
        for source in sources_of(spec):
            for seed in market_seeds:
                settings = (scenario_spec_settings(source, seed, ticks) if source.startswith("@")
                            else trained_settings(Path(source), seed, ticks))
                values, n = market_acf(settings, max_lag)
                if n:
                    sizes.append(n)
                rows.extend({"population": name, "source": source, "market_seed": seed,
                             "lag": lag, "acf": float(v)}
                            for lag, v in enumerate(values, start=1))
                last = min(10, max_lag)
                print(f"[{name}] {source} market {seed}: lag 1 {values[0]:.3f}, lag {last} "
                      f"{values[last - 1]:.3f}", flush=True)
    if not sizes:
        raise AnalysisError("no market could be analysed")
    return pd.DataFrame(rows), min(sizes)


def draw(table: pd.DataFrame, n: int, max_lag: int, path: Path) -> None:
    """One panel per population: median and range over its markets, the independence band,
    and the S&P 500's daily profile."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sp = np.abs(load_builtin("sp500").returns())
    sp_acf = acf(sp, range(1, max_lag + 1))
    names = list(dict.fromkeys(table["population"]))
    cols = min(4, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows), sharex=True,
                             sharey=True, squeeze=False)
    lags = np.arange(1, max_lag + 1)
    band = 1.96 / math.sqrt(n)
    for ax, name in zip(axes.flat, names):
        wide = table[table["population"] == name].pivot_table(
            index="lag", columns=["source", "market_seed"], values="acf")
        ax.fill_between(lags, wide.min(axis=1), wide.max(axis=1), color="tab:blue", alpha=0.25,
                        lw=0, label="range over markets")
        ax.plot(lags, wide.median(axis=1), color="tab:blue", lw=1.5, label="median")
        ax.plot(lags, sp_acf, color="black", lw=1, ls="--", label="S&P 500, daily")
        ax.axhspan(-band, band, color="grey", alpha=0.2, lw=0, label="independent, 95%")
        ax.axhline(0, color="grey", lw=0.5)
        ax.plot(*zip(*TARGETS), "v", color="tab:red", ms=5, label="target")
        ax.set_title(f"{name} ({wide.shape[1]} markets)", fontsize=9)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("lag (ticks; days for the S&P 500)")
    for ax in axes[:, 0]:
        ax.set_ylabel("ACF of |r|")
    axes.flat[0].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--population", action="append", default=[], metavar="NAME=SPEC",
                    required=True)
    ap.add_argument("--market-seeds", default="0-4")
    ap.add_argument("--ticks", type=int, default=2000)
    ap.add_argument("--max-lag", type=int, default=100)
    args = ap.parse_args(argv)
    populations = []
    for item in args.population:
        name, sep, spec = item.partition("=")
        if not sep or not name or not spec:
            ap.error(f"--population takes NAME=SPEC, got {item!r}")
        if name in dict(populations):
            ap.error(f"--population {name} is named twice")
        populations.append((name, spec))
    try:
        seeds = parse_seeds(args.market_seeds)
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0:
        ap.error(f"--market-seeds takes seeds like 0-4 or 0,2,5, got {args.market_seeds!r}")
    if args.ticks < BURN_IN + 3:
        ap.error(f"--ticks must be at least {BURN_IN + 3} (the first {BURN_IN} are the burn-in)")
    if not 1 <= args.max_lag < args.ticks - BURN_IN - 1:
        ap.error(f"--max-lag must be 1 to {args.ticks - BURN_IN - 2} for {args.ticks} ticks")
    for name, spec in populations:
        if problem := spec_problem(spec, args.ticks):
            ap.error(f"--population {name}: {problem}")
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        table, n = profiles(populations, seeds, args.ticks, args.max_lag)
    except AnalysisError as exc:  # no market could be analysed
        print(f"acf_profiles.py: error: {exc}", file=sys.stderr)
        return 2
    table.to_csv(args.out / "acf_profiles.csv", index=False)
    draw(table, n, args.max_lag, args.out / "acf_profiles.png")
    summary = table[table["lag"].isin([1, 10, 50])].groupby(["population", "lag"])["acf"]
    print(summary.median().unstack().round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
