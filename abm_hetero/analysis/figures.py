"""The report's figures (seaborn/matplotlib, drawn off-screen)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from scipy import stats  # noqa: E402

from .stylized_facts import acf, hill  # noqa: E402

sns.set_theme(style="whitegrid", context="paper")


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def price_paths(runs, path: Path) -> Path:
    """Price against the fundamental, first seed of each scenario."""
    fig, axes = plt.subplots(len(runs), 1, figsize=(8, 2.2 * len(runs)), sharex=True,
                             squeeze=False)
    for ax, run in zip(axes[:, 0], runs):
        p = run.prices
        ax.plot(p["tick"], p["price"], lw=0.8, label="price (mid)")
        ax.plot(p["tick"], p["fundamental"], lw=0.8, color="k", alpha=0.6, label="fundamental")
        ax.set_title(f"{run.scenario} (seed {run.seed})", fontsize=9)
        ax.set_ylabel("price")
    axes[0, 0].legend(loc="upper left", fontsize=8)
    axes[-1, 0].set_xlabel("tick")
    return _save(fig, path)


def return_distributions(series: dict[str, np.ndarray], path: Path) -> Path:
    """Standardised return densities on a log axis against the standard Gaussian."""
    fig, ax = plt.subplots(figsize=(7, 4))
    bins = np.linspace(-8, 8, 81)
    centres = 0.5 * (bins[1:] + bins[:-1])
    for name, r in series.items():
        if len(r) < 10:
            continue
        z = (r - r.mean()) / r.std()
        density, _ = np.histogram(z, bins=bins, density=True)
        ax.plot(centres[density > 0], density[density > 0], marker=".", lw=0.8, label=name)
    ax.plot(centres, stats.norm.pdf(centres), "k--", lw=1, label="Gaussian")
    ax.set_yscale("log")
    ax.set_ylim(1e-5, 1)
    ax.set_xlabel("standardised return")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    return _save(fig, path)


def tail_ccdf(series: dict[str, np.ndarray], path: Path, q: float = 0.05) -> Path:
    """CCDF of |r| (standardised) on log-log axes with each series' Hill 5% power law."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (name, r) in enumerate(series.items()):
        if len(r) < 20:
            continue
        a = np.sort(np.abs(r / r.std()))[::-1]
        a = a[a > 0]
        ccdf = np.arange(1, len(a) + 1) / len(a)
        color = f"C{i}"
        ax.loglog(a, ccdf, ".", ms=2, color=color, label=name)
        alpha = hill(r, q)
        k = int(q * len(a))
        if np.isfinite(alpha) and k > 0:
            x = np.geomspace(a[k], a[0], 20)
            ax.loglog(x, (k / len(a)) * (x / a[k]) ** (-alpha), "-", color=color, lw=1,
                      label=f"{name} Hill 5% = {alpha:.2f}")
    ax.set_xlim(left=0.05)
    ax.set_xlabel("|r| / sd")
    ax.set_ylabel("P(|R| > x)")
    ax.legend(fontsize=7)
    return _save(fig, path)


