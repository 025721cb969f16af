"""Order book: unit cases and property-based checks over random order streams, on both market
cores' books (the Python specification and the compiled book)."""

import math
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abm_hetero.market import BUY, SELL, CompiledOrderBook, OrderBook, to_ticks
from abm_hetero.market.compiled.layout import ID as POOL_ID
from abm_hetero.market.compiled.layout import L_HEAD, L_PRICE, M_LEVELS, NEXT, side_index

BOOKS = (OrderBook, CompiledOrderBook)
both_books = pytest.mark.parametrize("Book", BOOKS, ids=("python", "compiled"))


def queues(book) -> dict[int, dict[int, list[int]]]:
    """The ids in each level's queue, front first, per side (read from either book's
    internals)."""
    if isinstance(book, OrderBook):
        return {s: {p: [o.order_id for o in book._levels[s][p].orders if o.alive]
                    for p in book._prices[s]} for s in (BUY, SELL)}
    a = book.arrays
    out = {}
    for side in (BUY, SELL):
        s = side_index(side)
        out[side] = {}
        for i in range(int(a.meta[M_LEVELS + s])):
            ids, slot = [], int(a.levels[s, i, L_HEAD])
            while slot >= 0:
                ids.append(int(a.pool[slot, POOL_ID]))
                slot = int(a.pool[slot, NEXT])
            out[side][int(a.levels[s, i, L_PRICE])] = ids
    return out


def test_to_ticks_rounds_buys_down_sells_up():
    assert to_ticks(100.00015, BUY, 1e-4) == 1000001
    assert to_ticks(100.00015, SELL, 1e-4) == 1000002
    assert to_ticks(100.0001, BUY, 1e-4) == 1000001  # on the grid: unchanged
    assert to_ticks(100.0001, SELL, 1e-4) == 1000001
    assert to_ticks(1e-9, BUY, 1e-4) == 1  # never below one tick


@both_books
def test_limit_order_rests_then_fills_at_resting_price(Book):
    book = Book()
    rest_id, fills = book.submit(trader=1, side=SELL, price=105, volume=5, time=0)
    assert fills == [] and book.best_ask == 105
    _, fills = book.submit(trader=2, side=BUY, price=110, volume=3, time=1)
    assert [(f.price, f.volume, f.buyer, f.seller, f.resting_side) for f in fills] == [
        (105, 3, 2, 1, SELL)
    ]
    assert book.order(rest_id).volume == 2


@both_books
def test_sweep_fills_each_level_at_its_price_and_rests_the_remainder(Book):
    book = Book()
    book.submit(1, SELL, 101, 2, 0)
    book.submit(2, SELL, 102, 2, 0)
    rest, fills = book.submit(3, BUY, 103, 6, 1)
    assert [(f.price, f.volume) for f in fills] == [(101, 2), (102, 2)]
    assert rest is not None and book.best_bid == 103 and book.best_ask is None
    assert book.volume_at(BUY, 103) == 2


@both_books
def test_last_level_clearing_reproduces_the_reference_rule(Book):
    book = Book(clearing="last_level")
    book.submit(1, SELL, 101, 2, 0)
    book.submit(2, SELL, 102, 2, 0)
    _, fills = book.submit(3, BUY, 103, 4, 1)
    assert [f.price for f in fills] == [102, 102]


@both_books
def test_unknown_clearing_rule_is_rejected(Book):
    with pytest.raises(ValueError, match="clearing"):
        Book(clearing="pro-rata")


@both_books
def test_market_order_takes_liquidity_and_never_rests(Book):
    book = Book()
    book.submit(1, BUY, 99, 3, 0)
    rest, fills = book.submit(2, SELL, None, 5, 1)
    assert rest is None and sum(f.volume for f in fills) == 3 and len(book) == 0


@both_books
def test_price_time_priority(Book):
    book = Book()
    first, _ = book.submit(1, BUY, 100, 1, 0)
    second, _ = book.submit(2, BUY, 100, 1, 1)
    better, _ = book.submit(3, BUY, 101, 1, 2)
    _, fills = book.submit(4, SELL, 100, 3, 3)
    assert [f.resting_order for f in fills] == [better, first, second]


