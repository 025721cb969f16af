"""The compiled book's operations: numba functions over the arrays of :mod:`.layout`.

Each mirrors a step of :class:`~abm_hetero.market.order_book.OrderBook` exactly: price-time
priority (best level first, oldest order first within a level), fills at the resting price (or
all at the last fill's price under ``last_level`` clearing), ids that increase by one per
submission (market orders included), expiry of orders with ``time + ttl < now``, and the
kernel-weighted depth summed over levels from the lowest price to the highest.

The exchange's batch placement (:func:`place_batch`) and the replay of a recorded stream
(:func:`replay_stream`) live here too: numba's on-disk cache does not notice a change in a
compiled function called from another module, so all compiled functions share this one; for
the same reason the array indices and status codes they read are defined here (constants
imported from another module are baked into the cached code without being tracked).

Sides are passed as the book's codes (``BUY = 1``, ``SELL = -1``); a price of 0 ticks means a
market order (real prices are at least one tick) and a ``ttl`` of ``NO_TTL`` means none.
"""

from __future__ import annotations

import math

import numba
import numpy as np

# Named indices into the book's arrays and status codes (:mod:`.layout` describes the arrays
# and imports these from here). They live in this module because numba's on-disk cache only
# notices changes to the source file of the compiled functions, and compiles the values of the
# globals they read into the cached code: defined elsewhere, a changed index would be read from
# a stale cache.

# fields of a pool row
ID, TRADER, SIDE, PRICE, VOLUME, TIME, EXPIRY, NEXT, PREV, TNEXT, TPREV, LIVE = range(12)
POOL_FIELDS = 12
# fields of a level
L_PRICE, L_VOLUME, L_HEAD, L_TAIL = range(4)
# counters in meta
M_NEXT_ID, M_RESTING, M_FREE_TOP, M_MIN_EXPIRY, M_LAST_LEVEL, M_LEVELS = range(6)
META_SIZE = M_LEVELS + 2  # M_LEVELS + side: the number of levels of that side
# ints of the exchange
X_TIME, X_BAND, X_LOW, X_HIGH, X_PER_UNIT, X_TICK_VOLUME, X_TICK_TRADES, X_ORDERS, X_TRADES = (
    range(9))
X_SIZE = 9
# floats of the exchange (XF_REFUSED: the price of a house quote refused as too large)
XF_TICK, XF_LAST_TRADE, XF_REFUSED = range(3)
XF_SIZE = 3
# what place_batch, open_tick and close_tick return (INVALID: an order of the batch fails the
# exchange's checks, nothing placed; TOO_LARGE: a backstop price beyond the tick range)
PLACED, NO_ROOM, BROKEN, INVALID, TOO_LARGE = range(5)
#: the expiry of an order without a time-to-live (later than any tick)
NO_EXPIRY = 2 ** 62
#: the time-to-live that means none (``ttl=None``); any other value, negative ones too, counts
NO_TTL = -(2 ** 62)

#: compiled once and cached on disk; ``error_model="numpy"`` leaves out the checks for a
#: division by zero (no divisor here is ever zero), which only shortens compilation
jit = numba.njit(cache=True, error_model="numpy")

#: what :func:`submit` returns when an array has to grow first
NEED_ROOM = -2


@jit
def find_level(levels, meta, s, price):
    """Index of ``price`` among side ``s``'s levels (or where it would go), and whether it is
    there. Keys ascend towards the best level: the price for bids, minus it for asks."""
    n = meta[M_LEVELS + s]
    key = price if s == 0 else -price
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        p = levels[s, mid, L_PRICE]
        if (p if s == 0 else -p) < key:
            lo = mid + 1
        else:
            hi = mid
    return lo, lo < n and levels[s, lo, L_PRICE] == price


@jit
def drop_level(levels, meta, s, i):
    """Remove side ``s``'s level ``i`` (empty by now)."""
    n = meta[M_LEVELS + s]
    for j in range(i, n - 1):
        for r in range(4):
            levels[s, j, r] = levels[s, j + 1, r]
    meta[M_LEVELS + s] = n - 1


