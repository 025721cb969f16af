"""The ablation grid's evidence: claim (i) per trained policy and one table per population.

The trainings and the market statistics come from ``benchmarks/clustering_pilot.py``: one
``runs.csv`` per call (a row per variant, training seed and market seed) and one training folder
per variant and seed (``<work>/runs/<variant>-s<seed>``). This script adds, for every training
folder given with ``--runs``, the trait-behaviour measures of claim (i), on the policy's own
training population (its traits, its market), pooled over ``--market-seeds`` (a policy file,
``.pt``, is measured in the learned heterogeneous scenario instead):

* alpha: partial Spearman rho(alpha, ``position_late`` | ``initial_shares``) (target <= -0.3);
* sigma: rho(sigma, ``relative_gap_agreement``), the share of orders on the side of the
  fundamental gap measured from its run average (target <= -0.3), and rho(sigma,
  ``informed_fill_share``) beside it;
* gamma: rho(gamma, ``aggressiveness``) and the partial rho(gamma, ``holding_period_late`` |
  ``initial_shares``) (target |rho| >= 0.2 with one sign across training seeds);
* niches: k-means on behaviour (``abm_hetero.analysis.niches.find_niches``; when it finds one
  niche, the best k in 2..6 is used anyway) and the permutation test of the niches' trait
  silhouette (``trait_silhouette_null``, traits permuted among the traders of each market;
  target: observed above the null's 95th percentile).

It writes into ``--out``: ``claims.csv`` (one row per policy), ``markets.csv`` (every
``--markets`` file, concatenated), ``table.md`` (one row per population: median [min, max] over
every market, or over the training seeds for claim (i); counts of tests with p < 0.01), and
``learning_curves.png`` (each run's training reward and evaluation reward against steps).

Run (one core; about a minute per policy)::

    taskset -c 0 python benchmarks/ablation_grid.py --out grid \\
        --runs work/*/runs/*-s[0-9] --markets work/*/runs.csv
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from clustering_pilot import BURN_IN, TABLE, _range, parse_seeds, trained_settings

from abm_hetero.analysis.behaviour import behaviour_table, run_data, trait_correlations
from abm_hetero.analysis.niches import MIN_SILHOUETTE, find_niches, trait_silhouette_null
from abm_hetero.experiments import run_market, scenario_settings
from abm_hetero.settings import Settings

SIGNIFICANCE = 0.01
#: the market columns of table.md: the pilot's, with the kurtosis and the Hill index of 100-
#: and 10-tick returns beside those of tick returns
_HILL = [key for _, key, _ in TABLE].index("hill_5pct")
MARKET_TABLE = (*TABLE[:_HILL + 1],
                ("kurt 100", "kurt_100", "range"),
                ("Hill 5%, 10 ticks", "hill_5pct_10", "range"),
                ("Hill 5%, 100 ticks", "hill_5pct_100", "range"),
                *TABLE[_HILL + 1:])
#: columns of claim (i) in table.md: (title, claims.csv key)
CLAIM_TABLE = (
    ("rho alpha, position (partial)", "alpha_position_partial"),
    ("rho sigma, relative gap agreement", "sigma_relative_gap"),
    ("rho sigma, informed fills", "sigma_informed_fill_share"),
    ("rho gamma, aggressiveness", "gamma_aggressiveness"),
    ("rho gamma, holding period (partial)", "gamma_holding_partial"),
    ("niches k", "niches"),
    ("niche trait silhouette", "niche_silhouette"),
    ("null 95%", "niche_null_95"),
)


def population(run: Path) -> str:
    """The population a training folder belongs to: its name without the ``-s<seed>``."""
    return re.sub(r"-s\d+$", "", run.stem if run.suffix == ".pt" else run.name)


def niche_labels(table: pd.DataFrame) -> tuple[int, np.ndarray]:
    """The behaviour niches' count (1 when no clear niche forms) and the labels of the best
    k >= 2 either way."""
    niches = find_niches(table, min_silhouette=-math.inf)
    clear = bool(niches["silhouette"]) and max(niches["silhouette"].values()) >= MIN_SILHOUETTE
    return (niches["k"] if clear else 1), np.asarray(niches["labels"])


def policy_settings(run: Path, seed: int, ticks: int) -> Settings:
    """One evaluation market of a training folder's population, or of a policy file (``.pt``,
    for example a shipped policy) in the learned heterogeneous scenario."""
    if run.suffix != ".pt":
        return trained_settings(run, seed, ticks)
    settings = scenario_settings("learned-heterogeneous", seed, ticks=ticks)
    groups = [dataclasses.replace(g, params=dataclasses.replace(g.params, policy=str(run)))
              if g.kind == "learning" else g for g in settings.traders]
    return settings.replace(traders=groups, trader_report_period=BURN_IN)


def claims(run: Path, market_seeds: list[int], ticks: int, permutations: int) -> dict:
    """Claim (i)'s measures of one trained policy on its training population."""
    tables = []
    for seed in market_seeds:
        model = run_market(policy_settings(run, seed, ticks))
        tables.append(behaviour_table(run_data(model)).assign(seed=seed))
    table = pd.concat(tables, ignore_index=True)
    table = table[table["kind"] == "learning"].reset_index(drop=True)
    corr = trait_correlations(table, n_boot=200).set_index(["trait", "measure"])

    def cell(trait: str, measure: str, key: str = "rho") -> float:
        return float(corr.loc[(trait, measure), key]) if (trait, measure) in corr.index \
            else math.nan

    k, labels = niche_labels(table)
    null = trait_silhouette_null(table, labels, permutations=permutations)
    steps = (json.loads((run / "training_settings.json").read_text()).get("total_steps")
             if run.is_dir() else math.nan)
    return {
        "population": population(run), "run": run.name, "steps": steps,
        "alpha_position_partial": cell("alpha", "position_late", "partial_rho"),
        "sigma_relative_gap": cell("sigma", "relative_gap_agreement"),
        "sigma_informed_fill_share": cell("sigma", "informed_fill_share"),
        "gamma_aggressiveness": cell("gamma", "aggressiveness"),
        "gamma_holding_partial": cell("gamma", "holding_period_late", "partial_rho"),
        "niches": k, "niche_silhouette": null["observed"], "niche_null_95": null["null_95"],
        "niche_p": null["p_value"],
    }