def autocorrelations(series: dict[str, np.ndarray], path: Path, max_lag: int = 100) -> Path:
    """ACF of r and of |r| for each series (the real series included)."""
    lags = np.arange(1, max_lag + 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
    for name, r in series.items():
        if len(r) <= max_lag + 1:
            continue
        axes[0].plot(lags, acf(r, lags), lw=0.9, label=name)
        axes[1].plot(lags, acf(np.abs(r), lags), lw=0.9, label=name)
    axes[0].set_title("ACF of r")
    axes[1].set_title("ACF of |r|")
    for ax in axes:
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xscale("log")
        ax.set_xlabel("lag")
    axes[1].legend(fontsize=7)
    return _save(fig, path)


def correlation_heatmap(corr: pd.DataFrame, path: Path) -> Path:
    """Spearman correlation of each trait with each behaviour measure."""
    table = corr.pivot(index="trait", columns="measure", values="rho")
    fig, ax = plt.subplots(figsize=(10, 2.8))
    sns.heatmap(table, annot=True, fmt=".2f", cmap="vlag", center=0, vmin=-1, vmax=1, ax=ax,
                annot_kws={"fontsize": 7})
    ax.set_xlabel("")
    ax.set_ylabel("")
    plt.setp(ax.get_xticklabels(), rotation=35, ha="right")
    return _save(fig, path)


def niche_scatter(table: pd.DataFrame, niches: list[str], x: str, y: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    sns.scatterplot(data=table.assign(niche=niches), x=x, y=y, hue="niche", s=14,
                    ax=ax, alpha=0.7)
    ax.legend(fontsize=7)
    return _save(fig, path)


def trade_network(graph: nx.Graph, path: Path, seed: int = 0) -> Path:
    """The trade network: node size by traded volume, colour by niche, edges by volume."""
    fig, ax = plt.subplots(figsize=(7, 7))
    if graph.number_of_edges() == 0:
        ax.text(0.5, 0.5, "no trades", ha="center")
        return _save(fig, path)
    pos = nx.spring_layout(graph, weight="weight", seed=seed, k=0.3)
    niches = sorted({d["niche"] for _, d in graph.nodes(data=True)})
    palette = dict(zip(niches, sns.color_palette("tab10", len(niches))))
    strength = dict(graph.degree(weight="weight"))
    top = max(strength.values()) or 1
    weights = np.array([d["weight"] for *_, d in graph.edges(data=True)])
    nx.draw_networkx_edges(graph, pos, ax=ax, alpha=0.15,
                           width=0.3 + 2 * weights / weights.max())
    for niche in niches:
        nodes = [n for n, d in graph.nodes(data=True) if d["niche"] == niche]
        nx.draw_networkx_nodes(graph, pos, nodelist=nodes, ax=ax, node_color=[palette[niche]],
                               node_size=[10 + 150 * strength[n] / top for n in nodes],
                               label=niche)
    ax.legend(fontsize=7, markerscale=0.6)
    ax.set_axis_off()
    return _save(fig, path)


def training_curve(metrics: pd.DataFrame, path: Path, title: str = "") -> Path:
    """Training reward per rollout (smoothed) and evaluation reward against steps."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    smooth = metrics["train_reward"].rolling(20, min_periods=1).mean()
    ax.plot(metrics["steps"], smooth, lw=1, label="training reward (20-rollout mean)")
    ev = metrics[metrics["eval_reward"].notna()]
    ax.plot(ev["steps"], ev["eval_reward"], "o-", ms=3, lw=1,
            label="evaluation reward (deterministic)")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xlabel("learning decisions (steps)")
    ax.set_ylabel("mean reward per decision")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    return _save(fig, path)


def distance_landscape(table: pd.DataFrame, params: list[str], path: Path) -> Path:
    """Each OT distance and the selection score against each varied parameter."""
    metrics = ["return", "tail_return", "return_ts", "score"]
    params = params or ["alpha_mean"]
    fig, axes = plt.subplots(len(metrics), len(params), figsize=(3.2 * len(params), 9),
                             squeeze=False, sharex="col")
    for i, metric in enumerate(metrics):
        for j, param in enumerate(params):
            ax = axes[i, j]
            sns.scatterplot(data=table, x=param, y=metric, ax=ax, s=18)
            best = table.iloc[0]
            ax.set_ylabel(metric if j == 0 else "")
            ax.set_title(f"best: {param} = {best[param]:.3g}" if i == 0 else "", fontsize=8)
    return _save(fig, path)


def trait_sensitivity(curves: pd.DataFrame, path: Path) -> Path:
    """Mean deterministic action (price offset, signed volume) and value against each trait
    feature swept over [-1, 1], the other features at real observations."""
    traits = list(dict.fromkeys(curves["trait"]))
    outputs = (("action_0", "price offset r (> 0 passive)"),
               ("action_1", "signed volume v (> 0 buy)"), ("value", "value"))
    fig, axes = plt.subplots(1, len(outputs), figsize=(11, 3.2))
    for ax, (col, label) in zip(axes, outputs):
        for trait in traits:
            c = curves[curves["trait"] == trait]
            ax.plot(c["feature_value"], c[col], marker=".", label=trait)
        ax.set_xlabel("trait feature (rescaled)")
        ax.set_title(label, fontsize=9)
    axes[0].legend(fontsize=8)
    return _save(fig, path)