@jit
def unlink(pool, slot_of, free, levels, thead, meta, slot, s, i):
    """Take a resting order out of its level's queue (level ``i`` of side ``s``) and its
    trader's list, and free its slot. The level's volume is the caller's."""
    nxt, prv = pool[slot, NEXT], pool[slot, PREV]
    if prv >= 0:
        pool[prv, NEXT] = nxt
    else:
        levels[s, i, L_HEAD] = nxt
    if nxt >= 0:
        pool[nxt, PREV] = prv
    else:
        levels[s, i, L_TAIL] = prv
    nxt, prv = pool[slot, TNEXT], pool[slot, TPREV]
    if prv >= 0:
        pool[prv, TNEXT] = nxt
    else:
        thead[pool[slot, TRADER]] = nxt
    if nxt >= 0:
        pool[nxt, TPREV] = prv
    pool[slot, LIVE] = 0
    slot_of[pool[slot, ID]] = -1
    free[meta[M_FREE_TOP]] = slot
    meta[M_FREE_TOP] += 1
    meta[M_RESTING] -= 1


@jit
def submit(pool, slot_of, free, levels, thead, meta, fills, nf, trader, side, price, volume,
           time, ttl, drop_rest):
    """Match an incoming order, then rest what is left of a limit order (unless
    ``drop_rest``: a market order repriced to a limit, whose rest the exchange drops).

    Fills go to ``fills[nf:]`` as rows ``(price, volume, buyer, seller, resting_side,
    resting_order, incoming_order)``. Returns the id of the resting rest (-1 if none) and the
    new end of the fills; or ``NEED_ROOM`` (and nothing changed) if an array is too small for
    the order, so that the caller grows them and calls again."""
    order_id = meta[M_NEXT_ID]
    if (meta[M_FREE_TOP] < 1 or order_id + 1 >= len(slot_of) or trader >= len(thead)
            or max(meta[M_LEVELS], meta[M_LEVELS + 1]) >= levels.shape[1]
            or nf + meta[M_RESTING] + 1 > fills.shape[0]):
        return NEED_ROOM, nf
    meta[M_NEXT_ID] = order_id + 1
    remaining = volume
    o = 1 if side == 1 else 0  # the opposite side
    start = nf
    while remaining > 0 and meta[M_LEVELS + o] > 0:
        i = meta[M_LEVELS + o] - 1
        best = levels[o, i, L_PRICE]
        if price > 0 and (best > price if side == 1 else best < price):
            break
        slot = levels[o, i, L_HEAD]
        while remaining > 0 and slot >= 0:
            rest = pool[slot, VOLUME]
            q = remaining if remaining < rest else rest
            fills[nf, 0] = best
            fills[nf, 1] = q
            if side == 1:
                fills[nf, 2] = trader
                fills[nf, 3] = pool[slot, TRADER]
            else:
                fills[nf, 2] = pool[slot, TRADER]
                fills[nf, 3] = trader
            fills[nf, 4] = -side
            fills[nf, 5] = pool[slot, ID]
            fills[nf, 6] = order_id
            nf += 1
            pool[slot, VOLUME] = rest - q
            levels[o, i, L_VOLUME] -= q
            remaining -= q
            nxt = pool[slot, NEXT]
            if rest == q:
                unlink(pool, slot_of, free, levels, thead, meta, slot, o, i)
            slot = nxt
        if levels[o, i, L_VOLUME] == 0:
            drop_level(levels, meta, o, i)
    if meta[M_LAST_LEVEL] == 1 and nf - start > 1:
        last = fills[nf - 1, 0]
        for k in range(start, nf):
            fills[k, 0] = last
    if remaining == 0 or price <= 0 or drop_rest:
        return -1, nf
    s = 0 if side == 1 else 1
    i, found = find_level(levels, meta, s, price)
    if not found:
        n = meta[M_LEVELS + s]
        for j in range(n, i, -1):
            for r in range(4):
                levels[s, j, r] = levels[s, j - 1, r]
        levels[s, i, L_PRICE] = price
        levels[s, i, L_VOLUME] = 0
        levels[s, i, L_HEAD] = -1
        levels[s, i, L_TAIL] = -1
        meta[M_LEVELS + s] = n + 1
    top = meta[M_FREE_TOP] - 1
    meta[M_FREE_TOP] = top
    slot = free[top]
    pool[slot, ID] = order_id
    pool[slot, TRADER] = trader
    pool[slot, SIDE] = side
    pool[slot, PRICE] = price
    pool[slot, VOLUME] = remaining
    pool[slot, TIME] = time
    expiry = NO_EXPIRY if ttl == NO_TTL else time + ttl
    pool[slot, EXPIRY] = expiry
    if expiry < meta[M_MIN_EXPIRY]:
        meta[M_MIN_EXPIRY] = expiry
    tail = levels[s, i, L_TAIL]
    pool[slot, NEXT] = -1
    pool[slot, PREV] = tail
    if tail >= 0:
        pool[tail, NEXT] = slot
    else:
        levels[s, i, L_HEAD] = slot
    levels[s, i, L_TAIL] = slot
    levels[s, i, L_VOLUME] += remaining
    head = thead[trader]
    pool[slot, TPREV] = -1
    pool[slot, TNEXT] = head
    if head >= 0:
        pool[head, TPREV] = slot
    thead[trader] = slot
    pool[slot, LIVE] = 1
    slot_of[order_id] = slot
    meta[M_RESTING] += 1
    return order_id, nf


