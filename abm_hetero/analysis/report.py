"""The report of the default experiment: the paper's two questions, answered from the numbers.

Writes, into one folder: ``report.html`` (self-contained, figures embedded), ``report.md``
with the figures beside it in ``figures/``, and the tables as CSV (``facts.csv`` one row per
scenario and seed, ``summary.csv``, ``verdicts.csv``, ``behaviour.csv``,
``trait_correlations.csv``, ``niches.csv``, ``niche_null.csv``).
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

import numpy as np
import pandas as pd

from . import figures
from .behaviour import trait_correlations
from .compare import AGGREGATED_TAILS, CLUSTERING, MARKET, SIGNIFICANCE, Comparison
from .network import network_measures
from .niches import find_niches, niche_traits, trait_silhouette_null

QUESTIONS = (
    "Do learned behaviours differentiate along the traits (risk-averse traders hold smaller "
    "positions, impatient ones trade more aggressively, well-informed ones trade on the "
    "fundamental gap), and do niches form?",
    "Does the interaction of differentiated learners produce realistic market dynamics (fat "
    "tails, volatility clustering, no linear autocorrelation, aggregational Gaussianity), where "
    "homogeneous learners and non-learning heterogeneous traders do not?",
)
#: (trait, measure, the hypothesis, its expected sign, whether the measure scales with the
#: endowment and is compared by partial correlation given the initial holding); the gamma
#: hypothesis is the one the reward's economics predicts (docs/learning.md); the sigma one reads
#: the gap from its run average, because the market prices its risk at a steady discount and
#: the raw gap's side is buying almost always (docs/analysis.md)
NAMED_PAIRS = (
    ("alpha", "position_late", "risk-averse traders (high alpha) hold smaller positions", -1,
     True),
    ("gamma", "aggressiveness", "patient traders (high gamma) trade more aggressively: they "
                                "pay the spread now for gains that come later", 1, False),
    ("sigma", "relative_gap_agreement", "well-informed traders (low sigma) trade on the side "
                                        "of the fundamental gap (measured from its average)",
     -1, False),
)
SECTIONS = ("Setup", "Headline", "Question 1", "Question 2", "Figures")


class Document:
    """Paragraphs, tables and figures rendered both as Markdown and as self-contained HTML."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.blocks: list[tuple[str, object]] = []

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(("h", (level, text)))

    def text(self, text: str) -> None:
        self.blocks.append(("p", text))

    def bullets(self, items: list[str]) -> None:
        self.blocks.append(("ul", items))

    def table(self, df: pd.DataFrame, index: bool = True) -> None:
        self.blocks.append(("table", (df, index)))

    def figure(self, path: Path, caption: str) -> None:
        self.blocks.append(("fig", (path, caption)))

    def markdown(self, root: Path) -> str:
        out = [f"# {self.title}", ""]
        for kind, content in self.blocks:
            if kind == "h":
                level, text = content
                out += ["#" * level + " " + text, ""]
            elif kind == "p":
                out += [content, ""]
            elif kind == "ul":
                out += [f"- {item}" for item in content] + [""]
            elif kind == "table":
                df, index = content
                out += [_markdown_table(df, index), ""]
            else:
                path, caption = content
                out += [f"![{caption}]({path.relative_to(root).as_posix()})", "",
                        f"*{caption}*", ""]
        return "\n".join(out)

    def html(self) -> str:
        title = html.escape(self.title)
        parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{title}"
                 "</title><style>body{font-family:sans-serif;max-width:1100px;margin:auto;"
                 "padding:1em}table{border-collapse:collapse;font-size:13px;margin:.5em 0}"
                 "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}"
                 "img{max-width:100%}</style></head><body>",
                 f"<h1>{html.escape(self.title)}</h1>"]
        for kind, content in self.blocks:
            if kind == "h":
                level, text = content
                parts.append(f"<h{level}>{html.escape(text)}</h{level}>")
            elif kind == "p":
                parts.append(f"<p>{html.escape(content)}</p>")
            elif kind == "ul":
                parts.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in content)
                             + "</ul>")
            elif kind == "table":
                df, index = content
                parts.append(df.to_html(index=index, na_rep="n/a", float_format="{:.3f}".format))
            else:
                path, caption = content
                data = base64.b64encode(Path(path).read_bytes()).decode()
                parts.append(f"<figure><img src='data:image/png;base64,{data}' "
                             f"alt='{html.escape(caption)}'><figcaption>{html.escape(caption)}"
                             "</figcaption></figure>")
        parts.append("</body></html>")
        return "\n".join(parts)


