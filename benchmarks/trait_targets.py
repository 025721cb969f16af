"""Do the traits matter? Every target of the trait experiment, measured on trained policies.

For each policy (one per training seed, heterogeneous or masked-traits control), simulate
``--seeds`` markets of ``--traders`` learning traders with heterogeneous traits for
``--ticks`` ticks, pool the traders' behaviour, and report:

* alpha: partial Spearman rho(alpha, position_late | initial_shares) (target <= -0.3);
* sigma: Spearman rho(sigma, informed_fill_share) (target <= -0.3);
* gamma: Spearman rho(gamma, GAMMA_MEASURE) (the behaviour named before training; target
  |rho| >= 0.2 with the same sign in every heterogeneous training seed, |rho| <= 0.05 for the
  masked control), and its partial correlation given the endowment;
* niches: the number of traits whose Kruskal-Wallis p across niches is below 0.01 (target >= 2);
* market: mean |log(price / fundamental)| after the burn-in (target <= 0.02), the share of
  ticks with an empty book side (target <= 0.1%), and ACF(|r|) at lag 10 of returns sampled
  every ``--sampling`` ticks (target >= 0.1);
* with ``--homogeneous``, the OT distances to the S&P 500 of the heterogeneous and homogeneous
  markets (tick returns after the burn-in, standardised per run, as ``abm-hetero calibrate``
  measures them; the heterogeneous market should be closer).

Run (a few minutes per policy on 2 cores):

    python benchmarks/trait_targets.py --heterogeneous runs/het-0/policy.pt runs/het-1/policy.pt
        --masked runs/masked-0/policy.pt --homogeneous abm_hetero/pretrained/homogeneous.pt
        --json runs/targets.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np
import pandas as pd

from abm_hetero import MarketModel, scenario
from abm_hetero.analysis.behaviour import behaviour_table, run_data, trait_correlations
from abm_hetero.analysis.data import load_reference
from abm_hetero.analysis.niches import find_niches, niche_traits
from abm_hetero.analysis.ot import CloudSettings, ot_distances, point_clouds
from abm_hetero.analysis.stylized_facts import acf
from abm_hetero.market import raw_log_returns

GAMMA_MEASURE = "aggressiveness"


def simulate(policy: str, population: str, seeds, ticks: int, traders: int, burn_in: int,
             sampling: int):
    """Behaviour tables (pooled over seeds), market checks, and tick returns per seed."""
    tables, market, returns = [], [], []
    for seed in seeds:
        settings = scenario(population, traders=traders, ticks=ticks, seed=seed)
        settings.traders[0].params.policy = policy
        model = MarketModel(settings).run()
        model.finish()
        run = run_data(model)
        tables.append(behaviour_table(run).assign(seed=seed))
        ref = model.exchange.reference_prices.values
        fundamental = model.fundamental.history.values[: len(ref)]
        frame = run["market"]
        empty = (frame["best_bid"].isna() | frame["best_ask"].isna()).to_numpy()
        r = raw_log_returns(ref[burn_in::sampling])
        returns.append(raw_log_returns(ref[burn_in:]))  # tick returns, for the OT clouds
        market.append({
            "seed": seed,
            "mean_abs_log_gap": float(np.abs(np.log(ref / fundamental))[burn_in:].mean()),
            "empty_side_share": float(empty[burn_in:].mean()),
            "acf_abs_10": float(acf(np.abs(r), [10])[0]) if len(r) > 20 else math.nan,
            "trades_per_tick": len(run["trades"]) / ticks,
        })
    return pd.concat(tables, ignore_index=True), pd.DataFrame(market), returns


def measure(policy: str, args) -> tuple[dict, list[np.ndarray]]:
    table, market, returns = simulate(policy, "learned-heterogeneous", range(args.seeds),
                                      args.ticks, args.traders, args.burn_in, args.sampling)
    corr = trait_correlations(table, n_boot=args.boot).set_index(["trait", "measure"])
    niches = find_niches(table)
    kw = niche_traits(table, niches["labels"], niches["names"]).loc["Kruskal-Wallis p"]
    out = {
        "policy": policy,
        "alpha_position_partial": corr.loc[("alpha", "position_late"), "partial_rho"],
        "sigma_informed_fill_share": corr.loc[("sigma", "informed_fill_share"), "rho"],
        "gamma_measure": GAMMA_MEASURE,
        "gamma_rho": corr.loc[("gamma", GAMMA_MEASURE), "rho"],
        "gamma_rho_low": corr.loc[("gamma", GAMMA_MEASURE), "low"],
        "gamma_rho_high": corr.loc[("gamma", GAMMA_MEASURE), "high"],
        "gamma_partial": corr.loc[("gamma", GAMMA_MEASURE), "partial_rho"],
        "gamma_holding_period_partial": corr.loc[("gamma", "holding_period_late"),
                                                 "partial_rho"],
        "niches": niches["k"],
        "niche_traits_p_below_0.01": int(sum(kw[t] < 0.01 for t in ("alpha", "gamma",
                                                                    "sigma"))),
        **{f"niche_p_{t}": kw[t] for t in ("alpha", "gamma", "sigma")},
        **{k: float(market[k].mean()) for k in ("mean_abs_log_gap", "empty_side_share",
                                                 "acf_abs_10", "trades_per_tick")},
        "acf_abs_10_min": float(market["acf_abs_10"].min()),
    }
    return out, returns


def distances(returns: list[np.ndarray], target: dict, settings: CloudSettings) -> dict:
    usable = [r for r in returns if len(r) > max(settings.lags) + 1]
    return ot_distances(point_clouds(usable, settings), target)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--heterogeneous", nargs="+", required=True, metavar="PT",
                   help="policies trained on heterogeneous traits (one per training seed)")
    p.add_argument("--masked", nargs="*", default=[], metavar="PT",
                   help="masked-traits control policies")
    p.add_argument("--homogeneous", default=None, metavar="PT",
                   help="a policy trained on homogeneous traits, for the OT comparison")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--ticks", type=int, default=2000)
    p.add_argument("--traders", type=int, default=200)
    p.add_argument("--burn-in", type=int, default=100)
    p.add_argument("--sampling", type=int, default=10,
                   help="ticks between sampled returns (default 10: one decision round)")
    p.add_argument("--boot", type=int, default=500)
    p.add_argument("--json", default=None, metavar="FILE")
    args = p.parse_args(argv)

    rows, het_returns = [], []
    for kind, policies in (("heterogeneous", args.heterogeneous), ("masked", args.masked)):
        for policy in policies:
            row, returns = measure(policy, args)
            rows.append({"kind": kind, **row})
            if kind == "heterogeneous":
                het_returns.append(returns)
            print(f"{kind} {policy}: done", file=sys.stderr, flush=True)
    table = pd.DataFrame(rows)
    result = {"policies": table.to_dict(orient="records")}
    if args.homogeneous:
        settings = CloudSettings(points=150)
        target = point_clouds(load_reference("sp500").returns(), settings)
        _, _, hom = simulate(args.homogeneous, "learned-homogeneous", range(args.seeds),
                             args.ticks, args.traders, args.burn_in, args.sampling)
        result["ot_homogeneous"] = distances(hom, target, settings)
        result["ot_heterogeneous"] = [distances(r, target, settings) for r in het_returns]
    with pd.option_context("display.width", 200, "display.max_columns", 40):
        print(table.drop(columns=["policy"]).round(3).T.to_string())
    if args.homogeneous:
        print("OT to the S&P 500, homogeneous:", {k: round(v, 4) for k, v in
                                                 result["ot_homogeneous"].items()})
        for d in result["ot_heterogeneous"]:
            print("OT to the S&P 500, heterogeneous:", {k: round(v, 4) for k, v in d.items()})
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