@jit
def cancel(pool, slot_of, free, levels, thead, meta, order_id):
    """Remove a resting order; its slot (whose fields stay readable until reused), or -1."""
    if order_id < 0 or order_id >= len(slot_of):
        return -1
    slot = slot_of[order_id]
    if slot < 0:
        return -1
    s = 0 if pool[slot, SIDE] == 1 else 1
    i, _ = find_level(levels, meta, s, pool[slot, PRICE])
    levels[s, i, L_VOLUME] -= pool[slot, VOLUME]
    unlink(pool, slot_of, free, levels, thead, meta, slot, s, i)
    if levels[s, i, L_VOLUME] == 0:
        drop_level(levels, meta, s, i)
    return slot


@jit
def cancel_trader(pool, slot_of, free, levels, thead, meta, trader):
    """Cancel every resting order of ``trader``; how many there were."""
    if trader < 0 or trader >= len(thead):
        return 0
    count = 0
    slot = thead[trader]
    while slot >= 0:
        nxt = pool[slot, TNEXT]
        cancel(pool, slot_of, free, levels, thead, meta, pool[slot, ID])
        count += 1
        slot = nxt
    return count


@jit
def cancel_traders(pool, slot_of, free, levels, thead, meta, traders):
    """Cancel every resting order of each of ``traders``; how many there were."""
    count = 0
    for trader in traders:
        count += cancel_trader(pool, slot_of, free, levels, thead, meta, trader)
    return count


@jit
def expire(pool, slot_of, free, levels, thead, meta, now, out):
    """Cancel every order with ``time + ttl < now``; their slots go to ``out`` (their fields
    stay readable until the slots are reused), the count is returned. Skips the scan while no
    order can have expired yet."""
    if meta[M_MIN_EXPIRY] >= now:
        return 0
    n = 0
    earliest = NO_EXPIRY
    for slot in range(pool.shape[0]):
        if pool[slot, LIVE] == 1:
            e = pool[slot, EXPIRY]
            if e < now:
                out[n] = slot
                n += 1
            elif e < earliest:
                earliest = e
    for k in range(n):
        cancel(pool, slot_of, free, levels, thead, meta, pool[out[k], ID])
    meta[M_MIN_EXPIRY] = earliest
    return n


@jit
def weighted_depth(levels, meta, s, centre, lo, hi, decay):
    """Sum of ``volume * exp(-decay * |price - centre| / centre)`` over side ``s``'s levels
    with ``lo <= price <= hi``, from the lowest price to the highest (the Python book's
    order, so that the sum is the same to the last bit)."""
    n = meta[M_LEVELS + s]
    total = 0.0
    minus_decay = -decay
    for k in range(n):
        i = k if s == 0 else n - 1 - k
        p = levels[s, i, L_PRICE]
        if p >= lo and p <= hi:
            total += levels[s, i, L_VOLUME] * math.exp(minus_decay * abs(p - centre) / centre)
    return total


@jit
def to_ticks(price, side, tick_size):
    """:func:`~abm_hetero.market.order_book.to_ticks`: buys down, sells up, at least 1."""
    x = price / tick_size
    nearest = np.rint(x)
    if abs(x - nearest) < 1e-9 * max(1.0, abs(x)):
        ticks = np.int64(nearest)
    elif side == 1:
        ticks = np.int64(math.floor(x))
    else:
        ticks = np.int64(math.ceil(x))
    return max(ticks, np.int64(1))


@jit
def price_of(ticks, per_unit, tick_size):
    """Money price of a tick count: divided by the whole ticks per unit when there is such a
    number (exact decimals), else multiplied by the tick size (``Exchange.price_of``)."""
    if per_unit > 0:
        return ticks / per_unit
    return ticks * tick_size


