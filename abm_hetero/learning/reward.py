"""What a learning trader's decision earned: the valuation mark and the reward's named terms.

A decision's reward covers the interval from the trader's decision to its next one (or to the
end of the episode). It is built from the named terms of :data:`TERMS`, the one table of them
(docs/learning.md lists it for readers): each term is a small function of the trader's state at
its two decisions (:class:`Snapshot`), its traits and the market's observables
(:class:`RewardInputs`). The learning traders' group calls :class:`Reward` once per batch of
decisions; the audit (``agents/audit.py``) and the diagnostics
(``abm_hetero.analysis.diagnostics``) record and read the same terms by name. Every money
amount is divided by the market's initial price, so rewards count *shares' worth*.

The reward ``"mean_variance"`` (the default) is the sum, in the table's order, of its terms that
count (a term that does not count, such as the fundamental's zero-mean revaluation of the
position, is recorded as ``info_<name>`` beside the reward). The reference's rewards
``"utility_change"`` and ``"utility_level"`` are ``reward_scale`` times the change (or the
level) of the bounded CARA utility ``u = 2/pi atan(utility_scale * U)``, with
``U = W + q P r_hat - alpha/2 |q P| V_hat``, plus the terms outside the utility (the
penalties); the utility's three parts are recorded as terms, each taken through the local
slope of the ``atan``.

Adding a term is adding one :class:`Term` row to :data:`TERMS` (its function reads what it
needs from :class:`RewardInputs`).

The ``risk`` term charges the variance per tick that ``risk_variance`` names
(:data:`RISK_VARIANCES`): ``"fundamental"`` (the default) the fundamental's constant variance;
``"since_decision"`` the realized variance of the reference price's log returns since the
trader's previous decision, ``mean(r^2)`` over those ticks; ``"ewma"`` an exponentially weighted
moving average of the squared tick returns of the reference price with half-life
``risk_halflife`` ticks, one value for the market (it starts at the fundamental's variance).
The last two make a trader's incentive respond to the volatility the market itself produces.

The mark is ``F * exp(m)`` where ``m`` is an exponential moving average (over
``mark_smoothing`` ticks) of the market's log premium ``log(mid / F)``: it follows the
fundamental without lag and the market's premium or discount without the bid-ask bounce of the
mid (``valuation = "anchored"``). ``"fundamental"`` marks at ``F`` (no premium, no settlement);
``"market"`` marks at the last trade price (the reference's rule).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..market import EwmaVariance, ReturnWindows
from .compiled import mean_variance_terms

if TYPE_CHECKING:
    from ..traits import TraitSample

REWARDS = ("mean_variance", "utility_change", "utility_level")
UTILITY_REWARDS = ("utility_change", "utility_level")
VALUATIONS = ("anchored", "fundamental", "market")
#: the variances per tick the risk term may charge (``risk_variance``)
RISK_VARIANCES = ("fundamental", "since_decision", "ewma")


class PremiumTracker:
    """Exponential moving average of the log premium ``log(price / F)`` over published ticks.

    ``prices`` and ``fundamentals`` are the market's growing series (reference prices and the
    fundamental's history, both indexed by tick); the average is brought up to date lazily,
    one step per published tick, whenever it is read.
    """

    def __init__(self, prices, fundamentals, span: float) -> None:
        self.prices = prices
        self.fundamentals = fundamentals
        self.weight = 2.0 / (float(span) + 1.0)
        self.value = 0.0
        self.index = -1

    def premium(self) -> float:
        """The average log premium up to the latest published tick."""
        prices = self.prices.values
        fundamentals = self.fundamentals.values
        end = min(len(prices), len(fundamentals))
        w = self.weight
        for i in range(self.index + 1, end):
            m = math.log(prices[i] / fundamentals[i])
            self.value = m if i == 0 else self.value + w * (m - self.value)
        self.index = max(self.index, end - 1)
        return self.value


class GapRun:
    """The integral of ``|log F - log p|`` (last trade ``p``) over the current run of ticks
    with the same sign of the gap: what the reference's fundamental penalty charges. Brought up
    to date lazily, like :class:`PremiumTracker`."""

    def __init__(self, prices, fundamentals) -> None:
        self.prices = prices
        self.fundamentals = fundamentals
        self.run = 0.0
        self.sign = 0.0
        self.index = 0

    def value(self) -> float:
        prices = self.prices.values
        fundamental = self.fundamentals.values
        end = min(len(prices), len(fundamental))
        for i in range(self.index + 1, end):
            g = math.log(fundamental[i] / prices[i])
            sign = math.copysign(1.0, g) if g != 0 else 0.0
            self.run = abs(g) + (self.run if sign == self.sign else 0.0)
            self.sign = sign
        self.index = max(self.index, end - 1)
        return self.run


@dataclass
class Snapshot:
    """A group of traders' accounts and valuation at one moment (arrays over traders)."""

    tick: np.ndarray
    cash: np.ndarray
    shares: np.ndarray
    fundamental: np.ndarray
    mark: np.ndarray

    @property
    def premium_factor(self) -> np.ndarray:
        """``phi = mark / F``."""
        return self.mark / self.fundamental

    def take(self, index: np.ndarray) -> Snapshot:
        return Snapshot(self.tick[index], self.cash[index], self.shares[index],
                        self.fundamental[index], self.mark[index])

    def store(self, index: np.ndarray, values: Snapshot) -> None:
        self.tick[index] = values.tick
        self.cash[index] = values.cash
        self.shares[index] = values.shares
        self.fundamental[index] = values.fundamental
        self.mark[index] = values.mark

    @classmethod
    def empty(cls, n: int) -> Snapshot:
        return cls(np.full(n, -1, np.int64), *(np.full(n, np.nan) for _ in range(4)))


