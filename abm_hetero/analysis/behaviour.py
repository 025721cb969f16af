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
``relative_gap_agreement`` share of its orders on the side of the fundamental gap measured
                           from its mean over the run (buy when log(fundamental / mid) is above
                           its run average): the information a trader uses when the market
                           prices its risk at a steady discount, so that buying is almost always
                           on the side of the raw gap
``momentum_agreement``     share of its orders on the side of the last 10 ticks' price change
``profit``                 final wealth minus initial wealth, both at the final market price
                           (trading profit, without the revaluation of the initial holding)
``initial_shares``         the holding the trader started with (its endowment)
``position_late``          mean |shares held| over the second half of the run
``net_position_late``      mean of (shares held - initial shares) over the second half: what
                           the trader bought (positive) or sold (negative), net of its endowment
``holding_period_late``    ``position_late`` / shares traded per tick in the second half: how
                           long a share stays with the trader (Little's law), in ticks
``risk_taken``             mean over ticks of |shares held| x reference price x the rolling
                           (50-tick) standard deviation of the reference price's tick returns
``informed_fill_share``    volume-weighted share of its fills on the side the true fundamental
                           favours (a buy while the fundamental is above the reference price
                           the trader saw, a sell while it is below)
=========================  ====================================================================

Measures that scale with the endowment (positions, holding periods, risk) are compared with the
traits by partial correlation given ``initial_shares`` (:func:`trait_correlations`), so that a
trait's effect is not confused with who started with more shares.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..market import raw_log_returns
from ..traits import TRAIT_NAMES

MEASURES = (
    "mean_abs_inventory", "max_abs_inventory", "aggressiveness", "order_size", "order_rate",
    "fill_rate", "maker_share", "holding_period", "fundamental_agreement",
    "relative_gap_agreement", "momentum_agreement", "profit", "position_late",
    "net_position_late", "holding_period_late", "risk_taken", "informed_fill_share",
)
#: the traits analysed: every registered trait (a live view of ``traits.TRAITS``)
TRAITS = TRAIT_NAMES
MOMENTUM_LAG = 10
VOLATILITY_WINDOW = 50
#: the column that partial correlations control for
ENDOWMENT = "initial_shares"


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
    all_gaps = np.log(mkt["fundamental"].to_numpy() / ref.to_numpy())
    gap = all_gaps[t_prev]
    relative_gap = gap - np.nanmean(all_gaps)
    t_back = (o["time"] - 1 - MOMENTUM_LAG).clip(lower=0).to_numpy()
    momentum = np.log(ref.to_numpy()[t_prev] / ref.to_numpy()[t_back])
    o["fund_agree"] = np.where(gap != 0, (np.sign(gap) == side).astype(float), np.nan)
    o["rel_gap_agree"] = np.where(relative_gap != 0,
                                  (np.sign(relative_gap) == side).astype(float), np.nan)
    o["mom_agree"] = np.where(momentum != 0, (np.sign(momentum) == side).astype(float), np.nan)
    g = o.groupby("trader")
    out["aggressiveness"] = g["aggr"].mean()
    out["order_size"] = orders.groupby("trader")["volume"].mean()
    out["order_rate"] = orders.groupby("trader").size().reindex(rows).fillna(0) / ticks
    out["fundamental_agreement"] = g["fund_agree"].mean()
    out["relative_gap_agreement"] = g["rel_gap_agree"].mean()
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
    _endowment_free_measures(out, inventory, ref.to_numpy(float), mkt["fundamental"].to_numpy(),
                             trades, rows)
    return out.reset_index()


def _endowment_free_measures(out: pd.DataFrame, inventory: np.ndarray, ref: np.ndarray,
                             fundamental: np.ndarray, trades: pd.DataFrame, rows) -> None:
    """Add the measures that separate behaviour from the endowment (module docstring)."""
    ticks = len(inventory) - 1
    half = ticks // 2
    late = inventory[half + 1:]
    out["initial_shares"] = inventory[0]
    out["position_late"] = np.abs(late).mean(axis=0)
    out["net_position_late"] = (late - inventory[0]).mean(axis=0)
    t = trades["time"].to_numpy()
    volume = trades["volume"].to_numpy(float)
    after = t > half
    traded = np.zeros(len(rows))
    informed = np.zeros(len(rows))
    filled = np.zeros(len(rows))
    col = pd.Series(np.arange(len(rows)), index=rows)
    seen = ref[np.clip(t - 1, 0, None)]  # the reference price traders saw during the tick
    favours_buy = fundamental[t] > seen
    for who, sign in (("buyer", True), ("seller", False)):
        idx = col.reindex(trades[who].to_numpy()).to_numpy()
        ok = ~np.isnan(idx)
        i = idx[ok].astype(int)
        np.add.at(traded, i[after[ok]], volume[ok][after[ok]])
        np.add.at(filled, i, volume[ok])
        np.add.at(informed, i, volume[ok] * (favours_buy[ok] == sign))
    per_tick = traded / max(ticks - half, 1)
    out["holding_period_late"] = np.where(per_tick > 0, out["position_late"] / np.where(
        per_tick > 0, per_tick, 1.0), np.nan)
    out["informed_fill_share"] = np.where(filled > 0, informed / np.where(filled > 0, filled,
                                                                          1.0), np.nan)
    r = pd.Series(np.concatenate([[0.0], raw_log_returns(ref)]))  # a return per tick
    vol = r.rolling(VOLATILITY_WINDOW, min_periods=2).std().bfill().fillna(0.0).to_numpy()
    out["risk_taken"] = (np.abs(inventory) * (ref * vol)[:, None]).mean(axis=0)


def _ranks(x: np.ndarray) -> np.ndarray:
    return stats.rankdata(x)


def _residual(y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Residual of ``y`` after a least-squares line in ``z`` (along the last axis)."""
    zc = z - z.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    beta = (zc * yc).sum(axis=-1, keepdims=True) / np.maximum((zc * zc).sum(
        axis=-1, keepdims=True), 1e-300)
    return yc - beta * zc


def _pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    den = np.sqrt((xc * xc).sum(axis=-1) * (yc * yc).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (xc * yc).sum(axis=-1) / den, np.nan)


def partial_spearman(x, y, z) -> float:
    """Spearman correlation of ``x`` and ``y`` given ``z``: the correlation of the ranks of
    ``x`` and ``y`` after removing from each a straight line in the ranks of ``z``."""
    x, y, z = (_ranks(np.asarray(a, float)) for a in (x, y, z))
    return float(_pearson(_residual(x, z), _residual(y, z)))


def trait_correlations(table: pd.DataFrame, n_boot: int = 1000, seed: int = 0,
                       measures=MEASURES, level: float = 0.95,
                       control: str | None = ENDOWMENT) -> pd.DataFrame:
    """Spearman correlation of each trait with each measure, with a bootstrap interval, and
    the partial correlation given ``control`` (the endowment) when the table has it.

    Rows are resampled with replacement ``n_boot`` times (seeded); the interval is the central
    ``level`` of the bootstrap distribution (ranks are taken once, on the whole table). Traits
    or measures without spread give NaN.
    """
    rng = np.random.default_rng(seed)
    n = len(table)
    draws = rng.integers(0, n, size=(n_boot, n))
    has_control = control is not None and control in table
    a = (1 - level) / 2
    rows = []
    for trait in TRAITS:
        x = table[trait].to_numpy(float)
        for measure in measures:
            if measure not in table:
                continue
            y = table[measure].to_numpy(float)
            ok = np.isfinite(x) & np.isfinite(y)
            row = {"trait": trait, "measure": measure, "rho": np.nan, "low": np.nan,
                   "high": np.nan, "n": int(ok.sum())}
            if has_control:
                row.update(partial_rho=np.nan, partial_low=np.nan, partial_high=np.nan)
            if ok.sum() < 4 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
                rows.append(row)
                continue
            rx, ry = _ranks(x[ok]), _ranks(y[ok])
            m = int(ok.sum())
            d = draws if m == n else np.random.default_rng([seed, m]).integers(0, m, (n_boot, m))
            row["rho"] = float(_pearson(rx, ry))
            row["low"], row["high"] = np.nanquantile(_pearson(rx[d], ry[d]), [a, 1 - a])
            if has_control:
                z = table[control].to_numpy(float)[ok]
                rz = _ranks(z)
                row["partial_rho"] = float(_pearson(_residual(rx, rz), _residual(ry, rz)))
                boot = _pearson(_residual(rx[d], rz[d]), _residual(ry[d], rz[d]))
                row["partial_low"], row["partial_high"] = np.nanquantile(boot, [a, 1 - a])
            rows.append(row)
    return pd.DataFrame(rows)