@jit
def has_room(slot_of, levels, meta, fills, thead, order_ints, trade_ints, xi, n, max_row):
    """Whether the arrays hold ``n`` more submissions by rows up to ``max_row`` (with their
    fills and log rows) whatever they match."""
    resting = meta[M_RESTING]
    return not (meta[M_FREE_TOP] < n or meta[M_NEXT_ID] + n + 1 > len(slot_of)
                or max(meta[M_LEVELS], meta[M_LEVELS + 1]) + n > levels.shape[1]
                or resting + n + 1 > fills.shape[0] or xi[X_ORDERS] + n > order_ints.shape[0]
                or xi[X_TRADES] + resting + 2 * n + 1 > trade_ints.shape[0]
                or max_row >= len(thead))


@jit
def first_invalid(rows, sides, prices, volumes, ttls, n_traders, max_price, max_volume,
                  max_ttl):
    """The index of the first order that fails the exchange's checks (a row outside
    ``0..n_traders - 1``, a side other than 1 or -1, a price not finite and positive or not
    below ``max_price``, a volume outside ``1..max_volume``, a ttl outside ``-max_ttl..max_ttl``),
    or -1 if all pass."""
    for k in range(len(rows)):
        p = prices[k]
        if (rows[k] < 0 or rows[k] >= n_traders or (sides[k] != 1 and sides[k] != -1)
                or not math.isfinite(p) or p <= 0 or p >= max_price or volumes[k] < 1
                or volumes[k] > max_volume or ttls[k] < -max_ttl or ttls[k] > max_ttl):
            return k
    return -1


@jit
def place_order(pool, slot_of, free, levels, thead, meta, fills, cash, shares, order_ints,
                order_floats, trade_ints, trade_floats, xi, xf, trader, side, price, volume,
                ttl):
    """Place one order (a step of :func:`place_batch`): round, reprice into the band, match,
    settle, log. Returns the id of its resting rest (-1 if none), or ``NEED_ROOM`` if an array
    was short (callers check the room first)."""
    time = xi[X_TIME]
    per_unit = xi[X_PER_UNIT]
    tick = xf[XF_TICK]
    low, high = xi[X_LOW], xi[X_HIGH]
    market = price != price  # NaN: a market order
    ticks = np.int64(0) if market else to_ticks(price, side, tick)
    mid = np.nan
    if meta[M_LEVELS] > 0 and meta[M_LEVELS + 1] > 0:
        bid = levels[0, meta[M_LEVELS] - 1, L_PRICE]
        ask = levels[1, meta[M_LEVELS + 1] - 1, L_PRICE]
        mid = 0.5 * (price_of(bid, per_unit, tick) + price_of(ask, per_unit, tick))
    market_order = False
    if xi[X_BAND] == 1:
        if side == 1:
            if market or ticks > high:
                market_order = market
                ticks = high
        elif market or ticks < low:
            market_order = market
            ticks = low
    rest, nf = submit(pool, slot_of, free, levels, thead, meta, fills, 0, trader, side,
                      ticks, volume, time, ttl, market_order)
    if rest == NEED_ROOM:
        return rest
    n = xi[X_ORDERS]
    order_ints[n, 0] = time
    order_ints[n, 1] = meta[M_NEXT_ID] - 1
    order_ints[n, 2] = trader
    order_ints[n, 3] = side
    order_ints[n, 4] = volume
    order_ints[n, 5] = -1 if ttl == NO_TTL else ttl
    order_floats[n, 0] = np.nan if ticks == 0 else price_of(ticks, per_unit, tick)
    order_floats[n, 1] = mid
    xi[X_ORDERS] = n + 1
    if nf > 0:
        n = xi[X_TRADES]
        for f in range(nf):
            fill_price = price_of(fills[f, 0], per_unit, tick)
            q = fills[f, 1]
            buyer, seller = fills[f, 2], fills[f, 3]
            amount = fill_price * q
            cash[buyer] -= amount
            cash[seller] += amount
            shares[buyer] += q
            shares[seller] -= q
            trade_ints[n, 0] = time
            trade_ints[n, 1] = q
            trade_ints[n, 2] = buyer
            trade_ints[n, 3] = seller
            trade_ints[n, 4] = fills[f, 4]
            trade_floats[n, 0] = fill_price
            n += 1
            xi[X_TICK_VOLUME] += q
        xi[X_TRADES] = n
        xi[X_TICK_TRADES] += nf
        xf[XF_LAST_TRADE] = price_of(fills[nf - 1, 0], per_unit, tick)
    return rest


