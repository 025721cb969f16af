"""``MarketModel``: the Mesa model that wires the market, the traders and data collection.

One ``step()`` is one market tick (docs/market.md), in four phases:

* begin: the fundamental value moves; the exchange expires stale orders, sets the tick's price
  band, lets the dealer (the market maker, if enabled) re-quote and re-centres its backstop
  quotes;
* decide: each trader is active with its group's activity rate, and each group decides for all
  its active traders in one batched pass (one policy call per tick for learning traders; FCN
  traders cancel their resting orders first);
* submit: the orders are submitted in one random order; each is matched on arrival and settled;
* end: the exchange re-posts any backstop quote the tick consumed and publishes the end-of-tick
  market state; the market series are recorded (one row of :data:`MARKET_REPORTERS` per tick),
  and per-trader records every ``trader_report_period`` ticks.

With ``batched = false`` the decide phase is per trader: the active traders decide and submit
one at a time in a random order, and the submit phase has nothing left to do. An environment
runs the same ``step()`` for the groups it acts for and finishes the tick with their actions
(``complete_tick``). Learning traders are rewarded for a decision when they next decide, and
for their last one by ``finish()``.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
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
from .traits import TRAIT_CAPS, TRAIT_NAMES
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


def market_row(model: MarketModel) -> tuple:
    """The values of :data:`MARKET_REPORTERS` now, in its order, read in one go (what the
    reporters return, one by one)."""
    state = model.exchange.state
    return (state.mid, state.market_price, model.fundamental.value, state.best_bid,
            state.best_ask, state.spread, state.volume, state.trades, state.bid_depth,
            state.ask_depth)


#: the reporters :func:`market_row` reads, in its order
MARKET_ROW_NAMES = ("mid", "last_price", "fundamental", "best_bid", "best_ask", "spread",
                    "volume", "trades", "bid_depth", "ask_depth")


class MarketSeries:
    """The market series, one row per tick, kept as tuples until read.

    Recording a tick appends one tuple (:func:`market_row`, or the reporters one by one if
    :data:`MARKET_REPORTERS` was changed); :meth:`flush` moves the rows not yet moved into a
    Mesa ``DataCollector``'s ``model_vars`` lists, so that the collector holds what its own
    ``collect`` would have recorded, value for value, at a fraction of its per-tick cost.
    """

    def __init__(self, reporters: Mapping[str, Any]) -> None:
        self.reporters = dict(reporters)
        self.names = tuple(self.reporters)
        self.row = market_row if self.names == MARKET_ROW_NAMES else self._generic_row
        self.rows: list[tuple] = []
        self._moved = 0

    def _generic_row(self, model: MarketModel) -> tuple:
        return tuple(reporter(model) for reporter in self.reporters.values())

    def record(self, model: MarketModel) -> None:
        """Append the current values."""
        self.rows.append(self.row(model))

    def flush(self, collector: mesa.DataCollector) -> None:
        """Append the rows recorded since the last flush to ``collector.model_vars``."""
        new = self.rows[self._moved:]
        if new:
            self._moved = len(self.rows)  # first: reading model_vars may flush again
            for name, values in zip(self.names, zip(*new)):
                collector.model_vars[name].extend(values)


class SeriesCollector(mesa.DataCollector):
    """A Mesa ``DataCollector`` of the market series whose ``model_vars`` are brought up to
    date from a :class:`MarketSeries` whenever they are read, so that the collector, or a
    reference to it held across ticks, always shows every tick recorded so far."""

    def __init__(self, series: MarketSeries, **kwargs: Any) -> None:
        self._series = series
        super().__init__(**kwargs)

    @property
    def model_vars(self) -> dict[str, list]:
        self._series.flush(self)
        return self._model_vars

    @model_vars.setter
    def model_vars(self, value: dict[str, list]) -> None:
        self._model_vars = value


TRADER_REPORTERS = {
    "row": "row",
    "cash": "cash",
    "shares": "shares",
    "wealth": "wealth",
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


@dataclass
class TickOrders:
    """The orders of a tick between its decide and submit phases: one batch per deciding group,
    in group order, and the controlled groups' decisions that wait for actions from outside as
    ``(slot, group, decision)`` (their batch, at ``slot``, is None until then)."""

    batches: list[OrderBatch | None] = field(default_factory=list)
    pending: list[tuple[int, TraderGroup, Decision]] = field(default_factory=list)


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

        # accounts: one row per trader, in group order, plus the house row (the backstop's
        # and the dealer's quotes)
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
            fundamental=self.fundamental, core=settings.core,
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

        self._series = MarketSeries(MARKET_REPORTERS)
        self._datacollector = SeriesCollector(self._series, model_reporters=MARKET_REPORTERS)
        trader_types = {type(g.members[0]) for g in self.groups}
        self.trader_collector = mesa.DataCollector(
            agenttype_reporters={t: {**TRADER_REPORTERS, **{n: n for n in TRAIT_NAMES}}
                                 for t in trader_types}
        )
        self._paused: TickOrders | None = None  # a tick waiting for outside actions
        self._series.record(self)
        self._collect_traders()
        self.step = self._counted_step  # Mesa's step wrapper, without its per-tick log line

    def _collect_traders(self) -> None:
        """Record every trader's row of :attr:`trader_collector`: the records its own
        ``collect`` makes (per agent type: step, agent id, then each reporter's value), read
        from the account and trait arrays in one pass per group rather than attribute by
        attribute. A trait that a trader class shadows with an attribute of its own is read
        as Mesa reads it (the collector's ``collect``)."""
        collector = self.trader_collector
        names = [*TRADER_REPORTERS, *TRAIT_NAMES]
        if (any(list(r) != names for r in collector.agenttype_reporters.values())
                or any(hasattr(type(g.members[0]), name) for g in self.groups
                       for name in TRAIT_NAMES)):
            collector.collect(self)
            return
        steps = self.steps
        accounts = self.exchange.accounts
        price = self.exchange.market_price()
        records: dict[type, list[tuple]] = {t: [] for t in collector.agenttype_reporters}
        for group in self.groups:
            rows = group.rows
            cash = accounts.cash[rows].tolist()
            shares = accounts.shares[rows].astype(np.int64).tolist()
            wealth = [c + q * price for c, q in zip(cash, shares)]
            traits = [group.traits[name].astype(np.float64).tolist() for name in TRAIT_NAMES]
            ids = [agent.unique_id for agent in group.members]
            records[type(group.members[0])].extend(zip(
                itertools.repeat(steps), ids, rows.tolist(), cash, shares, wealth, *traits))
        collector._agenttype_records[steps] = records

    @property
    def datacollector(self) -> mesa.DataCollector:
        """The market series as a Mesa ``DataCollector`` (``model_vars``, one list per
        reporter of :data:`MARKET_REPORTERS`, and ``get_model_vars_dataframe``), up to date
        with every tick recorded whenever it is read (:class:`SeriesCollector`)."""
        return self._datacollector

    def _counted_step(self, *args: Any, **kwargs: Any) -> None:
        """What Mesa's step wrapper does (count the step, then run :meth:`step`), without
        formatting its debug log message every tick."""
        self.steps += 1
        self._user_step(*args, **kwargs)

    # ------------------------------------------------------------------ the tick

    def step(self, controlled: Collection[TraderGroup] = ()) -> None:
        """One market tick (module docstring), counted in ``steps`` by Mesa's step wrapper.

        The tick runs in phases: begin, decide, submit, end. ``controlled`` groups (learning
        groups an environment acts for) only observe in the decide phase; if any of them has
        active traders the tick pauses there, their decisions wait in :attr:`pending`, and
        :meth:`complete_tick` turns the actions from outside into orders and runs the rest of
        the tick. Without controlled groups, or when none of them is active, the tick runs
        through.
        """
        if self._paused is not None:
            raise RuntimeError("a tick is paused for outside actions: complete_tick() first")
        if controlled and not self.settings.batched:
            raise ValueError("outside actions need batched ticks (settings.batched = true)")
        self._begin_tick()
        if self.settings.batched:
            orders = self._decide_by_group(controlled)
        else:
            orders = self._decide_by_trader()
        if orders.pending:
            self._paused = orders
        else:
            self._submit(orders)
            self._end_tick()

    @property
    def pending(self) -> list[tuple[TraderGroup, Decision]]:
        """The decisions of controlled groups waiting for actions from outside, as
        ``(group, decision)`` pairs; empty unless a tick is paused."""
        if self._paused is None:
            return []
        return [(group, decision) for _, group, decision in self._paused.pending]

    def complete_tick(self, actions: Mapping[TraderGroup, np.ndarray],
                      policy_out: Mapping[TraderGroup, Mapping[str, np.ndarray]] | None = None
                      ) -> None:
        """Finish the paused tick: each controlled group's ``actions`` (one row per active
        trader) become its orders, then the tick's orders are submitted and the tick ends.
        ``policy_out``: for a group whose actions the shared policy took (markets stepped in
        lockstep by training), the policy's outputs, recorded as ``decide`` records them."""
        orders = self._paused
        if orders is None:
            raise RuntimeError("no tick is paused for outside actions")
        for _, group, decision in orders.pending:  # checked first: a refused call keeps the tick
            if group not in actions:
                raise ValueError(f"no actions for the paused {group.kind} group")
            shape = np.shape(actions[group])
            if shape != (len(decision.active), 2):
                raise ValueError(f"actions of the paused {group.kind} group: expected shape "
                                 f"({len(decision.active)}, 2), got {shape}")
        self._paused = None
        for slot, group, decision in orders.pending:
            orders.batches[slot] = group.act_on(self, decision, actions[group],
                                                (policy_out or {}).get(group))
        self._submit(orders)
        self._end_tick()

    def _begin_tick(self) -> None:
        """Begin phase: the fundamental moves and the exchange opens the tick."""
        self.fundamental.step(self.rng)
        self.exchange.begin_tick(self.steps)

    def _decide_by_group(self, controlled: Collection[TraderGroup]) -> TickOrders:
        """Decide phase, batched: each group draws its active traders and decides for all of
        them in one pass; a controlled group only begins its decision (observes)."""
        rng = self.rng
        orders = TickOrders()
        for group in self.groups:
            active = group.draw_active(rng)
            if len(active):
                if group.replaces_orders:
                    self.withdraw_orders(group, group.rows[active])
                if group in controlled:
                    orders.pending.append((len(orders.batches), group,
                                           group.begin_decision(self, active)))
                    orders.batches.append(None)
                else:
                    orders.batches.append(group.decide(self, active))
        return orders

    def _decide_by_trader(self) -> TickOrders:
        """Decide phase, per trader (``batched = false``): the active traders act one at a
        time in a random order, each deciding on the book as the previous one left it and
        submitting at once (:meth:`Trader.step`); nothing is left for the submit phase."""
        rng = self.rng
        actors = [g.members[i] for g in self.groups for i in g.draw_active(rng).tolist()]
        for k in rng.permutation(len(actors)).tolist():
            actors[k].step()
        return TickOrders()

    def _submit(self, orders: TickOrders) -> None:
        """Submit phase: the tick's orders, all groups together, in one random order."""
        if orders.batches:
            batches = orders.batches
            batch = batches[0] if len(batches) == 1 else OrderBatch.concat(batches)
            order = self.rng.permutation(len(batch.rows))
            self.exchange.submit_batch(*(a[order] for a in batch))

    def _end_tick(self) -> None:
        """End phase: the exchange publishes the tick's state and the collectors record it."""
        self.exchange.publish()
        self._series.record(self)
        if self.steps % self.settings.trader_report_period == 0:
            self._collect_traders()
        self.running = self.steps < self.settings.ticks  # Mesa's batch_run stops at the end

    def withdraw_orders(self, group: TraderGroup, rows: np.ndarray) -> None:
        """The cancel rule: a group that replaces its orders (``replaces_orders``, FCN)
        cancels the resting orders of its traders ``rows`` before their new ones arrive."""
        if group.replaces_orders:
            self.exchange.cancel_all_of(rows)

    def finish(self) -> dict[TraderGroup, np.ndarray | None]:
        """End the run as an episode: learning traders get the rewards of their last decisions.
        Returns each group's last rewards (None for a group that does not learn)."""
        return {group: group.finish_episode(self) for group in self.groups}

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
