"""Niches: groups of traders that behave alike, found by clustering their behaviour.

Traders are clustered with k-means on their standardised behaviour measures; the number of
clusters ``k`` (2 to 6) is the one with the highest silhouette score, and if no ``k`` reaches a
silhouette of 0.25 the population is reported as one niche (no clear structure). Each niche is
named after the most distinctive feature of its centre, in standard deviations from the
population mean:

* high ``maker_share`` or very passive quotes -> "liquidity provider"
* high ``aggressiveness`` or low ``maker_share`` -> "aggressive taker"
* high ``fundamental_agreement`` -> "fundamentalist"
* high ``momentum_agreement`` -> "trend follower"; low -> "contrarian"
* high ``net_position_late`` (bought beyond its endowment) -> "accumulator"; low ->
  "distributor"
* high ``informed_fill_share`` -> "informed trader"
* low ``order_rate``/``fill_rate`` -> "inactive"

The features leave out the endowment: a position is measured net of the trader's initial
holding, so that traders who merely started with more shares do not form a niche.

The clustering sees behaviour only, so whether niches are *trait-specific* is a separate
question, answered by :func:`trait_silhouette_null`: the silhouette of the niches in the space
of standardised traits against its distribution when traits are permuted among traders.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import pdist, squareform

from .behaviour import TRAITS

CLUSTER_FEATURES = (
    "net_position_late", "aggressiveness", "order_size", "fill_rate", "maker_share",
    "fundamental_agreement", "momentum_agreement", "informed_fill_share",
)
MIN_SILHOUETTE = 0.25
#: permutations of the traits in the niche null model
NULL_PERMUTATIONS = 199
_NAMES = {  # (feature, sign of the centre's z-score) -> niche name
    ("maker_share", 1): "liquidity provider",
    ("aggressiveness", -1): "liquidity provider",
    ("aggressiveness", 1): "aggressive taker",
    ("maker_share", -1): "aggressive taker",
    ("fundamental_agreement", 1): "fundamentalist",
    ("momentum_agreement", 1): "trend follower",
    ("momentum_agreement", -1): "contrarian",
    ("net_position_late", 1): "accumulator",
    ("net_position_late", -1): "distributor",
    ("informed_fill_share", 1): "informed trader",
    ("informed_fill_share", -1): "uninformed trader",
    ("mean_abs_inventory", 1): "position holder",
    ("fill_rate", -1): "inactive",
    ("order_size", 1): "large orders",
    ("order_size", -1): "small orders",
    ("fundamental_agreement", -1): "anti-fundamentalist",
    ("mean_abs_inventory", -1): "flat book",
    ("fill_rate", 1): "frequent trader",
}


def _standardised(table: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    cols = [c for c in CLUSTER_FEATURES if c in table and _varies(table[c])]
    x = table[cols].astype(float)
    x = x.fillna(x.median())
    z = (x - x.mean()) / x.std(ddof=0)
    return z.to_numpy(), cols


def find_niches(table: pd.DataFrame, seed: int = 0, k_range=range(2, 7),
                min_silhouette: float = MIN_SILHOUETTE) -> dict:
    """Cluster traders by behaviour; returns labels, niche names, centres and the criterion
    (one niche when no k reaches ``min_silhouette``)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    z, cols = _standardised(table)
    n = len(z)
    scores = {}
    fits = {}
    for k in k_range:
        if k >= n:
            break
        km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(z)
        if len(set(km.labels_)) < 2:
            continue
        scores[k] = float(silhouette_score(z, km.labels_))
        fits[k] = km
    if scores and max(scores.values()) >= min_silhouette:
        k = max(scores, key=scores.get)
        labels = fits[k].labels_
        centres = pd.DataFrame(fits[k].cluster_centers_, columns=cols)
    else:
        k = 1
        labels = np.zeros(n, dtype=int)
        centres = pd.DataFrame([np.zeros(len(cols))], columns=cols)
    names = name_niches(centres) if k > 1 else ["one niche (no clear clusters)"]
    return {"k": k, "labels": labels, "names": names, "centres": centres,
            "silhouette": scores,
            "criterion": f"k-means on standardised {', '.join(cols)}; k in 2..6 with the best "
                         f"silhouette, one niche if no silhouette reaches {min_silhouette}"}