# ---------------------------------------------------------------------- the reference's utility


def cara_utility_parts(cash, shares, price, r_hat, v_hat, alpha) -> dict[str, np.ndarray]:
    """The three parts of the reference's CARA utility ``U`` (without the division by wealth,
    so that it is defined for every wealth): ``W``, ``q P r_hat`` and ``-alpha/2 |q P| V_hat``."""
    exposure = shares * price
    return {"wealth": cash + exposure, "return_term": exposure * r_hat,
            "risk_term": -0.5 * alpha * np.abs(exposure) * v_hat}


def bounded_utility(parts: dict[str, np.ndarray], scale: float) -> np.ndarray:
    """``u = 2/pi * atan(scale * U)`` with ``U`` the sum of the parts."""
    total = parts["wealth"] + parts["return_term"] + parts["risk_term"]
    return (2.0 / math.pi) * np.arctan(scale * total)


def utility_slope(parts: dict[str, np.ndarray], scale: float) -> np.ndarray:
    """``du/dU`` at the current utility (to split a utility change into its parts)."""
    total = parts["wealth"] + parts["return_term"] + parts["risk_term"]
    return (2.0 / math.pi) * scale / (1.0 + (scale * total) ** 2)


@dataclass
class Utility:
    """The utility rewards' view of a batch: ``u`` now, its parts now and at the previous
    decision (None for ``utility_level``), and ``reward_scale * du/dU``."""

    u: np.ndarray
    base: np.ndarray
    parts: dict[str, np.ndarray]
    prev_parts: dict[str, np.ndarray] | None
    slope: np.ndarray

    def share(self, part: str) -> np.ndarray:
        """The part's contribution to the reward, through the utility's local slope."""
        if self.prev_parts is None:
            return self.slope * self.parts[part]
        return self.slope * (self.parts[part] - self.prev_parts[part])


# ---------------------------------------------------------------------- the terms


@dataclass
class RewardInputs:
    """Everything a term may read for a batch of traders' decisions."""

    #: the traders' accounts and valuation at their previous decision and now
    prev: Snapshot
    now: Snapshot
    #: the group's traits and the traders' places in it (read them with :meth:`trait`)
    traits: TraitSample
    index: np.ndarray
    #: the group's ``LearningParams``
    params: Any
    #: the market's initial price (money is divided by it)
    unit: float
    #: the variance per tick the risk term charges (``risk_variance``): the fundamental's
    #: (a number), or the market's realized variance (one number, or one per trader)
    variance_per_tick: float | np.ndarray
    #: the holding is settled at the fundamental now (the episode's end, if the settings ask)
    settle: bool
    #: depth of the book on each side (the latest published quotes)
    bid_depth: float
    ask_depth: float
    #: the integral of the fundamental gap over its current same-sign run (read lazily)
    gap_run: Callable[[], float]
    #: the utility rewards' view (None for ``mean_variance``)
    utility: Utility | None = None

    def trait(self, name: str) -> np.ndarray:
        """The traders' values of trait ``name``."""
        return self.traits[name][self.index]


def trading(x: RewardInputs) -> np.ndarray:
    prev, now = x.prev, x.now
    return ((now.cash - prev.cash) + (now.shares - prev.shares) * now.mark) / x.unit


def premium(x: RewardInputs) -> np.ndarray:
    prev, now = x.prev, x.now
    return prev.shares * now.fundamental * (now.premium_factor - prev.premium_factor) / x.unit


def fundamental(x: RewardInputs) -> np.ndarray:
    prev, now = x.prev, x.now
    return prev.shares * (now.fundamental - prev.fundamental) * prev.premium_factor / x.unit


def risk(x: RewardInputs) -> np.ndarray:
    now = x.now
    dt = (now.tick - x.prev.tick).astype(np.float64)
    exposure = now.shares * now.mark / x.unit
    return (-0.5 * x.trait("alpha") * x.params.risk_scale * exposure * exposure
            * x.variance_per_tick * dt)


