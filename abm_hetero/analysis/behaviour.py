"""Per-trader behaviour measured from a run's logs, and how it relates to the traits.

Input is a *run*: the mapping :func:`run_data` builds from a model (or
:func:`abm_hetero.output.read_run` reads from a folder) with the tables ``market``,
``traders``, ``trades`` and ``orders``. Measures, one row per trader:

=========================  ====================================================================
``mean_abs_inventory``     mean over ticks of |shares held|
``max_abs_inventory``      maximum over ticks of |shares held|
``aggressiveness``         mean signed distance of its limit prices from the mid, as a fraction
                           of the mid, positive when the order reaches across the mid (a buy
                           above it, a sell below it) and negative when it rests away from it
``order_size``             mean order volume
``order_rate``             orders per tick
``fill_rate``              fills per tick
``maker_share``            share of its filled volume on which it was the resting side
``holding_period``         mean |inventory| / mean traded volume per tick (ticks)
``fundamental_agreement``  share of its orders on the side of the true fundamental gap
                           (buy when the fundamental is above the mid)
``momentum_agreement``     share of its orders on the side of the last 10 ticks' price change
``profit``                 final wealth minus initial wealth, both at the final market price
                           (trading profit, without the revaluation of the initial holding)
=========================  ====================================================================
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

MEASURES = (
    "mean_abs_inventory", "max_abs_inventory", "aggressiveness", "order_size", "order_rate",
    "fill_rate", "maker_share", "holding_period", "fundamental_agreement",
    "momentum_agreement", "profit",
)
TRAITS = ("alpha", "gamma", "sigma")
MOMENTUM_LAG = 10


def run_data(model) -> dict[str, pd.DataFrame]:
    """The tables of a finished model, in the layout of a run folder."""
    return {
        "market": model.market_frame().reset_index(),
        "traders": model.trader_frame(),
        "trades": model.trade_frame(),
        "orders": model.order_frame(),
    }


def _inventory(traders: pd.DataFrame, trades: pd.DataFrame, rows: np.ndarray, ticks: int):
    """Holdings of every trader at the end of every tick (ticks x traders)."""
    start = traders[traders["tick"] == traders["tick"].min()].set_index("row")["shares"]
    col = {r: i for i, r in enumerate(rows)}
    flow = np.zeros((ticks + 1, len(rows)))
    if len(trades):
        t = trades["time"].to_numpy()
        v = trades["volume"].to_numpy(float)
        for who, sign in (("buyer", 1.0), ("seller", -1.0)):
            idx = np.array([col.get(r, -1) for r in trades[who].to_numpy()])
            ok = idx >= 0
            np.add.at(flow, (t[ok], idx[ok]), sign * v[ok])
    return start.reindex(rows).to_numpy(float) + np.cumsum(flow, axis=0)


def behaviour_table(run: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per trader: its traits and the behaviour measures (see module docstring)."""
    market, traders = run["market"], run["traders"]
    trades, orders = run["trades"], run["orders"]
    first = traders[traders["tick"] == traders["tick"].min()].set_index("row")
    last = traders[traders["tick"] == traders["tick"].max()].set_index("row")
    rows = first.index.to_numpy()
    ticks = int(market["tick"].max())
    out = first[["agent_id", "kind", *TRAITS]].copy()

    inventory = _inventory(traders, trades, rows, ticks)
    absinv = np.abs(inventory[1:])
    out["mean_abs_inventory"] = absinv.mean(axis=0)
    out["max_abs_inventory"] = absinv.max(axis=0)

    o = orders.copy()
    o = o[o["price"].notna()]
    side = np.where(o["side"].to_numpy() == "buy", 1.0, -1.0)
    mid = o["mid"].to_numpy(float)
    o["aggr"] = side * (o["price"].to_numpy(float) - mid) / mid
    mkt = market.set_index("tick")
    ref = mkt["mid"].fillna(mkt["last_price"])
    t_prev = (o["time"] - 1).clip(lower=0).to_numpy()
    gap = np.log(mkt["fundamental"].to_numpy()[t_prev] / ref.to_numpy()[t_prev])
    t_back = (o["time"] - 1 - MOMENTUM_LAG).clip(lower=0).to_numpy()
    momentum = np.log(ref.to_numpy()[t_prev] / ref.to_numpy()[t_back])
    o["fund_agree"] = np.where(gap != 0, (np.sign(gap) == side).astype(float), np.nan)
    o["mom_agree"] = np.where(momentum != 0, (np.sign(momentum) == side).astype(float), np.nan)
    g = o.groupby("trader")
    out["aggressiveness"] = g["aggr"].mean()
    out["order_size"] = orders.groupby("trader")["volume"].mean()
    out["order_rate"] = orders.groupby("trader").size().reindex(rows).fillna(0) / ticks
    out["fundamental_agreement"] = g["fund_agree"].mean()
    out["momentum_agreement"] = g["mom_agree"].mean()

    buys = trades.groupby("buyer")["volume"]
    sells = trades.groupby("seller")["volume"]
    filled = buys.sum().reindex(rows).fillna(0) + sells.sum().reindex(rows).fillna(0)
    n_fills = buys.size().reindex(rows).fillna(0) + sells.size().reindex(rows).fillna(0)
    resting_buy = trades[trades["resting_side"] == "buy"].groupby("buyer")["volume"].sum()
    resting_sell = trades[trades["resting_side"] == "sell"].groupby("seller")["volume"].sum()
    made = resting_buy.reindex(rows).fillna(0) + resting_sell.reindex(rows).fillna(0)
    out["fill_rate"] = n_fills / ticks
    out["maker_share"] = (made / filled).where(filled > 0)
    out["holding_period"] = (out["mean_abs_inventory"] / (filled / ticks)).where(filled > 0)
    price = float(mkt["last_price"].iloc[-1])
    out["profit"] = (last["cash"] + last["shares"] * price) - (
        first["cash"] + first["shares"] * price)
    return out.reset_index()


def trait_correlations(table: pd.DataFrame, n_boot: int = 1000, seed: int = 0,
                       measures=MEASURES, level: float = 0.95) -> pd.DataFrame:
    """Spearman correlation of each trait with each measure, with a bootstrap interval.

    Rows of the table are resampled with replacement ``n_boot`` times (seeded); the interval
    is the central ``level`` of the bootstrap distribution. Traits without spread give NaN.
    """
    rng = np.random.default_rng(seed)
    n = len(table)
    draws = rng.integers(0, n, size=(n_boot, n))
    rows = []
    for trait in TRAITS:
        x = table[trait].to_numpy(float)
        for measure in measures:
            y = table[measure].to_numpy(float)
            ok = np.isfinite(x) & np.isfinite(y)
            if ok.sum() < 4 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
                rows.append({"trait": trait, "measure": measure, "rho": np.nan,
                             "low": np.nan, "high": np.nan, "n": int(ok.sum())})
                continue
            rho = stats.spearmanr(x[ok], y[ok]).statistic
            boot = []
            for d in draws:
                d = d[ok[d]]
                if np.ptp(x[d]) > 0 and np.ptp(y[d]) > 0:
                    boot.append(stats.spearmanr(x[d], y[d]).statistic)
            a = (1 - level) / 2
            low, high = np.quantile(boot, [a, 1 - a]) if boot else (np.nan, np.nan)
            rows.append({"trait": trait, "measure": measure, "rho": float(rho),
                         "low": float(low), "high": float(high), "n": int(ok.sum())})
    return pd.DataFrame(rows)