def name_niches(centres: pd.DataFrame) -> list[str]:
    """Name each cluster centre after its most distinctive feature (unique names)."""
    names = []
    for _, centre in centres.iterrows():
        ranked = centre.abs().sort_values(ascending=False).index
        name = "mixed"
        for feature in ranked:
            key = (feature, int(np.sign(centre[feature])))
            if key in _NAMES and abs(centre[feature]) >= 0.3:
                name = _NAMES[key]
                break
        names.append(name)
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if names.count(name) == 1 else f"{name} {seen[name]}")
    return out


def niche_traits(table: pd.DataFrame, labels: np.ndarray, names: list[str]) -> pd.DataFrame:
    """Mean traits and size of each niche, with a Kruskal-Wallis p-value per trait."""
    t = table.assign(niche=[names[i] for i in labels])
    summary = t.groupby("niche")[list(TRAITS)].mean()
    summary.insert(0, "traders", t.groupby("niche").size())
    pvals = {}
    for trait in TRAITS:
        groups = [g[trait].to_numpy() for _, g in t.groupby("niche")]
        if len(groups) > 1 and np.ptp(t[trait]) > 0:
            pvals[trait] = float(stats.kruskal(*groups).pvalue)
        else:
            pvals[trait] = np.nan
    summary.loc["Kruskal-Wallis p"] = [np.nan, *[pvals[t_] for t_ in TRAITS]]
    return summary


def _varies(column: pd.Series) -> bool:
    """Whether a column takes more than one value (pandas' standard deviation of a constant
    column can be a rounding error above 0)."""
    return column.dropna().nunique() > 1


def _trait_distances(table: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Euclidean distances between traders in their z-scored traits (traits that vary only)."""
    cols = [t for t in TRAITS if t in table and _varies(table[t])]
    x = table[cols].astype(float)
    z = ((x - x.mean()) / x.std(ddof=0)).fillna(0.0).to_numpy()
    return squareform(pdist(z)), cols


def _permutation(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random permutation of the rows that moves each row only within its group."""
    perm = np.arange(len(groups))
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        perm[idx] = rng.permutation(idx)
    return perm


def trait_silhouette_null(table: pd.DataFrame, labels: np.ndarray,
                          permutations: int = NULL_PERMUTATIONS, seed: int = 0,
                          group: str = "seed") -> dict:
    """Are the behaviour niches trait-specific? A permutation test of their trait silhouette.

    The niches come from behaviour alone, so permuting traits cannot change them; what the
    traits can change is how well the niches separate *in trait space*. The statistic is the
    silhouette of the niche labels computed on the traders' z-scored traits (those that vary):
    high when traders of one niche have similar traits and differ from the other niches'. The
    null distribution permutes the traits among traders (the niches held fixed), within each
    ``group`` (each market, when the table pools seeds) so that traders are exchanged only
    inside the market they traded in; under "traits do not shape the niche" every permutation
    is as likely as the observed assignment. p-value: ``(1 + #{null >= observed}) /
    (permutations + 1)``. NaN throughout with one niche or no varying trait.
    """
    from sklearn.metrics import silhouette_score

    labels = np.asarray(labels)
    d, traits = _trait_distances(table)
    result = {"observed": math.nan, "null_95": math.nan, "p_value": math.nan,
              "permutations": permutations, "traits": ", ".join(traits)}
    if len(set(labels)) < 2 or not traits:
        return result
    groups = table[group].to_numpy() if group in table else np.zeros(len(labels))
    rng = np.random.default_rng(seed)
    observed = float(silhouette_score(d, labels, metric="precomputed"))
    # permuting the traits among traders is permuting the labels against fixed trait distances
    null = np.array([silhouette_score(d, labels[_permutation(groups, rng)],
                                      metric="precomputed") for _ in range(permutations)])
    result.update(observed=observed, null_95=float(np.quantile(null, 0.95)),
                  p_value=float((1 + np.sum(null >= observed)) / (permutations + 1)))
    return result
