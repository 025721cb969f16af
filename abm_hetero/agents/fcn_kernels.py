"""The FCN traders' expected price in compiled loops (the compiled core).

An FCN decision of a tick's batch (about twenty traders) is some twenty small NumPy calls; the
compiled core makes them three loops around the two NumPy calls that evaluate ``log`` and
``exp``. Those two stay NumPy's own so that every result equals the NumPy code of
``FCNGroup.decide`` bit for bit (the loops do the same IEEE operations in the same order; a
compiled ``log`` or ``exp`` may round differently).
"""

from __future__ import annotations

import numpy as np

from ..market.compiled.jit import jit


@jit
def horizons(prices: np.ndarray, now: int, tau_all: np.ndarray, active: np.ndarray):
    """Each active trader's horizon capped at the ticks elapsed, and ``p / p[-tau]``."""
    n = len(active)
    tau = np.empty(n, np.int64)
    ratio = np.empty(n)
    price = prices[now]
    for i in range(n):
        t = min(tau_all[active[i]], now)
        tau[i] = t
        ratio[i] = price / prices[now - t]
    return tau, ratio


@jit
def expected_log_moves(log_ratio: np.ndarray, tau: np.ndarray, fundamental: float,
                       noise: np.ndarray, w_f: np.ndarray, w_c: np.ndarray, w_n: np.ndarray,
                       follow: np.ndarray, active: np.ndarray, reversion: float) -> np.ndarray:
    """``clip(r_hat * tau, -5, 5)``: the expected log move over each horizon, with ``r_hat``
    the weighted fundamentalist, chartist and noise views (``FCNGroup.decide``)."""
    n = len(active)
    out = np.empty(n)
    for i in range(n):
        a = active[i]
        wf, wc, wn = w_f[a], w_c[a], w_n[a]
        chart = log_ratio[i] / max(tau[i], 1)
        r_hat = (wf / reversion * fundamental + follow[a] * wc * chart
                 + wn * noise[i]) / (wf + wc + wn)
        x = r_hat * tau[i]
        out[i] = -5.0 if x < -5.0 else (5.0 if x > 5.0 else x)
    return out


@jit
def margin_orders(price: float, growth: np.ndarray, tau: np.ndarray, tau_all: np.ndarray,
                  margin: np.ndarray, rows: np.ndarray, active: np.ndarray):
    """The margin rule's orders from the expected prices ``price * growth``: buy one share
    below the expected price if it is above ``price``, else sell one above it. Returns the
    whole-number columns (rows, sides, volumes, ttls) as one array and the prices (two
    arrays cross back to Python faster than five)."""
    n = len(active)
    ints = np.empty((4, n), np.int64)
    prices = np.empty(n)
    for i in range(n):
        a = active[i]
        p_hat = price * growth[i]
        k = margin[a]
        buy = price < p_hat
        ints[0, i] = rows[a]
        ints[1, i] = 1 if buy else -1
        prices[i] = p_hat * (1 - k) if buy else p_hat * (1 + k)
        ints[2, i] = 1
        ints[3, i] = tau_all[a] if tau[i] < 1 else tau[i]
    return ints, prices
