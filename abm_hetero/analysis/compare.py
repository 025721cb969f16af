"""The default experiment: named scenarios over the same market and seeds, against real data.

Every scenario runs for the same seeds on the same market settings. From each run the analysis
takes the reference-price series (the mid, or the last trade when a side of the book is empty)
after a burn-in, computes every stylized fact, and keeps the per-trader behaviour table; the
comparison reports each fact's mean and spread across seeds beside the real series' value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..defaults import BURN_IN, SEEDS, TICKS, TRADERS
from ..experiments import run_market, scenario_settings
from ..market import raw_log_returns
from ..scenarios import POPULATIONS
from ..validation import MAX_COUNT, MAX_TICKS, check, check_number
from .behaviour import behaviour_table, run_data
from .data import PriceSeries, load_reference
from .market_measures import MEASURE_KEYS, market_measures
from .stylized_facts import (
    KEYS,
    MAX_LAG,
    MIN_RETURNS,
    AnalysisError,
    log_returns,
    stylized_facts,
    verdicts,
)

SCENARIOS = ("learned-heterogeneous", "learned-homogeneous", "fcn", "zero-intelligence")
HEADLINE = ("kurt_1", "kurt_20", "hill_5pct", "acf_r_1", "acf_abs_1", "acf_abs_10",
            "acf_abs_100", "beta_abs", "lev_mean_1_10", "vv_corr")
#: the report's volatility-clustering table: ACF(|r|), Ljung-Box on |r| at 1 and 10 periods,
#: GARCH(1,1)-t against constant variance
CLUSTERING = ("acf_abs_1", "acf_abs_10", "acf_abs_50", "lb_abs_1", "lb_abs_1_p", "lb_abs_10",
              "lb_abs_10_p", "garch_persistence", "garch_lr", "garch_lr_p")
#: the report's table of tails under aggregation (1, 10 and 100 periods)
AGGREGATED_TAILS = ("kurt_1", "kurt_10", "kurt_100", "hill_5pct", "hill_5pct_10",
                    "hill_5pct_100")
#: the report's table of the price's tie to the fundamental and of the traders' participation
MARKET = MEASURE_KEYS
#: p-values are also counted: the seeds whose test rejects at this level
SIGNIFICANCE = 0.01


@dataclass
class ExperimentSettings:
    scenarios: list[str] = field(default_factory=lambda: list(SCENARIOS))
    seeds: list[int] = field(default_factory=lambda: list(range(SEEDS)))
    ticks: int = TICKS
    traders: int = TRADERS
    burn_in: int = BURN_IN
    reference: str = "sp500"

    def __post_init__(self) -> None:
        unknown = [s for s in self.scenarios if s not in POPULATIONS]
        check(not unknown, f"unknown scenario(s) {', '.join(unknown)}; choose from "
                           f"{', '.join(POPULATIONS)}")
        check(bool(self.scenarios), "at least one scenario is needed")
        check(bool(self.seeds), "at least one seed is needed")
        check_number("traders", self.traders, 2, MAX_COUNT)
        check_number("burn_in", self.burn_in, 0, MAX_TICKS)
        check(self.ticks - self.burn_in > MIN_RETURNS,
              f"ticks must exceed the burn-in ({self.burn_in}) by at least {MIN_RETURNS + 1} to "
              f"measure the lags up to {MAX_LAG}; got ticks={self.ticks}")


@dataclass
class Run:
    """What the report keeps of one simulated market."""

    scenario: str
    seed: int
    prices: pd.DataFrame  # tick, reference price, fundamental, last price
    returns: np.ndarray
    facts: dict[str, float]
    behaviour: pd.DataFrame
    trades: pd.DataFrame
    error: str | None = None
    #: :func:`~abm_hetero.analysis.market_measures.market_measures` of the run
    measures: dict[str, float] = field(default_factory=dict)


def simulate(scenario: str, seed: int, ticks: int, traders: int, burn_in: int) -> Run:
    """Run one scenario for one seed and analyse it."""
    model = run_market(scenario_settings(scenario, seed, traders=traders, ticks=ticks))
    run = run_data(model)
    market = run["market"]
    ref = pd.Series(model.exchange.price_history("reference").values, index=market.index)
    prices = pd.DataFrame({"tick": market["tick"], "price": ref,
                           "fundamental": market["fundamental"],
                           "last_price": market["last_price"]})
    kept = market["tick"] >= burn_in
    p = ref[kept].to_numpy()
    volume = market["volume"][kept].to_numpy(float)[1:]
    error = None
    try:
        r = log_returns(p)
        raw = raw_log_returns(p)
        facts = stylized_facts(r, volume[np.isfinite(raw)])
    except AnalysisError as exc:
        r = np.array([])
        facts = {k: math.nan for k in KEYS}
        error = str(exc)
    try:
        measures = market_measures(market.assign(reference=ref), run["trades"], run["traders"],
                                   burn_in, price="reference")
    except AnalysisError:
        measures = {k: math.nan for k in MEASURE_KEYS}
    return Run(scenario, seed, prices, r, facts, behaviour_table(run), run["trades"], error,
               measures)


@dataclass
class Comparison:
    settings: ExperimentSettings
    runs: list[Run]
    reference: PriceSeries
    reference_facts: dict[str, float]

    def facts_frame(self) -> pd.DataFrame:
        """One row per (scenario, seed) with every stylized fact and market measure."""
        return pd.DataFrame([{"scenario": r.scenario, "seed": r.seed, **r.facts, **r.measures}
                             for r in self.runs])

    def summary(self, keys=KEYS) -> pd.DataFrame:
        """Mean and standard deviation across seeds of each fact, beside the reference."""
        df = self.facts_frame()
        rows = []
        for key in keys:
            row = {"fact": key}
            for scenario in self.settings.scenarios:
                x = df.loc[df["scenario"] == scenario, key].astype(float)
                row[(scenario, "mean")] = x.mean()
                row[(scenario, "sd")] = x.std(ddof=1) if x.notna().sum() > 1 else math.nan
            row[(self.reference.name, "value")] = self.reference_facts[key]
            rows.append(row)
        out = pd.DataFrame(rows).set_index("fact")
        out.columns = pd.MultiIndex.from_tuples(out.columns)
        return out

    def headline(self) -> pd.DataFrame:
        """The report's headline table: 'mean ± sd' per scenario and the reference value."""
        s = self.summary(HEADLINE)
        out = pd.DataFrame(index=s.index)
        for scenario in self.settings.scenarios:
            m, sd = s[(scenario, "mean")], s[(scenario, "sd")]
            out[scenario] = [f"{a:.3f} ± {b:.3f}" if np.isfinite(b) else f"{a:.3f}"
                             for a, b in zip(m, sd)]
        out[self.reference.name] = [f"{v:.3f}" for v in s[(self.reference.name, "value")]]
        return out

    def seed_ranges(self, keys: tuple[str, ...], reference: bool = True) -> pd.DataFrame:
        """'median [min, max]' across seeds per scenario, beside the reference's value
        (``reference=False``: 'n/a', for measures a real series has no value of).

        For a p-value (a key ending in ``_p``) the cell also counts the seeds with
        p < ``SIGNIFICANCE``: a median p-value alone hides whether most seeds reject.
        """
        df = self.facts_frame()
        out = pd.DataFrame(index=pd.Index(keys, name="fact"))
        for scenario in self.settings.scenarios:
            rows = df[df["scenario"] == scenario]
            out[scenario] = [_seed_range(rows[key].astype(float), key.endswith("_p"))
                             for key in keys]
        out[self.reference.name] = [
            _number(self.reference_facts[key], key.endswith("_p")) if reference else "n/a"
            for key in keys]
        return out

    def verdict_shares(self) -> pd.DataFrame:
        """For each scenario and fact, the share of seeds whose series shows the fact."""
        rows = []
        for run in self.runs:
            if run.error:
                continue
            v = verdicts(run.facts, run.returns)
            for _, row in v.iterrows():
                rows.append({"scenario": run.scenario, "fact": row["fact"],
                             "shown": row["shown"], "criterion": row["criterion"]})
        ref = verdicts(self.reference_facts, self.reference.returns())
        df = pd.DataFrame(rows)
        table = df.groupby(["fact", "scenario"], sort=False)["shown"].apply(
            lambda s: s.dropna().mean() if s.notna().any() else math.nan).unstack()
        table = table.reindex(columns=self.settings.scenarios)
        table[self.reference.name] = ref.set_index("fact")["shown"].astype(float)
        table["criterion"] = ref.set_index("fact")["criterion"]
        return table.reindex(ref["fact"])

    def behaviour(self, scenario: str) -> pd.DataFrame:
        """Per-trader behaviour pooled over the seeds of one scenario."""
        frames = [r.behaviour.assign(seed=r.seed) for r in self.runs if r.scenario == scenario]
        return pd.concat(frames, ignore_index=True)