@jit
def place_batch(pool, slot_of, free, levels, thead, meta, fills, cash, shares, order_ints,
                order_floats, trade_ints, trade_floats, xi, xf, rows, sides, prices, volumes,
                ttls, out, n_traders, max_price, max_volume, max_ttl):
    """Place ``len(rows)`` orders in order; ``out[k]`` is the id of order ``k``'s resting rest
    (-1 if none). Order-log rows are ``(time, order_id, trader, side, volume, ttl)`` and
    ``(price, mid)``, trade-log rows ``(time, volume, buyer, seller, resting_side)`` and
    ``(price,)``. With ``n_traders > 0`` the batch is checked first (:func:`first_invalid`):
    ``INVALID``, having changed nothing, if an order fails. Returns ``NO_ROOM``, having
    changed nothing, if an array lacks room for the batch (the caller grows them and calls
    again), else ``PLACED``."""
    n = len(rows)
    if n_traders > 0 and first_invalid(rows, sides, prices, volumes, ttls, n_traders, max_price,
                                       max_volume, max_ttl) >= 0:
        return INVALID
    max_row = 0
    for k in range(n):
        if rows[k] > max_row:
            max_row = rows[k]
    if not has_room(slot_of, levels, meta, fills, thead, order_ints, trade_ints, xi, n,
                    max_row):
        return NO_ROOM
    for k in range(n):
        rest = place_order(pool, slot_of, free, levels, thead, meta, fills, cash, shares,
                           order_ints, order_floats, trade_ints, trade_floats, xi, xf, rows[k],
                           sides[k], prices[k], volumes[k], ttls[k])
        if rest == NEED_ROOM:  # not after the check above; stop rather than write past an end
            return BROKEN
        out[k] = rest
    return PLACED


@jit
def post_backstop(pool, slot_of, free, levels, thead, meta, fills, cash, shares, order_ints,
                  order_floats, trade_ints, trade_floats, xi, xf, side, volume, house,
                  max_price, out, k):
    """``Exchange._post_backstop``: bid ``volume`` at the band's floor or offer it at its
    ceiling on the house row, never crossing the other side; the id of a resting quote goes
    to ``out[k]`` (-1 if none). Returns ``TOO_LARGE`` (price in ``xf[XF_REFUSED]``) for a
    price beyond the tick range, ``BROKEN`` if an array was short, else ``PLACED``."""
    out[k] = -1
    if side == 1:
        ticks = xi[X_LOW]
        if meta[M_LEVELS + 1] > 0:
            ticks = min(ticks, levels[1, meta[M_LEVELS + 1] - 1, L_PRICE] - 1)
    else:
        ticks = xi[X_HIGH]
        if meta[M_LEVELS] > 0:
            ticks = max(ticks, levels[0, meta[M_LEVELS] - 1, L_PRICE] + 1)
    if ticks < 1:
        return PLACED
    price = price_of(ticks, xi[X_PER_UNIT], xf[XF_TICK])
    if price >= max_price:
        xf[XF_REFUSED] = price
        return TOO_LARGE
    rest = place_order(pool, slot_of, free, levels, thead, meta, fills, cash, shares,
                       order_ints, order_floats, trade_ints, trade_floats, xi, xf, house, side,
                       price, volume, NO_TTL)
    if rest == NEED_ROOM:
        return BROKEN
    out[k] = rest
    return PLACED


@jit
def open_tick(pool, slot_of, free, levels, thead, meta, fills, cash, shares, order_ints,
              order_floats, trade_ints, trade_floats, xi, xf, expired, stale, volume, house,
              max_price, out):
    """The compiled core's part of ``Exchange.begin_tick``: expire orders with ``time + ttl
    < xi[X_TIME]`` (when ``expired`` can hold every slot; an empty one skips this), cancel the
    orders ``stale`` that still rest (last tick's backstop quotes), and, when ``volume > 0``,
    post the backstop bid then offer (ids to ``out[0]`` and ``out[1]``). Returns
    ``NO_ROOM``, having changed nothing, if the arrays lack room for the two quotes, else
    :func:`post_backstop`'s status."""
    out[0] = -1
    out[1] = -1
    if volume > 0 and not has_room(slot_of, levels, meta, fills, thead, order_ints,
                                   trade_ints, xi, 2, house):
        return NO_ROOM
    if len(expired) > 0:
        expire(pool, slot_of, free, levels, thead, meta, xi[X_TIME], expired)
    for order_id in stale:
        if 0 <= order_id < len(slot_of) and slot_of[order_id] >= 0:
            cancel(pool, slot_of, free, levels, thead, meta, order_id)
    if volume <= 0:
        return PLACED
    for k in range(2):
        status = post_backstop(pool, slot_of, free, levels, thead, meta, fills, cash, shares,
                               order_ints, order_floats, trade_ints, trade_floats, xi, xf,
                               1 if k == 0 else -1, volume, house, max_price, out, k)
        if status != PLACED:
            return status
    return PLACED


