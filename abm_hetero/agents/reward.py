"""What a learning trader's decision earned: the valuation mark and the reward's terms.

A decision's reward covers the interval from the trader's decision to its next one (or to the
end of the episode). It is a sum of named terms, so that diagnostics can say which term drives
the reward (``abm_hetero.analysis.diagnostics``). Every money amount is divided by the market's
initial price, so rewards count *shares' worth*.

The default reward, ``"mean_variance"``, is the change of the trader's marked wealth minus a
risk charge paid every decision on the position it holds (a flow, as in a mean-variance
trader's per-period objective ``E[dW] - alpha/2 Var(dW)``):

==============  ======================================================================
``trading``     ``d cash + d q * mark``: what the trades of the interval gained
                against the current mark (buying below the mark gains)
``premium``     ``q_prev * F * (phi - phi_prev)``: the held position revalued as the
                market's premium over the fundamental, ``phi = mark / F``, changes
``fundamental`` ``q_prev * (F - F_prev) * phi_prev``: the held position revalued as the
                fundamental moves. Zero-mean given the position, so it is **left out**
                of the reward by default (``reward_fundamental_moves``): it changes no
                expected reward, only adds noise; the risk it stands for is charged
                by the next term
``risk``        ``-alpha * risk_scale / 2 * (q * mark / p0)^2 * s^2 * dt``: the variance
                of holding ``q`` shares for ``dt`` ticks of a fundamental with per-tick
                volatility ``s``, charged at the trader's risk aversion
``settlement``  at the episode's end only, ``q * (F - mark)``: the holding is settled
                at the fundamental value
``penalties``   a short holding, negative cash, and the reference's optional
                liquidity and fundamental-gap penalties
==============  ======================================================================

The mark is ``F * exp(m)`` where ``m`` is an exponential moving average (over
``mark_smoothing`` ticks) of the market's log premium ``log(mid / F)``: it follows the
fundamental without lag and the market's premium or discount without the bid-ask bounce of the
mid (``valuation = "anchored"``). ``"fundamental"`` marks at ``F`` (no premium, no settlement);
``"market"`` marks at the last trade price (the reference's rule).

The reference's reward, a bounded CARA utility ``u = 2/pi atan(utility_scale * U)`` with
``U = W + q P r_hat - alpha/2 |q P| V_hat``, is available as ``"utility_change"`` (the change of
``u`` between decisions) and ``"utility_level"`` (``u`` itself, as the reference computes it).
Its audit terms are the three parts of ``U`` (wealth, the ``q P r_hat`` term and the alpha
term), each taken through the local slope of the ``atan``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

REWARDS = ("mean_variance", "utility_change", "utility_level")
VALUATIONS = ("anchored", "fundamental", "market")
MEAN_VARIANCE_TERMS = ("trading", "premium", "fundamental", "risk", "settlement", "penalties")
UTILITY_TERMS = ("wealth", "return_term", "risk_term", "penalties")


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
        return Snapshot(*(a[index] for a in (self.tick, self.cash, self.shares,
                                              self.fundamental, self.mark)))

    def store(self, index: np.ndarray, values: Snapshot) -> None:
        for name in ("tick", "cash", "shares", "fundamental", "mark"):
            getattr(self, name)[index] = getattr(values, name)

    @classmethod
    def empty(cls, n: int) -> Snapshot:
        return cls(np.full(n, -1, np.int64), *(np.full(n, np.nan) for _ in range(4)))


def mean_variance_terms(prev: Snapshot, now: Snapshot, alpha: np.ndarray, *, risk_scale: float,
                        variance_per_tick: float, unit: float, settle: bool
                        ) -> dict[str, np.ndarray]:
    """The terms of the ``"mean_variance"`` reward between two snapshots (see the module
    docstring), in shares' worth (money divided by ``unit``, the initial price); ``settle``
    adds the settlement at the fundamental (the episode's end). Penalties are not included."""
    phi_prev, phi_now = prev.premium_factor, now.premium_factor
    dt = (now.tick - prev.tick).astype(np.float64)
    exposure = now.shares * now.mark / unit
    terms = {
        "trading": ((now.cash - prev.cash) + (now.shares - prev.shares) * now.mark) / unit,
        "premium": prev.shares * now.fundamental * (phi_now - phi_prev) / unit,
        "fundamental": prev.shares * (now.fundamental - prev.fundamental) * phi_prev / unit,
        "risk": -0.5 * alpha * risk_scale * exposure * exposure * variance_per_tick * dt,
        "settlement": (now.shares * (now.fundamental - now.mark) / unit if settle
                       else np.zeros_like(now.mark)),
    }
    return terms


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