def _number(value: float, p_value: bool) -> str:
    """Two significant digits for a p-value, three for any other statistic."""
    if not math.isfinite(value):
        return "n/a"
    if p_value and value == 0:
        return "< 1e-300"  # below the smallest double: the chi2 tail underflowed
    return f"{value:.2g}" if p_value else f"{value:.3g}"


def _seed_range(values: pd.Series, p_value: bool) -> str:
    """'median [min, max]' of the finite values; with a count of rejections for p-values."""
    x = values[np.isfinite(values)]
    if x.empty:
        return "n/a"
    text = _number(float(x.median()), p_value)
    if len(x) > 1:
        text += f" [{_number(float(x.min()), p_value)}, {_number(float(x.max()), p_value)}]"
    if p_value:
        text += f"; {int((x < SIGNIFICANCE).sum())}/{len(x)} < {SIGNIFICANCE:g}"
    if len(x) < len(values):
        text += f" ({len(values) - len(x)} n/a)"
    return text


def compare(settings: ExperimentSettings, progress: Callable[[str], None] | None = None,
            reference: PriceSeries | None = None) -> Comparison:
    """Run every scenario for every seed (sequentially) and compare with the reference."""
    reference = reference or load_reference(settings.reference)
    ref_facts = stylized_facts(reference.returns(), reference.return_volume())
    jobs = [(s, seed) for s in settings.scenarios for seed in settings.seeds]
    runs = []
    bar = None
    if progress is None:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc="markets", unit="run")
    for scenario, seed in jobs:
        runs.append(simulate(scenario, seed, settings.ticks, settings.traders, settings.burn_in))
        if bar is not None:
            bar.update(1)
        else:
            progress(f"{scenario} seed {seed} done")
    if bar is not None:
        bar.close()
    return Comparison(settings, runs, reference, ref_facts)