@jit
def close_tick(pool, slot_of, free, levels, thead, meta, fills, cash, shares, order_ints,
               order_floats, trade_ints, trade_floats, xi, xf, volume, house, max_price, out,
               initial_price, depth_range, depth_decay, state):
    """The compiled core's part of ``Exchange.publish``: with ``volume > 0`` re-post the
    backstop bid if the best bid left the band or the side emptied, then the offer likewise
    (ids to ``out``), and write ``(best_bid, best_ask, mid, market_price, bid_depth,
    ask_depth)`` to ``state`` with the exchange's operations in its order. Returns ``NO_ROOM``,
    having changed nothing, if the arrays lack room for two quotes, else
    :func:`post_backstop`'s status (``state`` is written only after ``PLACED``)."""
    out[0] = -1
    out[1] = -1
    if volume > 0:
        if not has_room(slot_of, levels, meta, fills, thead, order_ints, trade_ints, xi, 2,
                        house):
            return NO_ROOM
        low, high = xi[X_LOW], xi[X_HIGH]
        bid_low = meta[M_LEVELS] == 0 or levels[0, meta[M_LEVELS] - 1, L_PRICE] < low
        ask_high = meta[M_LEVELS + 1] == 0 or levels[1, meta[M_LEVELS + 1] - 1, L_PRICE] > high
        if bid_low:
            status = post_backstop(pool, slot_of, free, levels, thead, meta, fills, cash,
                                   shares, order_ints, order_floats, trade_ints, trade_floats,
                                   xi, xf, 1, volume, house, max_price, out, 0)
            if status != PLACED:
                return status
        if ask_high:
            status = post_backstop(pool, slot_of, free, levels, thead, meta, fills, cash,
                                   shares, order_ints, order_floats, trade_ints, trade_floats,
                                   xi, xf, -1, volume, house, max_price, out, 1)
            if status != PLACED:
                return status
    per_unit = xi[X_PER_UNIT]
    tick = xf[XF_TICK]
    best_bid = np.nan
    best_ask = np.nan
    if meta[M_LEVELS] > 0:
        best_bid = price_of(levels[0, meta[M_LEVELS] - 1, L_PRICE], per_unit, tick)
    if meta[M_LEVELS + 1] > 0:
        best_ask = price_of(levels[1, meta[M_LEVELS + 1] - 1, L_PRICE], per_unit, tick)
    mid = 0.5 * (best_bid + best_ask)
    last_trade = xf[XF_LAST_TRADE]
    if not math.isnan(last_trade):
        market_price = last_trade
    elif not math.isnan(mid):
        market_price = mid
    else:
        market_price = initial_price
    centre = (market_price if math.isnan(mid) else mid) / tick
    state[0] = best_bid
    state[1] = best_ask
    state[2] = mid
    state[3] = market_price
    state[4] = weighted_depth(levels, meta, 0, centre, centre * (1 - depth_range), centre,
                              depth_decay)
    state[5] = weighted_depth(levels, meta, 1, centre, centre, centre * (1 + depth_range),
                              depth_decay)
    return PLACED


@jit
def replay_stream(pool, slot_of, free, levels, thead, meta, fills, expired, times, traders, sides,
            prices, volumes, ttls):
    """Replay a recorded stream (:mod:`.replay`): expire at each new time, then submit; returns
    how many orders ``k`` were placed (fewer than all when an array is full) and the fills."""
    now = -1 if len(times) == 0 else times[0] - 1
    filled = 0
    for k in range(len(times)):
        if times[k] != now:
            now = times[k]
            expire(pool, slot_of, free, levels, thead, meta, now, expired)
        rest, nf = submit(pool, slot_of, free, levels, thead, meta, fills, 0, traders[k],
                          sides[k], prices[k], volumes[k], now, ttls[k], False)
        if rest == NEED_ROOM:
            return k, filled
        filled += nf
    return len(times), filled