def _ordered(frame: pd.DataFrame, column: str, order: list[str]) -> pd.DataFrame:
    """``frame`` with the rows of the populations named in ``order`` first, in that order."""
    rank = {name: i for i, name in enumerate(order)}
    key = frame[column].map(lambda name: rank.get(name, len(rank)))
    return frame.assign(_rank=key).sort_values("_rank", kind="stable").drop(columns="_rank")


def table(markets: pd.DataFrame, claim_rows: pd.DataFrame, order: list[str] = ()) -> str:
    """Two markdown tables, one row per population (those in ``order`` first): the market
    statistics over every market of every training seed, then claim (i) over the policies
    (training seeds)."""
    markets = _ordered(markets, "variant", list(order))
    claim_rows = _ordered(claim_rows, "population", list(order))
    head = ["population", "train seeds", "steps", "markets", *(t for t, _, _ in MARKET_TABLE)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, df in markets.groupby("variant", sort=False):
        seeds = sorted(int(s) for s in df["train_seed"].dropna().unique())
        steps = df["steps"].iloc[0]
        cells = [str(name), ",".join(map(str, seeds)) or "-",
                 f"{int(steps):,}" if steps > 0 else "shipped/rule", str(len(df))]
        for _, key, kind in MARKET_TABLE:
            x = df[key].astype(float)
            cells.append(f"{int((x < SIGNIFICANCE).sum())}/{int(x.notna().sum())}"
                         if kind == "count" else _range(x))
        lines.append("| " + " | ".join(cells) + " |")
    head = ["population", "policies", *(t for t, _ in CLAIM_TABLE), "niches above null"]
    lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, c in claim_rows.groupby("population", sort=False):
        cells = [str(name), str(len(c)),
                 *(_range(c[key].astype(float), 2) for _, key in CLAIM_TABLE),
                 f"{int((c['niche_silhouette'] > c['niche_null_95']).sum())}/{len(c)}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def learning_curves(runs: list[Path], path: Path) -> None:
    """Training and evaluation reward against steps, one panel per population; the reward
    axis covers the runs after their first million steps (the climb from the untrained
    policy's reward would hide the plateau)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pops = sorted({population(r) for r in runs})
    cols = min(3, len(pops))
    rows = -(-len(pops) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False,
                             sharey=True)
    late = []
    for ax, pop in zip(axes.flat, pops):
        for run in sorted(r for r in runs if population(r) == pop):
            m = pd.read_csv(run / "metrics.csv")
            smooth = m["train_reward"].rolling(20, min_periods=1).mean()
            line, = ax.plot(m["steps"] / 1e6, smooth, lw=1, label=run.name)
            ev = m.dropna(subset=["eval_reward"])
            ax.plot(ev["steps"] / 1e6, ev["eval_reward"], "o", ms=3, color=line.get_color())
            late.append(pd.concat([smooth[m["steps"] >= 1e6],
                                   ev["eval_reward"][ev["steps"] >= 1e6]]))
        ax.set_title(pop)
        ax.set_xlabel("million steps")
        ax.legend(fontsize=7)
    for ax in axes.flat[len(pops):]:
        ax.set_visible(False)
    values = pd.concat(late) if late else pd.Series(dtype=float)
    if len(values):
        lo, hi = float(values.min()), float(values.max())
        pad = 0.1 * (hi - lo) or 1e-4
        axes[0][0].set_ylim(lo - pad, hi + pad)
    for row in axes:
        row[0].set_ylabel("reward per decision")
    fig.suptitle("training reward (line, mean of 20 rollouts) and evaluation reward (dots)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--runs", type=Path, nargs="*", default=[],
                    help="training folders (each with policy.pt and training_settings.json)")
    ap.add_argument("--markets", type=Path, nargs="*", default=[],
                    help="runs.csv files of benchmarks/clustering_pilot.py")
    ap.add_argument("--market-seeds", default="0-4")
    ap.add_argument("--ticks", type=int, default=2000)
    ap.add_argument("--permutations", type=int, default=200)
    ap.add_argument("--order", default="", help="populations listed first in the tables, "
                                                "comma-separated")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    done = args.out / "claims.csv"
    old = pd.read_csv(done) if done.exists() else pd.DataFrame({"run": []})
    rows = [r for _, r in old.iterrows()]
    for run in args.runs:
        if run.name in set(old["run"]):
            continue
        start = time.time()
        rows.append(pd.Series(claims(run, parse_seeds(args.market_seeds), args.ticks,
                                     args.permutations)))
        pd.DataFrame(rows).to_csv(done, index=False)
        print(f"[{run.name}] {time.time() - start:.0f} s: "
              + ", ".join(f"{k} {rows[-1][k]:.3g}" for _, k in CLAIM_TABLE), flush=True)
    claim_rows = pd.DataFrame(rows) if rows else pd.DataFrame(
        columns=["population", *(k for _, k in CLAIM_TABLE)])
    markets = pd.concat([pd.read_csv(f) for f in args.markets], ignore_index=True) \
        if args.markets else pd.DataFrame()
    if len(markets):
        markets.to_csv(args.out / "markets.csv", index=False)
        text = table(markets, claim_rows, [n for n in args.order.split(",") if n])
        (args.out / "table.md").write_text(text)
        print(text)
    trained = [r for r in args.runs if r.is_dir()]
    if trained:
        learning_curves(trained, args.out / "learning_curves.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
