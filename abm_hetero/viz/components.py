"""The page's panels: matplotlib figures (rendered offline) and a stylized-facts panel."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import solara  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..analysis.stylized_facts import AnalysisError, acf, excess_kurtosis, hill  # noqa: E402
from ..market import BUY, SELL, raw_log_returns  # noqa: E402

WINDOW = 500  # ticks shown in the price chart
TRAITS = ("alpha", "gamma", "sigma")
#: the trait that colours the traders (a display choice of the page, not of the model)
colour_trait = solara.reactive("alpha")


def _prices(model):
    return model.exchange.price_history("reference").values


def PriceChart(model):
    """Price (mid) against the fundamental, with spread and depth below."""
    ref = _prices(model)[-WINDOW:]
    fundamental = model.exchange.price_history("fundamental").values[-WINDOW:]
    ticks = np.arange(len(ref))[-WINDOW:] if len(_prices(model)) <= WINDOW else np.arange(
        len(_prices(model)) - WINDOW, len(_prices(model)))
    frame = model.datacollector.model_vars
    fig = Figure(figsize=(6, 4.2))
    ax, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    ax.plot(ticks, ref, lw=0.9, label="price (mid)")
    ax.plot(ticks, fundamental[-len(ticks):], lw=0.9, color="k", alpha=0.6,
            label="fundamental")
    ax.set_ylabel("price")
    ax.legend(loc="upper left", fontsize=7)
    spread = np.asarray(frame["spread"][-WINDOW:], dtype=float)
    depth = np.asarray(frame["bid_depth"][-WINDOW:], dtype=float) + np.asarray(
        frame["ask_depth"][-WINDOW:], dtype=float)
    ax2.plot(ticks[-len(spread):], spread, lw=0.8, color="C1", label="spread")
    ax2.set_ylabel("spread", fontsize=8)
    twin = ax2.twinx()
    twin.plot(ticks[-len(depth):], depth, lw=0.8, color="C2", label="depth")
    twin.set_ylabel("depth", fontsize=8)
    ax2.set_xlabel("tick")
    fig.tight_layout()
    return solara.FigureMatplotlib(fig)


def OrderBookChart(model, levels: int = 15):
    """Resting volume of the best levels on each side of the mid."""
    book = model.exchange.book
    price_of = model.exchange.price_of
    fig = Figure(figsize=(5, 3.2))
    ax = fig.subplots()
    sides = {side: book.levels(side, levels) for side in (BUY, SELL)}
    prices = sorted(price_of(p) for rows in sides.values() for p, _ in rows)
    gaps = np.diff(prices)
    height = 0.8 * float(np.median(gaps[gaps > 0])) if (gaps > 0).any() else 0.01
    for side, colour, label in ((BUY, "C0", "bids"), (SELL, "C3", "asks")):
        rows = sides[side]
        if rows:
            ax.barh([price_of(p) for p, _ in rows], [v for _, v in rows], height=height,
                    color=colour, label=label)
    mid = model.exchange.state.mid
    if not math.isnan(mid):
        ax.axhline(mid, color="k", lw=0.8, ls="--", label="mid")
    ax.set_xlabel("resting volume")
    ax.set_ylabel("price")
    ax.set_title("order book around the mid", fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return solara.FigureMatplotlib(fig)


def ReturnHistogram(model):
    """Distribution of tick returns so far, on a log axis."""
    fig = Figure(figsize=(5, 3.2))
    ax = fig.subplots()
    ref = _prices(model)
    r = raw_log_returns(ref[ref > 0])
    r = r[np.isfinite(r) & (r != 0)]
    if len(r) > 10:
        ax.hist(r / r.std(), bins=40, log=True, color="C0")
    ax.set_xlabel("standardised tick return")
    ax.set_title(f"returns so far ({len(r)})", fontsize=9)
    fig.tight_layout()
    return solara.FigureMatplotlib(fig)


def TraderScatter(model):
    """Traders as points: holding against the chosen trait, coloured by that trait."""
    trait = colour_trait.value
    rows = np.concatenate([g.rows for g in model.groups])
    values = np.concatenate([getattr(g.traits, trait) for g in model.groups])
    _, shares = model.exchange.holdings(rows)
    fig = Figure(figsize=(5, 3.2))
    ax = fig.subplots()
    points = ax.scatter(values, shares, c=values, cmap="viridis", s=12)
    fig.colorbar(points, ax=ax, label=trait)
    ax.set_xlabel(trait)
    ax.set_ylabel("shares held")
    ax.set_title(f"traders: holding against {trait}", fontsize=9)
    fig.tight_layout()
    with solara.Column() as column:
        solara.Select("Colour traders by", values=list(TRAITS), value=colour_trait)
        solara.FigureMatplotlib(fig)
    return column


def FactsPanel(model):
    """Running stylized facts of the tick returns (plain text: no external assets)."""
    ref = _prices(model)
    r = raw_log_returns(ref[ref > 0])
    r = r[np.isfinite(r)]
    lines = [f"Tick: {model.steps}", f"Trades: {len(model.exchange.trades)}",
             f"Population: {model.population}"]
    if len(r) >= 30 and np.std(r) > 0:
        try:
            rho = acf(np.abs(r), (1, 10))
            lines += [f"Excess kurtosis: {excess_kurtosis(r):.2f}",
                      f"Hill tail index (5%): {hill(r, 0.05):.2f}",
                      f"ACF(r, 1): {acf(r, (1,))[0]:.3f}",
                      f"ACF(|r|, 1): {rho[0]:.3f}   ACF(|r|, 10): {rho[1]:.3f}"]
        except (AnalysisError, ValueError):
            pass
    else:
        lines.append("Stylized facts: after 30 ticks with price changes")
    with solara.Card("Running stylized facts") as card, solara.Column(gap="2px"):
        for line in lines:
            solara.Text(line)
    return card
