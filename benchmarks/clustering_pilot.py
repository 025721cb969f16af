"""Train and evaluate variants of the learned market for volatility clustering.

Each variant is ``NAME=SPEC``:

* ``NAME=FILE``: a training settings file (TOML/JSON/YAML, any ``TrainingSettings`` field,
  for example ``traits = "homogeneous"``, ``mask_traits = true``, ``[learning]`` options such as
  ``risk_variance`` and ``extra_features``, ``[market]`` options such as
  ``fundamental_volatility``). The variant is trained from scratch with
  ``abm-hetero train --settings FILE --steps STEPS --seed S --update-threads 1`` for every
  training seed (a finished run folder is reused), then its ``policy.pt`` is evaluated on the
  training population (its market and trait distribution) over the market seeds.
* ``NAME=@SCENARIO[,key=value...]``: a named population (``learned-heterogeneous`` with the
  shipped policy, ``fcn``...) evaluated without training; ``key=value`` sets a market setting
  (``@learned-heterogeneous,fundamental_volatility=0.0005``).

Every evaluation runs one market of ``--ticks`` ticks per market seed and measures, after the
burn-in, the package's stylized facts of the tick returns of the reference price (the mid), the
market measures (``abm_hetero.analysis.market_measures``: the fundamental's share of the
price's variance at 1, 10 and 100 ticks, the fraction of learning traders without a fill, the
mean |log(price / fundamental)| and the ticks with an empty book side), the ticks with a thin
side (less than one share of depth-weighted volume: the traders left only the exchange's
backstop quote), the share of tick returns that are zero and the lag-1 ACF of the 10-tick
returns. It writes ``runs.csv`` (one row per variant, training seed and market seed) and
``table.md`` (one row per variant: median [min, max] over every run, and the count of runs
whose test rejects at p < 0.01) into ``--work``; trainings go to ``--work/runs/`` (a training
interrupted before its end is resumed with ``abm-hetero train --resume``).

Run it on one core (the trainings are single-threaded)::

    taskset -c 0 python benchmarks/clustering_pilot.py --work /tmp/pilot --steps 3000000 \\
        --train-seeds 0 --market-seeds 0-4 \\
        --variant control=control.toml --variant shipped=@learned-heterogeneous --variant fcn=@fcn

``--table-only`` rebuilds ``table.md`` from ``runs.csv``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from abm_hetero.analysis.behaviour import run_data
from abm_hetero.analysis.market_measures import MEASURE_KEYS, market_measures
from abm_hetero.analysis.stylized_facts import (
    KEYS,
    AnalysisError,
    acf,
    aggregate,
    log_returns,
    stylized_facts,
)
from abm_hetero.experiments import run_market, scenario_settings
from abm_hetero.market import raw_log_returns
from abm_hetero.settings import Settings
from abm_hetero.training.settings import TrainingSettings

BURN_IN = 100
SIGNIFICANCE = 0.01
#: columns of table.md: (column title, runs.csv key, kind): "range" median [min, max],
#: "count" runs with p < SIGNIFICANCE
TABLE = (
    ("ACF abs r lag 1", "acf_abs_1", "range"),
    ("lag 10", "acf_abs_10", "range"),
    ("lag 50", "acf_abs_50", "range"),
    ("LB abs r, 1 tick p<0.01", "lb_abs_1_p", "count"),
    ("LB abs r, 10 ticks p<0.01", "lb_abs_10_p", "count"),
    ("GARCH persistence", "garch_persistence", "range"),
    ("GARCH LR p<0.01", "garch_lr_p", "count"),
    ("kurt 1", "kurt_1", "range"),
    ("kurt 10", "kurt_10", "range"),
    ("Hill 5%", "hill_5pct", "range"),
    ("ACF r10 lag 1", "acf_r10_1", "range"),
    ("zero tick returns", "zero_returns", "range"),
    ("fund. share 1", "fundamental_share_1", "range"),
    ("fund. share 10", "fundamental_share_10", "range"),
    ("fund. share 100", "fundamental_share_100", "range"),
    ("no-fill", "no_fill_fraction", "range"),
    ("mean abs log P/F", "mean_abs_log_gap", "range"),
    ("empty-side ticks", "empty_side_ticks", "range"),
    ("thin-side ticks", "thin_side_ticks", "range"),
)


def parse_seeds(text: str) -> list[int]:
    """'0-4' or '0,2,5' as a list of seeds."""
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def train(name: str, settings_file: Path, steps: int, seed: int, runs: Path) -> Path:
    """Train the variant from scratch (once: a finished run folder is reused); its folder."""
    out = runs / f"{name}-s{seed}"
    if (out / "policy.pt").exists() and (out / "done").exists():
        return out
    cmd = [sys.executable, "-c", "import sys; from abm_hetero.cli import main; "
           "sys.exit(main(sys.argv[1:]))", "train", "--settings", str(settings_file),
           "--steps", str(steps), "--seed", str(seed), "--out", str(out),
           "--update-threads", "1", "--quiet"]
    if out.exists():
        cmd = [*cmd[:3], "train", "--resume", "--out", str(out), "--update-threads", "1",
               "--quiet"]
    start = time.time()
    print(f"[{name} seed {seed}] training: {' '.join(cmd[4:])}", flush=True)
    subprocess.run(cmd, check=True)
    (out / "done").write_text(f"{time.time() - start:.0f} s\n")
    return out


#: what a training folder holds that its evaluation reads
TRAINING_FILES = ("policy.pt", "training_settings.json")


def training_folder_problem(run: Path) -> str | None:
    """Why ``run`` cannot be evaluated as a training folder, or None."""
    missing = [f for f in TRAINING_FILES if not (Path(run) / f).is_file()]
    return f"{run} is not a training folder (no {' or '.join(missing)})" if missing else None


def trained_settings(run: Path, market_seed: int, ticks: int) -> Settings:
    """The training population of ``run`` as one evaluation market with its ``policy.pt``."""
    ts = TrainingSettings.from_dict(json.loads((run / "training_settings.json").read_text()))
    pop = ts.episode_settings(market_seed)
    groups = [dataclasses.replace(g, params=dataclasses.replace(
        g.params, policy=str(run / "policy.pt"), deterministic=False))
        if g.kind == "learning" else g for g in pop.traders]
    return pop.replace(ticks=ticks, traders=groups, trader_report_period=BURN_IN)


def scenario_spec_settings(spec: str, market_seed: int, ticks: int) -> Settings:
    """``@SCENARIO[,key=value...]`` as the settings of one market."""
    name, *changes = spec[1:].split(",")
    settings = scenario_settings(name, market_seed, ticks=ticks)
    market = settings.market
    for change in changes:
        key, _, value = change.partition("=")
        market = dataclasses.replace(market, **{key: type(getattr(market, key))(value)})
    return settings.replace(market=market)


def evaluate(settings: Settings) -> dict[str, float]:
    """Stylized facts and market measures of one market after the burn-in."""
    model = run_market(settings)
    run = run_data(model)
    market = run["market"]
    ref = np.asarray(model.exchange.price_history("reference").values, dtype=float)
    market = market.assign(reference=ref)
    kept = market[market["tick"] >= BURN_IN]
    p = kept["reference"].to_numpy(float)
    volume = kept["volume"].to_numpy(float)[1:]
    try:
        r = log_returns(p)
        out = stylized_facts(r, volume[np.isfinite(raw_log_returns(p))])
        out["acf_r10_1"] = float(acf(aggregate(r, 10), [1])[0])
        out["zero_returns"] = float(np.mean(r == 0))
    except AnalysisError as exc:
        print(f"  not analysable: {exc}", flush=True)
        out = {k: math.nan for k in (*KEYS, "acf_r10_1", "zero_returns")}
    out.update(market_measures(market, run["trades"], run["traders"], BURN_IN,
                               price="reference"))
    # the traders left a side (almost) empty: less than one share of depth-weighted volume
    # (the exchange's backstop quote alone weighs exp(-1) of a share)
    thin = (kept["bid_depth"].to_numpy(float) < 1) | (kept["ask_depth"].to_numpy(float) < 1)
    out["thin_side_ticks"] = float(thin.mean())
    return out


def _range(x: pd.Series, digits: int = 3) -> str:
    x = x[np.isfinite(x)]
    if x.empty:
        return "n/a"
    med, lo, hi = (f"{v:.{digits}g}" for v in (x.median(), x.min(), x.max()))
    return med if len(x) == 1 else f"{med} [{lo}, {hi}]"


def table(runs: pd.DataFrame) -> str:
    """The markdown table of runs.csv: one row per variant."""
    head = ["variant", "train seeds", "steps", "markets", *(t for t, _, _ in TABLE)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, df in runs.groupby("variant", sort=False):
        seeds = sorted(int(s) for s in df["train_seed"].dropna().unique())
        cells = [str(name), ",".join(map(str, seeds)) or "-",
                 f"{int(df['steps'].iloc[0]):,}" if df["steps"].iloc[0] > 0 else "shipped/rule",
                 str(len(df))]
        for _, key, kind in TABLE:
            x = df[key].astype(float)
            if kind == "count":
                cells.append(f"{int((x < SIGNIFICANCE).sum())}/{int(x.notna().sum())}")
            else:
                cells.append(_range(x))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=SPEC")
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=3_000_000)
    ap.add_argument("--train-seeds", default="0")
    ap.add_argument("--market-seeds", default="0-4")
    ap.add_argument("--ticks", type=int, default=2000)
    ap.add_argument("--table-only", action="store_true")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    csv = args.work / "runs.csv"
    old = pd.read_csv(csv) if csv.exists() else pd.DataFrame()
    if not args.table_only:
        rows = []
        for variant in args.variant:
            name, _, spec = variant.partition("=")
            market_seeds = parse_seeds(args.market_seeds)
            if spec.startswith("@"):
                jobs = [(math.nan, 0, lambda s, spec=spec: scenario_spec_settings(
                    spec, s, args.ticks))]
            else:
                jobs = []
                for seed in parse_seeds(args.train_seeds):
                    run = train(name, Path(spec), args.steps, seed, args.work / "runs")
                    jobs.append((seed, args.steps, lambda s, run=run: trained_settings(
                        run, s, args.ticks)))
            for train_seed, steps, make in jobs:
                for s in market_seeds:
                    start = time.time()
                    row = {"variant": name, "spec": spec, "train_seed": train_seed,
                           "steps": steps, "market_seed": s, **evaluate(make(s))}
                    rows.append(row)
                    print(f"[{name} train {train_seed} market {s}] {time.time() - start:.0f} s: "
                          + ", ".join(f"{k} {row[k]:.3g}" for k in
                                      ("acf_abs_10", "lb_abs_10_p", "garch_lr_p", "kurt_10",
                                       *MEASURE_KEYS[1:2], "no_fill_fraction")), flush=True)
        new = pd.DataFrame(rows)
        if len(old) and len(new):
            done = set(zip(new["variant"], new["train_seed"].fillna(-1), new["market_seed"]))
            keep = [(v, t, m) not in done for v, t, m in
                    zip(old["variant"], old["train_seed"].fillna(-1), old["market_seed"])]
            new = pd.concat([old[keep], new], ignore_index=True)
        old = new if len(new) else old
        old.to_csv(csv, index=False)
    (args.work / "table.md").write_text(table(old))
    print(table(old))
    return 0


if __name__ == "__main__":
    sys.exit(main())
