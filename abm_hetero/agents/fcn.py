"""Fundamentalist-chartist-noise (FCN) traders: the rule-based heterogeneous baseline.

A Chiarella-Iori-Perello style trader as in the FCN baseline of the reference (the authors'
public code behind arXiv 2511.05207; docs/differences.md lists where ours differs). Each trader
mixes three views of the next return with its own weights: the fundamentalist's pull towards the
fundamental, the chartist's trend (or contrarian) extrapolation over its horizon tau, and noise:

    r_hat = (wF / T_mr * log(F / p) + chi * wC / tau * log(p / p[-tau]) + wN * nu * xi)
            / (wF + wC + wN)

and expects the price ``p_hat = p * exp(r_hat * tau)``. Horizons are heterogeneous:
``tau = floor(tau0 * (tau_diff + wF) / (tau_diff + wC))``, so fundamentalists look further back.

Two order rules:

* ``"margin"`` (the reference baseline): buy one share at ``p_hat * (1 - k)`` if ``p < p_hat``,
  else sell one at ``p_hat * (1 + k)``.
* ``"cara"``: CARA demand ``D(P) = log(p_hat / P) / (alpha * V * P)`` with ``V`` the variance of
  the last tau log returns; the order price is drawn between the lowest affordable buy price and
  ``p_hat`` and the volume is the gap between demand and holding.

Where the reference's rule breaks, this one does not: look-backs never reach before tick 0 (the
horizon is capped at the ticks elapsed), and the satisfaction price is solved in closed form with
the Lambert W function, which also covers short holdings (q < 0) where the reference's root
search raises. When a short position is so large that no price satisfies it, the satisfaction
price is the one where demand is lowest, ``e * p_hat``. The lowest affordable buy price is found
by bisection, which always succeeds. CARA volumes are capped at ``max_order_volume``.

All parameters are in ticks; the traders of a group decide together in one vectorised pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from scipy.special import lambertw

from ..distributions import Distribution, Exponential, Uniform
from ..market import BUY, SELL, ReturnWindows
from ..validation import MAX_COUNT, MAX_TICKS, check, check_ranges
from .base import OrderBatch, Trader, TraderGroup
from .fcn_kernels import expected_log_moves, horizons, margin_orders

if TYPE_CHECKING:
    from ..model import MarketModel

ORDER_RULES = ("margin", "cara")


@dataclass
class FCNParams:
    """Parameters of an FCN group (defaults: the reference's FCN baseline)."""

    fundamental_weight: Distribution = field(default_factory=lambda: Exponential(10.0))
    chart_weight: Distribution = field(default_factory=lambda: Exponential(1.25))
    noise_weight: Distribution = field(default_factory=lambda: Exponential(1.0))
    #: multiply the fundamental weight and the order margin by cash / mean cash
    wealth_scaled: bool = True
    noise_scale: float = 1e-4
    time_window: int = 100
    heterogeneous_window: bool = True
    tau_diff: int = 20
    mean_reversion_time: int = 200
    chart_follow_rate: float = 1.0
    order_rule: str = "margin"
    order_margin: Distribution = field(default_factory=lambda: Uniform(0.0, 0.01))
    risk_aversion: float = 0.1
    heterogeneous_risk_aversion: bool = False
    alpha_diff: float = 1.0
    max_order_volume: int = 100

    RANGES: ClassVar[dict] = {
        "noise_scale": (0.0, 1.0), "time_window": (1, MAX_TICKS), "tau_diff": (0, MAX_TICKS),
        "mean_reversion_time": (1, MAX_TICKS), "chart_follow_rate": (0.0, 1.0),
        "risk_aversion": (0.0, 1e6, (True, False)), "alpha_diff": (0.0, 1e6),
        "max_order_volume": (1, MAX_COUNT),
    }

    def __post_init__(self) -> None:
        check(self.order_rule in ORDER_RULES,
              f"fcn.order_rule must be one of {', '.join(ORDER_RULES)}, got {self.order_rule!r}")
        check_ranges(self, "fcn.")
        weights = ("fundamental_weight", "chart_weight", "noise_weight")
        for name in (*weights, "order_margin"):
            dist = getattr(self, name)
            check(dist.support()[0] >= 0 and dist.quantile(1 - 1e-9) <= 1e6,
                  f"fcn.{name} must be non-negative and below 1e6")
        check(any(getattr(self, name).quantile(0.5) > 0 for name in weights),
              "fcn: the fundamental, chart and noise weights cannot all be 0")


class FCNTrader(Trader):
    """A fundamentalist-chartist-noise trader; its parameters live in its group's arrays."""

    @property
    def fundamental_weight(self) -> float:
        return float(self.group.w_f[self.index])

    @property
    def chart_weight(self) -> float:
        return float(self.group.w_c[self.index])

    @property
    def noise_weight(self) -> float:
        return float(self.group.w_n[self.index])

    @property
    def horizon(self) -> int:
        return int(self.group.tau[self.index])


class FCNGroup(TraderGroup):
    """The FCN traders of a market: their weights, horizons and risk aversions as arrays, drawn
    once at construction, and one vectorised decision for all active traders per tick."""

    kind = "fcn"
    agent_class = FCNTrader
    replaces_orders = True  # the reference cancels an FCN trader's orders when it is polled

    def __init__(self, model: MarketModel, rows, traits, settings) -> None:
        super().__init__(model, rows, traits, settings)
        rng = model.rng
        n = len(self.rows)
        p: FCNParams = self.params
        cash, _ = model.exchange.holdings(self.rows)
        scale = cash / settings.cash.mean() if p.wealth_scaled else np.ones(n)
        self.w_f = p.fundamental_weight.sample(rng, n) * scale
        self.w_c = p.chart_weight.sample(rng, n)
        self.w_n = p.noise_weight.sample(rng, n)
        self.margin = p.order_margin.sample(rng, n) * scale
        self.follow = np.where(rng.random(n) < p.chart_follow_rate, 1.0, -1.0)
        if p.heterogeneous_window:
            tau = np.floor(p.time_window * (p.tau_diff + self.w_f) / (p.tau_diff + self.w_c))
        else:
            tau = np.full(n, float(p.time_window))
        self.tau = np.maximum(tau, 1).astype(np.int64)
        if p.heterogeneous_risk_aversion:
            self.risk = p.risk_aversion * (p.alpha_diff + self.w_f) / (p.alpha_diff + self.w_c)
        else:
            self.risk = np.full(n, p.risk_aversion)
        self._returns = ReturnWindows(model.exchange.price_history("market"))
        #: the margin rule in compiled loops (the compiled core; ``agents/fcn_kernels.py``)
        self.compiled = model.settings.core == "compiled" and p.order_rule == "margin"
        self._reversion = float(p.mean_reversion_time)

    def _decide_compiled(self, model: MarketModel, active: np.ndarray) -> OrderBatch:
        """:meth:`decide` for the margin rule in three compiled loops, with NumPy's ``log``
        and ``exp`` between them: the same draws and the same results."""
        exchange = model.exchange
        series = exchange.price_history("market")
        prices = series._data
        now = exchange.now
        price = prices[now]
        tau, ratio = horizons(prices, now, self.tau, active)
        fundamental = math.log(exchange.fundamental_price() / price)
        noise = self.params.noise_scale * model.rng.standard_normal(len(active))
        moves = expected_log_moves(np.log(ratio), tau, fundamental, noise, self.w_f, self.w_c,
                                   self.w_n, self.follow, active, self._reversion)
        ints, order_prices = margin_orders(price, np.exp(moves), tau, self.tau, self.margin,
                                           self.rows, active)
        return OrderBatch(ints[0], ints[1], order_prices, ints[2], ints[3])

    def decide(self, model: MarketModel, active: np.ndarray) -> OrderBatch:
        """Each active trader's expected price from its fundamentalist, chartist and noise
        views, then one order by the margin or the CARA rule (module docstring)."""
        if self.compiled:
            return self._decide_compiled(model, np.asarray(active, np.int64))
        p = self.params
        n = len(active)
        prices = model.exchange.price_history("market").values
        now = model.exchange.now
        price = prices[now]
        tau = np.minimum(self.tau[active], now)
        past = prices[now - tau]
        w_f, w_c, w_n = self.w_f[active], self.w_c[active], self.w_n[active]
        fundamental = math.log(model.exchange.fundamental_price() / price)
        chart = np.log(price / past) / np.maximum(tau, 1)
        noise = p.noise_scale * model.rng.standard_normal(n)
        r_hat = (w_f / p.mean_reversion_time * fundamental + self.follow[active] * w_c * chart
                 + w_n * noise) / (w_f + w_c + w_n)
        # an expected price beyond e^5 (about 150) times the price is capped there: a safety
        # limit that parameters inside their ranges do not reach in practice
        p_hat = price * np.exp(np.clip(r_hat * tau, -5.0, 5.0))
        ttl = np.where(tau < 1, self.tau[active], tau)
        rows = self.rows[active]
        if p.order_rule == "margin":
            buy = price < p_hat
            k = self.margin[active]
            order_price = np.where(buy, p_hat * (1 - k), p_hat * (1 + k))
            sides = np.where(buy, BUY, SELL)
            return OrderBatch(rows, sides, order_price, np.ones(n, dtype=np.int64), ttl)
        return self._cara_orders(model, active, rows, price, p_hat, tau, ttl)

    def _cara_orders(self, model, active, rows, price, p_hat, tau, ttl) -> OrderBatch:
        p = self.params
        n = len(active)
        now = model.exchange.now
        _, _, var = self._returns.mean_var(now - np.maximum(tau, 1).clip(max=now), now)
        var = np.maximum(var, 1e-10)
        cash, shares = model.exchange.holdings(rows)
        q = shares.astype(float)
        cash = np.maximum(cash, 0.0)
        av = self.risk[active] * var

        def demand(x):
            return np.log(p_hat / x) / (av * x)

        # satisfaction price P*: log(p_hat / P) = q * av * P, i.e. x e^x = q av p_hat
        z = q * av * p_hat
        x = np.where(z >= -1 / math.e, lambertw(np.maximum(z, -1 / math.e)).real, -1.0)
        p_star = p_hat * np.exp(-x)
        # lowest affordable buy price: cash - P (D(P) - q) = 0 on (0, P*], by bisection in log P
        lo = np.full(n, math.log(1e-10))
        hi = np.log(p_star)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            pm = np.exp(mid)
            h = cash - np.log(p_hat / pm) / av + pm * q
            neg = h < 0
            lo = np.where(neg, mid, lo)
            hi = np.where(neg, hi, mid)
        p_min = np.minimum(np.exp(hi), p_star)
        p_max = p_hat
        order_price = model.rng.uniform(np.minimum(p_min, p_max), np.maximum(p_min, p_max))
        buy = order_price < p_star
        state = model.exchange.state  # the latest published quotes
        best_ask = price if math.isnan(state.best_ask) else state.best_ask
        best_bid = price if math.isnan(state.best_bid) else state.best_bid
        lo_p, hi_p = np.minimum(p_min, p_max), np.maximum(p_min, p_max)
        order_price = np.where(buy & (best_ask < order_price), np.clip(best_ask, lo_p, hi_p),
                               order_price)
        order_price = np.where(~buy & (best_bid > order_price), np.clip(best_bid, lo_p, hi_p),
                               order_price)
        d = demand(order_price)
        volume = np.where(buy, d - q, q - d)
        volume = np.floor(np.clip(np.nan_to_num(volume, nan=0.0), 0, p.max_order_volume))
        keep = volume >= 1
        sides = np.where(buy, BUY, SELL)
        batch = OrderBatch(rows, sides, order_price, volume.astype(np.int64), ttl)
        return batch.select(keep)