def settlement(x: RewardInputs) -> np.ndarray:
    now = x.now
    if x.settle:
        return now.shares * (now.fundamental - now.mark) / x.unit
    return np.zeros_like(now.mark)


def penalties(x: RewardInputs) -> np.ndarray:
    """Minus the penalties: a short holding, negative cash, and the reference's optional
    liquidity and fundamental-gap penalties."""
    p = x.params
    q, cash = x.now.shares, x.now.cash
    pen = p.short_selling_penalty * (q < 0) + p.cash_shortage_penalty * (cash < 0)
    if p.liquidity_penalty > 0:
        cap = p.depth_ratio_cap
        held = np.maximum(1.0, q)
        s = np.minimum(np.abs(q) / (x.ask_depth + 1e-6), cap) / held + 1e-6
        b = np.minimum(np.abs(q) / (x.bid_depth + 1e-6), cap) / held + 1e-6
        liquidity = s + b + 0.1 * np.abs(np.maximum(s, b) / np.minimum(s, b) - 1)
        pen = pen + np.minimum(p.liquidity_penalty * liquidity, 1.0)
    if p.fundamental_penalty > 0:
        pen = pen + min(p.fundamental_penalty * x.gap_run(), p.fundamental_penalty_cap)
    return -pen


def _always(params: Any) -> bool:
    return True


@dataclass(frozen=True)
class Term:
    """One named term of the reward."""

    name: str
    #: the rewards (of :data:`REWARDS`) it is part of
    rewards: tuple[str, ...]
    #: its value, for the documentation
    formula: str
    compute: Callable[[RewardInputs], np.ndarray]
    #: whether it counts in the reward under these ``LearningParams`` (else it is recorded as
    #: ``info_<name>`` beside the reward)
    counts: Callable[[Any], bool] = _always
    #: a part of the utility rewards' utility (already inside ``u``: recorded, not added)
    inside_utility: bool = False


MV = ("mean_variance",)
#: the reward's terms, in the order they are summed
TERMS: tuple[Term, ...] = (
    Term("trading", MV, "(d cash + d q * mark) / p0", trading),
    Term("premium", MV, "q_prev * F * (phi - phi_prev) / p0, phi = mark / F", premium),
    Term("fundamental", MV, "q_prev * (F - F_prev) * phi_prev / p0", fundamental,
         counts=lambda p: p.reward_fundamental_moves),
    Term("risk", MV, "-alpha * risk_scale / 2 * (q * mark / p0)^2 * s^2 * dt, s^2 the "
                     "variance per tick of risk_variance", risk),
    Term("settlement", MV, "q * (F - mark) / p0 at the episode's end, else 0", settlement),
    *(Term(part, UTILITY_REWARDS, formula, (lambda x, part=part: x.utility.share(part)),
           inside_utility=True)
      for part, formula in (("wealth", "reward_scale * du/dU * d W"),
                            ("return_term", "reward_scale * du/dU * d (q P r_hat)"),
                            ("risk_term", "reward_scale * du/dU * d (-alpha/2 |q P| V_hat)"))),
    Term("penalties", REWARDS, "-(short_selling_penalty [q < 0] + cash_shortage_penalty "
                               "[cash < 0] + liquidity and fundamental penalties)", penalties),
)


#: the ``mean_variance`` terms the compiled reward computes, in the table's order
COMPILED_TERMS = ("trading", "premium", "fundamental", "risk", "settlement", "penalties")


def terms_of(reward: str) -> tuple[Term, ...]:
    """The terms of reward ``reward``, in the table's order."""
    return tuple(t for t in TERMS if reward in t.rewards)


