"""``MarketModel``: the Mesa model that wires the market, the traders and data collection.

One ``step()`` is one market tick (docs/market.md):

1. the fundamental value moves;
2. the market maker expires stale orders (and quotes, if enabled);
3. each trader is active with its group's activity rate;
4. each group decides for all its active traders in one batched pass (one policy call per tick
   for learning traders);
5. the orders are submitted in a random order; each is matched on arrival and settled;
6. groups run their end-of-tick hook (learning traders' rewards);
7. the maker publishes the end-of-tick market state and the DataCollector records the market
   series; per-trader records are collected every ``trader_report_period`` ticks.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import mesa
import numpy as np
import pandas as pd

from .agents.base import OrderBatch, TraderGroup
from .agents.dealer import Dealer, QuoteRule
from .agents.exchange import Exchange
from .agents.registry import group_class
from .errors import SettingsError
from .market import Accounts, FundamentalProcess
from .scenarios import KEYWORD_DEFAULTS, POPULATIONS, keyword_settings
from .settings import MarketSettings, Settings
from .traits import TRAIT_CAPS
from .validation import MAX_COUNT, MAX_TICKS, check, check_number

if TYPE_CHECKING:
    from .agents.audit import DecisionAudit
    from .agents.learning import Decision
    from .learning.buffer import RolloutBuffer
    from .learning.policy import Policy

MARKET_REPORTERS = {
    "mid": lambda m: m.exchange.state.mid,
    "last_price": lambda m: m.exchange.state.market_price,
    "fundamental": lambda m: m.fundamental.value,
    "best_bid": lambda m: m.exchange.state.best_bid,
    "best_ask": lambda m: m.exchange.state.best_ask,
    "spread": lambda m: m.exchange.state.spread,
    "volume": lambda m: m.exchange.state.volume,
    "trades": lambda m: m.exchange.state.trades,
    "bid_depth": lambda m: m.exchange.state.bid_depth,
    "ask_depth": lambda m: m.exchange.state.ask_depth,
}
TRADER_REPORTERS = {
    "row": "row",
    "cash": "cash",
    "shares": "shares",
    "wealth": "wealth",
    "alpha": "alpha",
    "gamma": "gamma",
    "sigma": "sigma",
}


#: the whole-number keywords of ``MarketModel`` and their ranges
INT_KEYWORDS: dict[str, tuple[int, int]] = {
    "traders": (1, MAX_COUNT), "ticks": (1, MAX_TICKS), "seed": (0, 2 ** 63 - 1),
}
#: the real-number keywords of ``MarketModel``: (low, high[, (low open, high open)]). gamma's
#: range ends at 0.999, the top of the heterogeneous preset and of the page's control
FLOAT_KEYWORDS: dict[str, tuple] = {
    "alpha_mean": (0.0, TRAIT_CAPS["alpha"]), "alpha_sd": (0.0, TRAIT_CAPS["alpha"]),
    "sigma_mean": (0.0, TRAIT_CAPS["sigma"]), "sigma_sd": (0.0, TRAIT_CAPS["sigma"]),
    "gamma_low": (0.0, 0.999, (True, True)), "gamma_high": (0.0, 0.999, (True, False)),
    "fundamental_volatility": MarketSettings.RANGES["fundamental_volatility"],
}


def check_keywords(keywords: dict[str, Any]) -> None:
    """Refuse a ``MarketModel`` keyword of the wrong type (:class:`TypeError`) or value
    (:class:`~abm_hetero.errors.SettingsError`, a :class:`ValueError`), naming it.

    Nothing is coerced or repaired: a whole-number keyword takes an ``int`` or a NumPy integer
    (not a ``bool``, not a float, even a whole one), a real-number keyword any real number but a
    ``bool``, and a value outside its range (a reversed gamma range included) is an error, as
    in a settings file. ``None`` stands for a keyword left out.
    """
    given = {k: v for k, v in keywords.items() if v is not None}
    for name, value in given.items():
        if name == "population":
            if not isinstance(value, str):
                raise TypeError(f"population must be text, got {value!r}")
            check(value in POPULATIONS, f"population must be one of "
                                        f"{', '.join(POPULATIONS)}, got {value!r}")
        elif name in INT_KEYWORDS:
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
                raise TypeError(f"{name} must be a whole number (int), got {value!r}")
            check_number(name, int(value), *INT_KEYWORDS[name])
        elif name in FLOAT_KEYWORDS:
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
                raise TypeError(f"{name} must be a real number, got {value!r}")
            low, high, *opens = FLOAT_KEYWORDS[name]
            check_number(name, float(value), low, high, *(opens[0] if opens else ()))
    low, high = given.get("gamma_low"), given.get("gamma_high")
    if low is not None or high is not None:
        low = KEYWORD_DEFAULTS["gamma_low"] if low is None else low
        high = KEYWORD_DEFAULTS["gamma_high"] if high is None else high
        check(low < high, f"gamma_low must be below gamma_high (gamma is uniform on "
                          f"[gamma_low, gamma_high)), got gamma_low={low!r}, "
                          f"gamma_high={high!r}")


def _check_type(name: str, value: Any, module: str, cls: str) -> None:
    """``value`` must be None or an instance of ``cls`` (imported lazily: it may need torch)."""
    if value is not None:
        import importlib

        expected = getattr(importlib.import_module(module, __package__), cls)
        if not isinstance(value, expected):
            raise TypeError(f"{name} must be a {cls} or None, got {type(value).__name__}")


class MarketModel(mesa.Model):
    """A limit-order-book market with heterogeneous traders.

    Build it from a full :class:`~abm_hetero.settings.Settings`, or, as Mesa's example models
    are built, from keywords (``mesa.batch_run`` and the page do): ``population`` (a scenario:
    ``fcn`` by default), ``traders``, ``ticks``, the trait distribution as ``alpha_mean``,
    ``alpha_sd``, ``sigma_mean``, ``sigma_sd``, ``gamma_low``, ``gamma_high``, and
    ``fundamental_volatility``; keywords left out take ``scenarios.KEYWORD_DEFAULTS``. A keyword
    of the wrong type is a :class:`TypeError`, one out of its range a
    :class:`~abm_hetero.errors.SettingsError` (a :class:`ValueError`), each naming the keyword
    (:func:`check_keywords`); nothing is rounded, clamped or swapped.

    Parameters
    ----------
    settings:
        The run's settings; with keywords, leave it out.
    seed:
        The run's seed (overrides ``settings.seed``). Same settings and seed give the same run,
        bit for bit. Built from keywords without a seed, the model draws a fresh one, as Mesa's
        models do, and records it in ``settings.seed``.
    policy:
        The shared policy of the learning traders (default: the one their settings name).
    recorder:
        A rollout buffer the learning traders' transitions go into (training), or None.
    audit:
        A :class:`~abm_hetero.agents.audit.DecisionAudit` that records every learning
        decision and the terms of its reward (diagnostics), or None.
    """

    def __init__(
        self, settings: Settings | None = None, *, seed: int | None = None,
        population: str | None = None, traders: int | None = None, ticks: int | None = None,
        alpha_mean: float | None = None, alpha_sd: float | None = None,
        sigma_mean: float | None = None, sigma_sd: float | None = None,
        gamma_low: float | None = None, gamma_high: float | None = None,
        fundamental_volatility: float | None = None,
        policy: Policy | None = None, recorder: RolloutBuffer | None = None,
        audit: DecisionAudit | None = None,
    ) -> None:
        keywords = {k: v for k, v in dict(
            population=population, traders=traders, ticks=ticks, alpha_mean=alpha_mean,
            alpha_sd=alpha_sd, sigma_mean=sigma_mean, sigma_sd=sigma_sd, gamma_low=gamma_low,
            gamma_high=gamma_high, fundamental_volatility=fundamental_volatility).items()
            if v is not None}
        if settings is not None and not isinstance(settings, Settings):
            raise TypeError(f"settings must be a Settings (Settings.load reads a file) or "
                            f"None, got {settings!r}")
        check_keywords({**keywords, "seed": seed})
        _check_type("policy", policy, ".learning.policy", "Policy")
        _check_type("recorder", recorder, ".learning.buffer", "RolloutBuffer")
        _check_type("audit", audit, ".agents.audit", "DecisionAudit")
        if settings is None:
            if seed is None:  # Mesa's convention: no seed, a fresh one (recorded)
                seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 1)
            settings = keyword_settings(**{**KEYWORD_DEFAULTS, **keywords}, seed=int(seed))
        elif keywords:
            raise SettingsError(f"give either settings or keywords, not both (got "
                                f"{', '.join(sorted(keywords))} with settings)")
        elif seed is not None:
            settings = settings.replace(seed=int(seed))
        super().__init__(rng=settings.seed)
        self.settings = settings
        self.population = settings.name
        self.policy = policy
        self.recorder = recorder
        self.audit = audit
        ms = settings.market

        # accounts: one row per trader, in group order, plus the market maker's row
        counts = [g.count for g in settings.traders]
        starts = np.concatenate([[0], np.cumsum(counts)])
        cash = [g.cash.sample(self.rng, g.count) for g in settings.traders]
        shares = [np.trunc(g.shares.sample(self.rng, g.count)) for g in settings.traders]
        n = int(starts[-1])
        self.accounts = Accounts(
            np.concatenate(cash + [[ms.maker_cash]]), np.concatenate(shares + [[0]])
        )
        self.initial_cash = self.accounts.cash.copy()
        self.initial_shares = self.accounts.shares.copy()

        self.fundamental = FundamentalProcess(
            ms.initial_price, ms.fundamental_drift, ms.fundamental_volatility,
            tuple(ms.fundamental_volatility_range) if ms.fundamental_volatility_range else None,
            ms.fundamental_jump_rate, ms.fundamental_jump_size,
        )
        self.fundamental.reset(self.rng)
        self.exchange = Exchange(
            self, self.accounts, n, initial_price=ms.initial_price, tick_size=ms.tick_size,
            clearing=ms.clearing, depth_range=ms.depth_range, depth_decay=ms.depth_decay,
            price_band=ms.price_band, backstop_volume=ms.backstop_volume,
            fundamental=self.fundamental,
        )
        self.groups: list[TraderGroup] = []
        for g, start in zip(settings.traders, starts[:-1]):
            rows = np.arange(start, start + g.count)
            traits = g.traits.sample(self.rng, g.count)
            self.groups.append(group_class(g.kind)(self, rows, traits, g))
        self.dealer = (Dealer(self, self.exchange, QuoteRule(ms.maker_half_spread,
                                                          ms.maker_quote_volume,
                                                          ms.maker_inventory_limit))
                       if ms.maker_quotes else None)

        self.datacollector = mesa.DataCollector(model_reporters=MARKET_REPORTERS)
        trader_types = {type(g.members[0]) for g in self.groups}
        self.trader_collector = mesa.DataCollector(
            agenttype_reporters={t: TRADER_REPORTERS for t in trader_types}
        )
        self.datacollector.collect(self)
        self.trader_collector.collect(self)

    # ------------------------------------------------------------------ the tick

    def step(self) -> None:
        """One market tick (see the module docstring)."""
        for _ in self.tick():
            pass

    def tick(self, controlled: tuple[TraderGroup, ...] = ()
             ) -> Iterator[list[tuple[TraderGroup, Decision]]]:
        """One tick as a generator, for environments that act for some groups from outside.

        With ``controlled`` groups, the tick pauses once every group has decided (or, for a
        controlled group, observed): it yields the pending decisions, ``(group, decision)``
        pairs, and expects the actions of each controlled group (``{group: array}``) sent back
        before it submits the orders. Without them it never pauses: ``step()`` runs it through.
        The caller counts the tick (``model.steps``) as Mesa's ``step()`` does.
        """
        t = self.steps
        rng = self.rng
        self.fundamental.step(rng)
        self.exchange.begin_tick(t)
        if self.settings.batched:
            batches, pending = [], []
            for group in self.groups:
                active = group.draw_active(rng)
                if len(active):
                    if group.replaces_orders:
                        for row in group.rows[active].tolist():
                            self.exchange.cancel_all(row)
                    if group in controlled:
                        pending.append((len(batches), group, group.begin_decision(self, active)))
                        batches.append(None)
                    else:
                        batches.append(group.decide(self, active))
            if pending:
                actions = yield [(group, decision) for _, group, decision in pending]
                for slot, group, decision in pending:
                    batches[slot] = group.act_on(self, decision, actions[group])
            batch = OrderBatch.concat(batches)
            order = rng.permutation(len(batch.rows))
            self.exchange.submit_batch(*(a[order] for a in batch))
        else:
            actors = [g.members[i] for g in self.groups for i in g.draw_active(rng).tolist()]
            for k in rng.permutation(len(actors)).tolist():
                actors[k].step()
        for group in self.groups:
            group.after_tick(self)
        self.exchange.publish()
        self.datacollector.collect(self)
        if t % self.settings.trader_report_period == 0:
            self.trader_collector.collect(self)
        self.running = self.steps < self.settings.ticks  # Mesa's batch_run stops at the end

    def finish(self) -> None:
        """End the run as an episode: learning traders get the rewards of their last decisions."""
        for group in self.groups:
            group.finish_episode(self)

    def submit_orders(self, batch: OrderBatch, replace: bool = False) -> None:
        """Submit a batch in its own order; ``replace`` cancels the traders' resting orders."""
        if replace:
            for row in batch.rows.tolist():
                self.exchange.cancel_all(row)
        self.exchange.submit_batch(*batch)

    def run(self, ticks: int | None = None, progress: bool = False) -> MarketModel:
        """Run ``ticks`` ticks (default: ``settings.ticks``), optionally with a progress bar."""
        ticks = self.settings.ticks if ticks is None else int(ticks)
        if progress:
            from tqdm.auto import tqdm

            for _ in tqdm(range(ticks), desc="ticks", unit="tick", mininterval=0.5):
                self.step()
        else:
            for _ in range(ticks):
                self.step()
        return self

    # ------------------------------------------------------------------ results

    @property
    def traders(self) -> list:
        return [a for g in self.groups for a in g.members]

    def market_frame(self) -> pd.DataFrame:
        """Market series, one row per tick (tick 0 is the initial state)."""
        df = self.datacollector.get_model_vars_dataframe()
        df.index.name = "tick"
        return df

    def trader_frame(self) -> pd.DataFrame:
        """Per-trader records (cash, shares, wealth, traits) every ``trader_report_period``."""
        frames = []
        for group in self.groups:
            cls = type(group.members[0])
            df = self.trader_collector.get_agenttype_vars_dataframe(cls).reset_index()
            df = df[df["AgentID"].isin([a.unique_id for a in group.members])]
            df.insert(2, "kind", group.kind)
            frames.append(df)
        out = pd.concat(frames, ignore_index=True).rename(
            columns={"Step": "tick", "AgentID": "agent_id"}
        )
        return out.drop_duplicates(["tick", "agent_id"]).sort_values(["tick", "row"],
                                                                     ignore_index=True)

    def trade_frame(self) -> pd.DataFrame:
        """Every fill: time, price, volume, buyer and seller rows, and which side rested."""
        df = self.exchange.trades.to_frame()
        df["resting_side"] = np.where(df["resting_side"] > 0, "buy", "sell")
        return df

    def order_frame(self) -> pd.DataFrame:
        """Every accepted order with the mid price when it arrived."""
        df = self.exchange.orders.to_frame()
        df["side"] = np.where(df["side"] > 0, "buy", "sell")
        return df
