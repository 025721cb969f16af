"""The learning traders' per-tick arithmetic in compiled loops (the compiled core).

A tick's batch is about twenty traders: at that size each NumPy call costs more in overhead
than in arithmetic, so the compiled core builds the observations and the orders of a batch in
one call each. The loops do the same IEEE operations, in the same order, as the NumPy code of
``learning/observer.py`` (its :data:`~abm_hetero.learning.observer.MARKET_FEATURES` table) and
of ``LearningGroup.orders``, so their results equal it; they are used only for the market
features of that table (a group with extra features observes through the table).
"""

from __future__ import annotations

import numpy as np

from ..market.compiled.jit import jit


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
    """Each action ``(r, v)`` as a limit order, the orders of volume 0 left out
    (``LearningGroup.orders``: a volume that is NaN or 2**63 or more, which NumPy's cast to
    int64 turns into -2**63, is left out too, as there). Returns the whole-number columns
    (rows, sides, volumes, ttls) as one array and the prices (two arrays cross back to Python
    faster than five)."""
    n = len(rows)
    ints = np.empty((4, n), np.int64)
    prices = np.empty(n)
    k = 0
    for i in range(n):
        offset = np.float64(action[i, 0])
        signed = np.float64(action[i, 1])
        volume = np.ceil(abs(max_volume * signed))
        if not 1 <= volume < 9.223372036854775808e18:  # 2**63: the NumPy cast's range
            continue
        buy = signed > 0
        ints[0, k] = rows[i]
        ints[1, k] = 1 if buy else -1
        prices[k] = (reference * (1 - price_range * offset) if buy
                     else reference * (1 + price_range * offset))
        ints[2, k] = np.int64(volume)
        ints[3, k] = ttl
        k += 1
    return ints[:, :k], prices[:k]


@jit
def mean_variance_terms(prev_tick, prev_cash, prev_shares, prev_fundamental, prev_mark,
                        now_tick, now_cash, now_shares, now_fundamental, now_mark,
                        alpha: np.ndarray, index: np.ndarray, unit: float, risk_scale: float,
                        variance: np.ndarray, settle: bool, short_penalty: float,
                        cash_penalty: float, with_fundamental: bool):
    """The ``mean_variance`` reward's terms (rows: trading, premium, fundamental, risk,
    settlement, penalties; ``learning/reward.py``) and the reward, NaN where a trader has no
    previous decision. ``variance``: the variance per tick, one value or one per trader; the
    fundamental term counts in the reward if ``with_fundamental``. Without the liquidity and
    fundamental-gap penalties."""
    n = len(index)
    terms = np.empty((6, n))
    reward = np.empty(n)
    one_variance = len(variance) == 1
    for i in range(n):
        pc, ps, pf, pm = prev_cash[i], prev_shares[i], prev_fundamental[i], prev_mark[i]
        nc, ns, nf, nm = now_cash[i], now_shares[i], now_fundamental[i], now_mark[i]
        trading = ((nc - pc) + (ns - ps) * nm) / unit
        now_phi = nm / nf
        prev_phi = pm / pf
        premium = ps * nf * (now_phi - prev_phi) / unit
        fundamental = ps * (nf - pf) * prev_phi / unit
        dt = np.float64(now_tick[i] - prev_tick[i])
        exposure = ns * nm / unit
        var = variance[0] if one_variance else variance[i]
        risk = -0.5 * alpha[index[i]] * risk_scale * exposure * exposure * var * dt
        settlement = ns * (nf - nm) / unit if settle else 0.0
        short = short_penalty * (1.0 if ns < 0 else 0.0)
        broke = cash_penalty * (1.0 if nc < 0 else 0.0)
        penalties = -(short + broke)
        terms[0, i] = trading
        terms[1, i] = premium
        terms[2, i] = fundamental
        terms[3, i] = risk
        terms[4, i] = settlement
        terms[5, i] = penalties
        r = 0.0 + trading + premium
        if with_fundamental:
            r = r + fundamental
        r = r + risk + settlement + penalties
        reward[i] = r if prev_tick[i] >= 0 else np.nan
    return terms, reward