@both_books
def test_cancel_and_expiry(Book):
    book = Book()
    a, _ = book.submit(1, BUY, 100, 1, time=0, ttl=5)
    b, _ = book.submit(2, BUY, 99, 1, time=0)
    assert book.cancel(b) is not None and book.cancel(b) is None
    assert book.expire(5) == []  # still alive at t0 + ttl
    assert [o.order_id for o in book.expire(6)] == [a]
    assert len(book) == 0 and book.best_bid is None


@both_books
def test_weighted_depth_counts_levels_in_range(Book):
    book = Book()
    book.submit(1, BUY, 99, 2, 0)
    book.submit(1, BUY, 50, 7, 0)
    depth = book.weighted_depth(BUY, centre=100.0, lo=95.0, hi=100.0, decay=0.0)
    assert depth == 2


# ------------------------------------------------------------------ properties

orders = st.lists(
    st.tuples(
        st.integers(0, 5),  # trader
        st.sampled_from([BUY, SELL]),
        st.one_of(st.none(), st.integers(95, 105)),  # None: market order
        st.integers(1, 6),  # volume
        st.one_of(st.none(), st.integers(0, 4)),  # ttl
        st.sampled_from(["submit", "submit", "submit", "cancel", "tick"]),
    ),
    max_size=120,
)


@settings(max_examples=200, deadline=None)
@given(orders, st.sampled_from(["resting", "last_level"]))
@both_books
def test_random_streams_keep_the_book_consistent(Book, stream, clearing):
    book = Book(clearing)
    cash = defaultdict(float)
    shares = defaultdict(int)
    dead = set()  # cancelled or expired order ids
    submitted = []
    time = 0
    for trader, side, price, volume, ttl, action in stream:
        if action == "tick":
            time += 1
            dead.update(o.order_id for o in book.expire(time))
        elif action == "cancel" and submitted:
            order = book.cancel(submitted[trader % len(submitted)])
            if order is not None:
                dead.add(order.order_id)
        else:
            levels_before = queues(book)
            order_id, fills = book.submit(trader, side, price, volume, time, ttl)
            submitted.append(book.last_order_id)
            assert sum(f.volume for f in fills) <= volume
            for f in fills:
                assert f.resting_order not in dead, "a cancelled or expired order filled"
                assert f.volume > 0
                cash[f.buyer] -= f.price * f.volume
                cash[f.seller] += f.price * f.volume
                shares[f.buyer] += f.volume
                shares[f.seller] -= f.volume
            # first in, first out within each price level (the level's queue order)
            by_level = defaultdict(list)
            for f in fills:
                resting = -side
                level = next(p for p, ids in levels_before[resting].items()
                             if f.resting_order in ids)
                by_level[level].append(f.resting_order)
            for level, ids in by_level.items():
                queue = levels_before[-side][level]
                assert ids == queue[: len(ids)], "fills at a level were not FIFO"
        book.check_invariants()  # never crossed, no negative or empty levels
        for o in book.resting_orders():
            assert o.volume > 0
    assert abs(sum(cash.values())) < 1e-6
    assert sum(shares.values()) == 0


def test_logs_pack_rows_and_give_them_back_in_order():
    from abm_hetero.market.logs import CHUNK, OrderLog

    log = OrderLog()
    n = CHUNK + 10
    for i in range(n):
        log.add((i, i, i % 7, 1 if i % 2 else -1, 100.0 + i / 10, 1 + i % 3, -1, math.nan))
        log.compact()
    assert len(log) == n and len(log._chunks) == 1 and len(log._rows) == 10
    frame = log.to_frame()
    assert list(frame.columns) == list(OrderLog.columns)
    assert frame["order_id"].tolist() == list(range(n))
    assert frame["price"].iloc[-1] == 100.0 + (n - 1) / 10 and frame["mid"].isna().all()
    assert str(frame["trader"].dtype) == "int64"
    assert len(OrderLog().to_frame()) == 0