def _fmt(value) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def _markdown_table(df: pd.DataFrame, index: bool) -> str:
    cols = [str(c) if not isinstance(c, tuple) else " ".join(map(str, c)) for c in df.columns]
    head = ([df.index.name or ""] if index else []) + cols
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for idx, row in df.iterrows():
        cells = ([str(idx)] if index else []) + [_fmt(v) for v in row.tolist()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _share(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.0%}"


def _question_two(comp: Comparison, shares: pd.DataFrame) -> list[str]:
    scen = comp.settings.scenarios
    n = len(comp.settings.seeds)
    lines = []
    for s in scen:
        shown = [f for f in shares.index if shares.loc[f, s] == shares.loc[f, s]
                 and shares.loc[f, s] > 0.5]
        failed = [r for r in comp.runs if r.scenario == s and r.error]
        note = f" ({len(failed)} of {n} runs could not be analysed: {failed[0].error})" \
            if failed else ""
        lines.append(f"{s}: shows {len(shown)} of {len(shares)} facts in most seeds"
                     f"{': ' + ', '.join(shown) if shown else ''}{note}.")
    key = ("fat tails", "volatility clustering", "no linear autocorrelation",
           "aggregational Gaussianity")
    if "learned-heterogeneous" in scen:
        het = shares["learned-heterogeneous"]
        others = [s for s in scen if s != "learned-heterogeneous"]
        unique = [f for f in key if het.get(f, 0) > 0.5
                  and all(not (shares.loc[f, o] > 0.5) for o in others)]
        both = all(het.get(f, 0) > 0.5 for f in key)
        verdict = ("Yes" if both and unique else "Partly" if any(het.get(f, 0) > 0.5
                                                                  for f in key) else "No")
        lines.append(
            f"Answer: {verdict}. The learned heterogeneous market shows "
            f"{sum(het.get(f, 0) > 0.5 for f in key)} of the 4 core facts "
            f"({', '.join(f for f in key if het.get(f, 0) > 0.5) or 'none'}); facts it shows "
            f"and no other scenario does: {', '.join(unique) or 'none'}."
        )
    return lines


def _question_one(corr: pd.DataFrame) -> list[str]:
    lines = []
    for trait, measure, claim, sign, partial in NAMED_PAIRS:
        row = corr[(corr["trait"] == trait) & (corr["measure"] == measure)]
        cols = ["partial_rho", "partial_low", "partial_high"] if partial and (
            "partial_rho" in corr) else ["rho", "low", "high"]
        if row.empty or math.isnan(row[cols[0]].iloc[0]):
            lines.append(f"{claim}: not measurable (no spread).")
            continue
        rho, lo, hi = row[cols].iloc[0]
        significant = lo > 0 or hi < 0
        agrees = significant and np.sign(rho) == sign
        word = "supported" if agrees else ("opposite sign" if significant else "not significant")
        given = " | initial_shares" if cols[0] == "partial_rho" else ""
        kind = "partial Spearman" if given else "Spearman"
        lines.append(f"{claim}: {kind} rho({trait}, {measure}{given}) = {rho:.3f} "
                     f"[95% CI {lo:.3f}, {hi:.3f}]: {word}.")
    sig = corr[(corr["low"] > 0) | (corr["high"] < 0)]
    lines.append(f"{len(sig)} of {corr['rho'].notna().sum()} trait-behaviour correlations have a "
                 "95% bootstrap interval that excludes zero"
                 + (": " + "; ".join(f"{r.trait}~{r.measure} {r.rho:+.2f}"
                                     for r in sig.itertuples()) if len(sig) else "."))
    return lines


def _clustering_and_tails(doc: Document, comp: Comparison) -> None:
    """The tables of volatility clustering and of fat tails under aggregation, seed ranges."""
    doc.heading("Volatility clustering, median [min, max] across seeds")
    doc.text("ACF of |r| at lags 1, 10, 50; Ljung-Box Q(10) of |r| per tick (lb_abs_1) and of "
             "the absolute non-overlapping 10-tick sums (lb_abs_10), chi2(10) p-values; "
             "GARCH(1,1) against constant variance, both with Student-t innovations: the "
             "persistence alpha + beta and the likelihood ratio with its chi2(2) p-value "
             "(conservative). Read the persistence only where the test rejects. Each p-value "
             f"row counts the seeds with p < {SIGNIFICANCE:g}. The reference's periods are its "
             "own (days for the built-in indices).")
    doc.table(comp.seed_ranges(CLUSTERING))
    doc.heading("Fat tails under aggregation, median [min, max] across seeds")
    doc.text("Excess kurtosis and Hill 5% index of non-overlapping 1-, 10- and 100-tick sums of "
             "returns; n/a where the aggregated series is too short (fewer than 4 sums for the "
             "kurtosis, fewer than 5 tail values for the Hill index).")
    doc.table(comp.seed_ranges(AGGREGATED_TAILS))
    doc.heading("The price's tie to the fundamental and participation, median [min, max] "
                "across seeds")
    doc.text("fundamental_share_h: R^2 of the price's log returns over non-overlapping h-tick "
             "windows regressed on the fundamental's over the same windows (the share of the "
             "price's variance the fundamental explains); no_fill_fraction: learning traders "
             "with no fill after the burn-in (n/a without learning traders); mean_abs_log_gap: "
             "mean |log(price / fundamental)|; empty_side_ticks: fraction of ticks with an "
             "empty side of the book. The reference column is n/a: it has no fundamental.")
    doc.table(comp.seed_ranges(MARKET, reference=False))


def _niche_null(doc: Document, table: pd.DataFrame, labels: np.ndarray, out: Path) -> None:
    """The permutation test of whether the niches are trait-specific, beside the niches."""
    null = trait_silhouette_null(table, labels)
    pd.DataFrame([null]).to_csv(out / "niche_null.csv", index=False)
    if math.isnan(null["observed"]):
        doc.text("Trait-specific niches: not testable (one niche or no varying trait).")
        return
    doc.text(f"Trait-specific niches? Silhouette of the niches in z-scored trait space "
             f"({null['traits']}): {null['observed']:.3f}; with the traits permuted among the "
             f"traders of each seed ({null['permutations']} permutations) its 95th percentile "
             f"is {null['null_95']:.3f}; permutation p = {null['p_value']:.3f}.")


def write_report(comp: Comparison, out: Path, focus: str = "learned-heterogeneous",
                 n_boot: int = 1000) -> Path:
    """Write the report and its tables into the folder ``out``; returns the HTML path."""
    out = Path(out)
    figdir = out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    s = comp.settings
    doc = Document("abm-hetero: learned heterogeneous traders against controls and real data")

    doc.heading("Setup")
    doc.text(f"Scenarios: {', '.join(s.scenarios)}; seeds {', '.join(map(str, s.seeds))}; "
             f"{s.traders} traders; {s.ticks} ticks per run, the first {s.burn_in} discarded; "
             f"returns are tick-to-tick log changes of the mid price. Reference series: "
             f"{comp.reference.name} ({len(comp.reference.returns())} returns). Estimators: "
             "those of docs/analysis.md.")
    doc.heading("The two questions")
    doc.bullets([f"Q{i + 1}. {q}" for i, q in enumerate(QUESTIONS)])

    facts = comp.facts_frame()
    facts.to_csv(out / "facts.csv", index=False)
    comp.summary().to_csv(out / "summary.csv")
    doc.heading("Headline: stylized facts, mean ± sd across seeds")
    doc.table(comp.headline())
    shares = comp.verdict_shares()
    shares.to_csv(out / "verdicts.csv")
    doc.heading("Which facts each market shows (share of seeds)")
    doc.table(shares.map(lambda v: _share(v) if not isinstance(v, str) else v))
    _clustering_and_tails(doc, comp)

    doc.heading("Q2: realistic dynamics from interaction?")
    doc.bullets(_question_two(comp, shares))

    doc.heading(f"Q1: behaviour by trait and niches ({focus})")
    corr = None
    if focus in s.scenarios:
        table = comp.behaviour(focus)
        table.to_csv(out / "behaviour.csv", index=False)
        corr = trait_correlations(table, n_boot=n_boot)
        corr.to_csv(out / "trait_correlations.csv", index=False)
        doc.bullets(_question_one(corr))
        niches = find_niches(table)
        names = [niches["names"][i] for i in niches["labels"]]
        traits = niche_traits(table, niches["labels"], niches["names"])
        traits.to_csv(out / "niches.csv")
        doc.text(f"Niches: {niches['k']} ({niches['criterion']}).")
        doc.table(traits)
        _niche_null(doc, table, niches["labels"], out)
        first = table["seed"] == table["seed"].iloc[0]
        run0 = next(r for r in comp.runs if r.scenario == focus)
        net = network_measures(run0.trades, table[first], list(np.array(names)[first.values]))
        doc.text("Trade network (first seed): trait assortativity "
                 + ", ".join(f"{k} {v:.3f}" for k, v in net["assortativity"].items())
                 + f"; density {net['density']:.3f}, {net['edges']} trading pairs.")
        doc.table(net["strength_by_niche"].rename(columns={"mean": "mean strength",
                                                            "count": "traders"}))
        if not net["strength_by_trait_quartile"].empty:
            doc.text("Mean traded volume (strength) by trait quartile:")
            doc.table(net["strength_by_trait_quartile"])
        if not net["liquidity_flow"].empty:
            doc.text("Liquidity flow (volume) from resting niche (rows) to taking niche "
                     "(columns):")
            doc.table(net["liquidity_flow"])
    else:
        doc.text(f"{focus} was not among the scenarios run.")

    doc.heading("Figures")
    first_runs = [next(r for r in comp.runs if r.scenario == sc) for sc in s.scenarios]
    series = {r.scenario: r.returns for r in first_runs if len(r.returns)}
    series[comp.reference.name] = comp.reference.returns()
    doc.figure(figures.price_paths(first_runs, figdir / "prices.png"),
               "Price (mid) and fundamental, first seed of each scenario")
    doc.figure(figures.return_distributions(series, figdir / "returns.png"),
               "Distribution of standardised returns (log scale) against a Gaussian")
    doc.figure(figures.tail_ccdf(series, figdir / "tails.png"),
               "CCDF of |r| with the Hill 5% power law of each series")
    doc.figure(figures.autocorrelations(series, figdir / "acf.png"),
               "ACF of r and of |r|, the real series included")
    if corr is not None:
        doc.figure(figures.correlation_heatmap(corr, figdir / "trait_behaviour.png"),
                   f"Spearman correlation of traits with behaviour ({focus}, all seeds)")
        doc.figure(figures.niche_scatter(table, names, "aggressiveness", "maker_share",
                                         figdir / "niches.png"),
                   f"Niches of {focus} traders (all seeds)")
        doc.figure(figures.trade_network(net["graph"], figdir / "network.png"),
                   f"Trade network of {focus} (first seed), nodes coloured by niche")

    (out / "report.md").write_text(doc.markdown(out))
    path = out / "report.html"
    path.write_text(doc.html())
    return path

