"""The learning traders' per-tick arithmetic in compiled loops (the compiled core).

A tick's batch is about twenty traders: at that size each NumPy call costs more in overhead
than in arithmetic, so the compiled core builds the observations and the orders of a batch in
one call each. The loops do the same IEEE operations, in the same order, as the NumPy code of
``learning/observer.py`` (its :data:`~abm_hetero.learning.observer.MARKET_FEATURES` table) and
of ``LearningGroup.orders``, so their results equal it; they are used only for the market
features of that table (a group with extra features observes through the table).
"""

from __future__ import annotations

import numba
import numpy as np

jit = numba.njit(cache=True)


@jit
def recent_returns(s1: np.ndarray, s2: np.ndarray, last_tick: np.ndarray, now: int,
                   back: int, interval: float) -> tuple[np.ndarray, np.ndarray]:
    """Per trader: mean and variance of the log returns since its last decision (``-1``:
    ``back`` ticks back), per decision interval, from the prefix sums ``s1`` and ``s2`` of
    the returns and of their squares (``ReturnWindows``)."""
    n = len(last_tick)
    r_hat = np.empty(n)
    v_hat = np.empty(n)
    for i in range(n):
        start = last_tick[i] if last_tick[i] >= 0 else now - back
        start = min(max(start, 0), now)
        safe = max(now - start, 1)
        mean = (s1[now] - s1[start]) / safe
        var = (s2[now] - s2[start]) / safe - mean * mean
        if var < 0.0:
            var = 0.0
        r_hat[i] = mean * interval
        v_hat[i] = var * interval
    return r_hat, v_hat


@jit
def market_observations(cash: np.ndarray, shares: np.ndarray, price: float, r_hat: np.ndarray,
                        v_hat: np.ndarray, bid_depth: float, ask_depth: float, gap: float,
                        sigma: np.ndarray, normal: np.ndarray, max_volume: float, cap: float,
                        lows: np.ndarray, spans: np.ndarray, traits: np.ndarray,
                        active: np.ndarray) -> np.ndarray:
    """The observations of a batch (float32, one row per trader): the eight market features
    of ``MARKET_FEATURES``, rescaled and clipped, then the traders' trait features."""
    n = len(cash)
    m = len(lows)
    t = traits.shape[1]
    obs = np.empty((n, m + t), np.float32)
    raw = np.empty(m)
    for i in range(n):
        q = shares[i]
        c = cash[i]
        wealth = c + q * price
        raw[0] = q * price / (wealth + 1e-6)
        raw[1] = q / max_volume
        raw[2] = price / (c + 1e-6)
        raw[3] = r_hat[i]
        raw[4] = v_hat[i]
        ratio = abs(q) / (bid_depth + 1e-6)
        raw[5] = cap if ratio > cap else ratio
        ratio = abs(q) / (ask_depth + 1e-6)
        raw[6] = cap if ratio > cap else ratio
        raw[7] = gap + sigma[i] * normal[i]
        for j in range(m):
            v = 2.0 * (raw[j] - lows[j]) / spans[j] - 1.0
            if v < -1.0:
                v = -1.0
            elif v > 1.0:
                v = 1.0
            obs[i, j] = v
        for j in range(t):
            obs[i, m + j] = traits[active[i], j]
    return obs


@jit
def limit_orders(rows: np.ndarray, action: np.ndarray, reference: float, price_range: float,
                 max_volume: float, ttl: int):
    """Each action ``(r, v)`` as a limit order (rows, sides, prices, volumes, ttls), the
    orders of volume 0 left out (``LearningGroup.orders``)."""
    n = len(rows)
    out_rows = np.empty(n, np.int64)
    sides = np.empty(n, np.int64)
    prices = np.empty(n)
    volumes = np.empty(n, np.int64)
    k = 0
    for i in range(n):
        offset = np.float64(action[i, 0])
        signed = np.float64(action[i, 1])
        volume = np.ceil(abs(max_volume * signed))
        if volume < 1:
            continue
        buy = signed > 0
        out_rows[k] = rows[i]
        sides[k] = 1 if buy else -1
        prices[k] = (reference * (1 - price_range * offset) if buy
                     else reference * (1 + price_range * offset))
        volumes[k] = np.int64(volume)
        k += 1
    return out_rows[:k], sides[:k], prices[:k], volumes[:k], np.full(k, ttl, np.int64)
