"""The trade network of a run (networkx): who trades with whom, and who provides liquidity.

* ``trade_graph``: undirected, traders as nodes (with traits and niche), counterparty volume as
  edge weight.
* ``liquidity_graph``: directed from the resting side (the liquidity provider) to the side that
  took it, weighted by volume.

Measures that speak to the claim that interaction matters: node strength (traded volume) by
niche and by trait quartile, trait assortativity (do similar traders trade with each other?),
and the niche-to-niche liquidity flow matrix.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pandas as pd

from .behaviour import TRAITS


def _add_nodes(g: nx.Graph, table: pd.DataFrame, niches: list[str] | None) -> None:
    for i, row in enumerate(table.itertuples(index=False)):
        attrs = {t: float(getattr(row, t)) for t in TRAITS}
        attrs["niche"] = niches[i] if niches is not None else "all"
        g.add_node(int(row.row), **attrs)


def trade_graph(trades: pd.DataFrame, table: pd.DataFrame, niches: list[str] | None = None
                ) -> nx.Graph:
    g = nx.Graph()
    _add_nodes(g, table, niches)
    pairs = trades.groupby(["buyer", "seller"])["volume"].sum()
    for (b, s), v in pairs.items():
        if b in g and s in g and b != s:
            w = g.get_edge_data(b, s, {"weight": 0.0})["weight"]
            g.add_edge(int(b), int(s), weight=w + float(v))
    return g


def liquidity_graph(trades: pd.DataFrame, table: pd.DataFrame,
                    niches: list[str] | None = None) -> nx.DiGraph:
    g = nx.DiGraph()
    _add_nodes(g, table, niches)
    maker = np.where(trades["resting_side"] == "buy", trades["buyer"], trades["seller"])
    taker = np.where(trades["resting_side"] == "buy", trades["seller"], trades["buyer"])
    flows = pd.DataFrame({"maker": maker, "taker": taker, "v": trades["volume"]}).groupby(
        ["maker", "taker"])["v"].sum()
    for (m, t), v in flows.items():
        if m in g and t in g and m != t:
            g.add_edge(int(m), int(t), weight=float(v))
    return g


def network_measures(trades: pd.DataFrame, table: pd.DataFrame,
                     niches: list[str] | None = None) -> dict:
    """Strength by niche and trait quartile, assortativity, and niche-to-niche liquidity."""
    g = trade_graph(trades, table, niches)
    strength = pd.Series(dict(g.degree(weight="weight")), dtype=float)
    nodes = pd.DataFrame.from_dict(dict(g.nodes(data=True)), orient="index")
    nodes["strength"] = strength
    by_niche = nodes.groupby("niche")["strength"].agg(["mean", "count"])
    by_quartile = {}
    for trait in TRAITS:
        if nodes[trait].nunique() > 3:
            q = pd.qcut(nodes[trait], 4, labels=["Q1", "Q2", "Q3", "Q4"], duplicates="drop")
            by_quartile[trait] = nodes.groupby(q, observed=False)["strength"].mean()
    assort = {}
    for trait in TRAITS:
        if g.number_of_edges() and nodes[trait].nunique() > 1:
            value = nx.numeric_assortativity_coefficient(g, trait)
            assort[trait] = float(value) if value is not None else math.nan
        else:
            assort[trait] = math.nan
    lg = liquidity_graph(trades, table, niches)
    niche_of = nx.get_node_attributes(lg, "niche")
    flow: dict[tuple[str, str], float] = {}
    for m, t, d in lg.edges(data=True):
        key = (niche_of[m], niche_of[t])
        flow[key] = flow.get(key, 0.0) + d["weight"]
    flow_matrix = pd.Series(flow, dtype=float).unstack(fill_value=0.0) if flow else (
        pd.DataFrame())
    return {"graph": g, "strength_by_niche": by_niche,
            "strength_by_trait_quartile": pd.DataFrame(by_quartile),
            "assortativity": assort, "liquidity_flow": flow_matrix,
            "density": nx.density(g), "edges": g.number_of_edges()}