class Reward:
    """The reward of one group's learning traders: the mark, the terms, and what the utility
    rewards remember of each trader's previous decision.

    ``exchange`` is the market's exchange (its price histories, quotes and fundamental),
    ``params`` the group's ``LearningParams``, ``n`` the group's size and ``unit`` the market's
    initial price. ``compiled`` computes the ``mean_variance`` reward without the liquidity and
    fundamental-gap penalties in one compiled call (``learning/compiled.py``, equal results)."""

    def __init__(self, exchange, params: Any, n: int, unit: float,
                 compiled: bool = False) -> None:
        self.exchange = exchange
        self.params = params
        self.unit = float(unit)
        self.terms = terms_of(params.reward)
        self._premium = PremiumTracker(exchange.price_history("reference"),
                                       exchange.price_history("fundamental"),
                                       params.mark_smoothing)
        self._gap = GapRun(exchange.price_history("market"),
                           exchange.price_history("fundamental"))
        reference = exchange.price_history("reference")
        if params.risk_variance == "since_decision":
            self._returns = ReturnWindows(reference)
        elif params.risk_variance == "ewma":
            self._ewma = EwmaVariance(reference, params.risk_halflife,
                                      exchange.fundamental.variance_per_tick)
        self._compiled = (compiled and params.reward == "mean_variance"
                          and params.liquidity_penalty == 0 and params.fundamental_penalty == 0
                          and tuple(t.name for t in self.terms) == COMPILED_TERMS)
        # utility rewards: u and its parts at each trader's previous decision
        self.prev_utility = np.full(n, np.nan)
        self.prev_parts = {k: np.zeros(n) for k in ("wealth", "return_term", "risk_term")}

    def mark(self) -> float:
        """The price at which holdings are marked now (``valuation``)."""
        valuation = self.params.valuation
        market = self.exchange
        if valuation == "fundamental":
            return market.fundamental_price()
        if valuation == "market":
            return market.market_price()
        return market.fundamental_price() * math.exp(self._premium.premium())

    def variance_per_tick(self, prev: Snapshot) -> float | np.ndarray:
        """The variance per tick the risk term charges on the intervals since ``prev``
        (``risk_variance``)."""
        choice = self.params.risk_variance
        if choice == "since_decision":
            now = self.exchange.now
            _, mean, var = self._returns.mean_var(np.clip(prev.tick, 0, now), now)
            return var + mean * mean  # mean(r^2) over the interval's tick returns
        if choice == "ewma":
            return self._ewma()
        return self.exchange.fundamental.variance_per_tick

    def _utility(self, index: np.ndarray, now: Snapshot, r_hat, v_hat, alpha) -> Utility:
        p = self.params
        parts = cara_utility_parts(now.cash, now.shares, now.mark, r_hat, v_hat, alpha)
        u_now = bounded_utility(parts, p.utility_scale)
        slope = p.reward_scale * utility_slope(parts, p.utility_scale)
        if p.reward == "utility_level":
            return Utility(u_now, u_now, parts, None, slope)
        prev_parts = {k: v[index] for k, v in self.prev_parts.items()}
        return Utility(u_now, u_now - self.prev_utility[index], parts, prev_parts, slope)

    def __call__(self, index: np.ndarray, prev: Snapshot, now: Snapshot, traits: TraitSample,
                 r_hat, v_hat, settle: bool = False) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Reward of each trader's previous decision (NaN if it has none) and its terms, by
        name (those named ``info_*`` are recorded beside the reward, not part of it).

        ``index``: the traders (within the group); ``prev`` and ``now``: their snapshots at
        their previous decision and now; ``r_hat``, ``v_hat``: their recent return and
        volatility (the utility's inputs); ``settle``: the episode ends."""
        if self._compiled:
            return self._compiled_reward(index, prev, now, traits, settle)
        p = self.params
        state = self.exchange.state
        x = RewardInputs(prev, now, traits, index, p, self.unit, self.variance_per_tick(prev),
                         settle and p.settle_at_fundamental and p.valuation != "fundamental",
                         state.bid_depth, state.ask_depth, self._gap.value)
        utility = p.reward in UTILITY_REWARDS
        if utility:
            x.utility = self._utility(index, now, r_hat, v_hat, x.trait("alpha"))
        terms: dict[str, np.ndarray] = {}
        added = []
        for term in self.terms:
            value = term.compute(x)
            if term.counts(p):
                terms[term.name] = value
                if not term.inside_utility:
                    added.append(value)
            else:
                terms[f"info_{term.name}"] = value
        reward = sum(added, p.reward_scale * x.utility.base if utility else 0)
        if utility:
            self.prev_utility[index] = x.utility.u
            for k, v in x.utility.parts.items():
                self.prev_parts[k][index] = v
        reward = np.where(prev.tick >= 0, reward, np.nan)  # no previous decision to reward
        return reward, terms

    def _compiled_reward(self, index: np.ndarray, prev: Snapshot, now: Snapshot,
                         traits: TraitSample, settle: bool):
        """The ``mean_variance`` reward and its terms in one compiled call."""
        p = self.params
        counts = self.terms[2].counts(p)  # the fundamental term (COMPILED_TERMS)
        variance = np.atleast_1d(np.asarray(self.variance_per_tick(prev), np.float64))
        values, reward = mean_variance_terms(
            prev.tick, prev.cash, prev.shares, prev.fundamental, prev.mark, now.tick,
            now.cash, now.shares, now.fundamental, now.mark,
            np.asarray(traits["alpha"], np.float64), np.asarray(index, np.int64), self.unit,
            float(p.risk_scale), variance,
            bool(settle and p.settle_at_fundamental and p.valuation != "fundamental"),
            float(p.short_selling_penalty), float(p.cash_shortage_penalty), bool(counts))
        names = ("trading", "premium", "fundamental" if counts else "info_fundamental",
                 "risk", "settlement", "penalties")
        return reward, dict(zip(names, values))
