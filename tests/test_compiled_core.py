"""The compiled market core against the Python core, its executable specification: the same
order streams give the same ids, fills, book states, accounts, logs and published states, bit
for bit, for the bare book, the exchange and whole markets."""

import math

import mesa
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import abm_hetero.model as model_module
from abm_hetero.agents import Dealer, Exchange, QuoteRule
from abm_hetero.experiments import run_market, scenario_settings
from abm_hetero.market import BUY, SELL, Accounts, CompiledOrderBook, OrderBook, to_ticks
from abm_hetero.market.compiled import kernels
from abm_hetero.market.compiled.layout import BookArrays


def book_state(book) -> tuple:
    """Everything a user can read of a book: levels of both sides, resting orders, counts."""
    orders = sorted((o.order_id, o.trader, o.side, o.price, o.volume, o.time, o.expiry)
                    for o in book.resting_orders())
    return (book.levels(BUY), book.levels(SELL), orders, len(book), book.last_order_id,
            book.best_bid, book.best_ask)


def tiny_compiled_book(clearing: str) -> CompiledOrderBook:
    """A compiled book with room for two orders, so that every array has to grow."""
    book = CompiledOrderBook(clearing)
    book.arrays = BookArrays(clearing == "last_level", capacity=2)
    return book


@settings(max_examples=300, deadline=None)
@given(st.floats(1e-6, 1e6), st.sampled_from([BUY, SELL]), st.sampled_from([1e-4, 0.01, 0.05,
                                                                          0.3, 1.0]))
def test_price_rounding_is_the_python_rule(price, side, tick):
    assert kernels.to_ticks(price, side, tick) == to_ticks(price, side, tick)
    on_grid = round(price / tick) * tick
    assert kernels.to_ticks(on_grid, side, tick) == to_ticks(on_grid, side, tick)


actions = st.lists(
    st.tuples(
        st.sampled_from(["submit", "submit", "submit", "market", "cancel", "tick"]),
        st.integers(0, 7),  # trader
        st.sampled_from([BUY, SELL]),
        st.integers(95, 105),  # price in ticks
        st.integers(1, 6),  # volume
        st.one_of(st.none(), st.integers(-2, 4)),  # ttl (a negative one expires at once)
        st.integers(0, 200),  # which earlier id to cancel
    ),
    max_size=150,
)


@settings(max_examples=300, deadline=None)
@given(actions, st.sampled_from(["resting", "last_level"]))
def test_random_streams_give_the_same_fills_books_and_ids(stream, clearing):
    python, compiled = OrderBook(clearing), tiny_compiled_book(clearing)
    time = 0
    for action, trader, side, price, volume, ttl, which in stream:
        if action == "tick":
            time += 1
            expired = [(o.order_id, o.volume, o.expiry) for o in python.expire(time)]
            assert [(o.order_id, o.volume, o.expiry) for o in compiled.expire(time)] == expired
        elif action == "cancel":
            order_id = which % (python.last_order_id + 2)
            a, b = python.cancel(order_id), compiled.cancel(order_id)
            assert (a is None) == (b is None)
            if a is not None:
                assert (a.order_id, a.trader, a.side, a.price, a.volume, a.time) == (
                    b.order_id, b.trader, b.side, b.price, b.volume, b.time)
        else:
            limit = None if action == "market" else price
            assert python.submit(trader, side, limit, volume, time, ttl) == compiled.submit(
                trader, side, limit, volume, time, ttl)
        assert book_state(python) == book_state(compiled)
        compiled.check_invariants()
        for order_id in range(python.last_order_id + 2):
            assert (order_id in python) == (order_id in compiled)
    for side in (BUY, SELL):
        assert python.levels(side, 0) == compiled.levels(side, 0)
        assert python.levels(side, 2) == compiled.levels(side, 2)
        for price in (96, 100, 100.5, 104):
            assert python.volume_at(side, price) == compiled.volume_at(side, price)
        for centre in (97.0, 100.0, 103.5):
            args = (side, centre, centre * 0.95, centre * 1.05, 50.0)
            assert python.weighted_depth(*args) == compiled.weighted_depth(*args)


def test_a_long_stream_with_deep_books_matches():
    rng = np.random.default_rng(7)
    python, compiled = OrderBook(), tiny_compiled_book("resting")
    for t in range(300):
        assert [o.order_id for o in python.expire(t)] == [o.order_id for o in compiled.expire(t)]
        for _ in range(40):
            side = int(rng.choice([BUY, SELL]))
            price = int(1000 + rng.integers(-60, 60) - 20 * side)
            ttl = None if rng.random() < 0.3 else int(rng.integers(0, 30))
            volume = int(rng.integers(1, 20))
            trader = int(rng.integers(0, 300))
            assert python.submit(trader, side, price, volume, t, ttl) == compiled.submit(
                trader, side, price, volume, t, ttl)
        if t % 50 == 0:
            compiled.check_invariants()
    assert len(python) > 500 and book_state(python) == book_state(compiled)


def random_exchange_run(core: str, stream, band: bool, quotes: bool) -> Exchange:
    """An exchange of ``core`` fed ``stream``: batches, single orders (market ones too),
    cancels and cancel-alls, tick by tick."""
    model = mesa.Model(rng=1)
    n = 6
    accounts = Accounts(np.full(n + 1, 1000.0), np.full(n + 1, 10))
    exchange = Exchange(model, accounts, n, initial_price=100.0, tick_size=0.01, core=core,
                        price_band=0.01 if band else 0.0, backstop_volume=2)
    if quotes:
        Dealer(model, exchange, QuoteRule(0.004, 2, 30))
    for t, (orders, single, cancel_id, cancel_trader) in enumerate(stream, start=1):
        exchange.begin_tick(t)
        if orders:
            rows, sides, prices, volumes, ttls = map(np.array, zip(*orders))
            exchange.submit_batch(rows, sides, prices, volumes, ttls)
        trader, side, price, volume, ttl = single
        exchange.submit(trader, side, price, volume, ttl=ttl)
        exchange.cancel(cancel_id)
        if t % 2:
            exchange.cancel_all(cancel_trader)
        else:
            exchange.cancel_all_of(np.array([cancel_trader, (cancel_trader + 2) % n]))
        exchange.publish()
    return exchange


order = st.tuples(st.integers(0, 5), st.sampled_from([BUY, SELL]), st.floats(97, 103),
                  st.integers(1, 5), st.integers(-1, 3))
tick = st.tuples(
    st.lists(order, max_size=8),
    st.tuples(st.integers(0, 5), st.sampled_from(["buy", "sell"]),
              st.one_of(st.none(), st.floats(95, 105)), st.integers(1, 8),
              st.one_of(st.none(), st.integers(0, 3))),
    st.integers(0, 300),
    st.integers(0, 5),
)


def frame_bits(frame) -> list:
    """A frame's columns, dtypes and values (numbers by their bytes, NaNs included)."""
    return [list(frame.columns), [str(d) for d in frame.dtypes]] + [
        frame[c].to_numpy().tobytes() if frame[c].dtype.kind in "biuf" else frame[c].tolist()
        for c in frame.columns]


@settings(max_examples=120, deadline=None)
@given(st.lists(tick, max_size=25), st.booleans(), st.booleans())
def test_the_exchange_gives_the_same_accounts_logs_and_states(stream, band, quotes):
    python = random_exchange_run("python", stream, band, quotes)
    compiled = random_exchange_run("compiled", stream, band, quotes)
    assert python.accounts.cash.tobytes() == compiled.accounts.cash.tobytes()
    assert python.accounts.shares.tobytes() == compiled.accounts.shares.tobytes()
    assert frame_bits(python.orders.to_frame()) == frame_bits(compiled.orders.to_frame())
    assert frame_bits(python.trades.to_frame()) == frame_bits(compiled.trades.to_frame())
    assert python.orders.rows_from(3).tobytes() == compiled.orders.rows_from(3).tobytes()
    for kind in ("market", "mid", "reference"):
        assert python.price_history(kind).values.tobytes() == \
            compiled.price_history(kind).values.tobytes()
    assert repr(python.state) == repr(compiled.state)
    assert book_state(python.book) == book_state(compiled.book)
    compiled.book.check_invariants()


def market_frames(model) -> list:
    return [frame_bits(f) for f in (model.market_frame(), model.trade_frame(),
                                    model.order_frame())] + [
        model.exchange.accounts.cash.tobytes(), model.exchange.accounts.shares.tobytes()]


def test_a_rule_based_market_is_the_same_on_both_cores():
    settings_ = scenario_settings("fcn", 0, traders=60, ticks=80)
    python = run_market(settings_.replace(core="python"))
    compiled = run_market(settings_.replace(core="compiled"))
    assert len(python.exchange.trades) > 0
    assert market_frames(python) == market_frames(compiled)
    compiled.exchange.book.check_invariants()


def test_a_learned_market_is_the_same_on_both_exchange_cores(monkeypatch):
    """The learned traders' acting path also follows ``Settings.core``; holding it to the
    Python one shows what the exchange's core alone changes: nothing."""
    settings_ = scenario_settings("learned-heterogeneous", 0, traders=60, ticks=60)
    settings_ = settings_.replace(core="python")
    python = run_market(settings_)
    monkeypatch.setattr(model_module, "Exchange",
                        lambda *args, core, **kw: Exchange(*args, core="compiled", **kw))
    compiled = run_market(settings_)
    assert compiled.exchange.core == "compiled" and len(python.exchange.trades) > 0
    assert market_frames(python) == market_frames(compiled)


def test_unknown_core_is_rejected():
    accounts = Accounts(np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match="core"):
        Exchange(mesa.Model(rng=1), accounts, 1, initial_price=1.0, core="fortran")


def test_a_market_order_without_a_band_logs_no_price():
    model = mesa.Model(rng=1)
    exchange = Exchange(model, Accounts(np.full(3, 100.0), np.full(3, 5)), 2,
                        initial_price=10.0, tick_size=0.01)
    exchange.submit(0, "sell", 10.0, 2)
    assert exchange.submit(1, "buy", None, 5) is None
    row = exchange.orders.to_frame().iloc[-1]
    assert math.isnan(row["price"]) and len(exchange.book) == 0
    assert exchange.accounts.shares.tolist() == [3, 7, 5]


def test_a_replayed_stream_leaves_the_book_a_loop_of_submits_leaves():
    from abm_hetero.market.compiled.replay import replay

    rng = np.random.default_rng(3)
    n = 3000
    times = np.sort(rng.integers(0, 150, n))
    traders = rng.integers(0, 50, n)
    sides = rng.choice([BUY, SELL], n)
    prices = np.where(rng.random(n) < 0.05, 0, 1000 + rng.integers(-40, 40, n) - 10 * sides)
    volumes = rng.integers(1, 10, n)
    ttls = np.where(rng.random(n) < 0.3, -1, rng.integers(0, 20, n))
    python, compiled = OrderBook(), tiny_compiled_book("resting")
    now, fills = -1, 0
    for t, trader, side, price, volume, ttl in zip(*(c.tolist() for c in (
            times, traders, sides, prices, volumes, ttls))):
        if t != now:
            python.expire(t)
            now = t
        fills += len(python.submit(trader, side, price or None, volume, t,
                                   None if ttl < 0 else ttl)[1])
    assert replay(compiled, times, traders, sides, prices, volumes, ttls) == fills
    assert book_state(python) == book_state(compiled)
    compiled.check_invariants()


def test_a_price_beyond_the_compiled_range_is_refused_and_changes_nothing():
    from abm_hetero.errors import InvalidOrderError

    model = mesa.Model(rng=1)
    exchange = Exchange(model, Accounts(np.full(3, 100.0), np.full(3, 5)), 2,
                        initial_price=10.0, tick_size=0.01)
    for submit in (lambda: exchange.submit(0, "sell", 1e300, 1),
                   lambda: exchange.submit_batch([0], [SELL], [1e300], [1], [3])):
        with pytest.raises(InvalidOrderError, match="price"):
            submit()
    assert len(exchange.orders) == 0 and len(exchange.book) == 0


def test_a_compiled_function_without_a_cache_location_still_compiles():
    """numba refuses ``cache=True`` where it cannot write a cache (here: a function defined in
    no file); the package's ``jit`` compiles it without the disk cache instead, so the package
    imports on a read-only installation without a writable cache folder."""
    from abm_hetero.market.compiled.jit import jit

    namespace: dict = {}
    exec("def twice(x):\n    return 2 * x\n", namespace)  # noqa: S102 - a function with no file
    assert jit(namespace["twice"])(21) == 42
    assert jit(error_model="numpy")(namespace["twice"])(2.5) == 5.0


def test_compiled_limit_orders_drop_the_orders_the_numpy_path_drops():
    """Extreme actions (inf, NaN, 1e30, volumes about 2**63) give the same orders from the
    compiled ``limit_orders`` as from ``LearningGroup.orders``' NumPy path, which casts the
    volumes to int64 and keeps those of at least 1."""
    from abm_hetero.learning.compiled import limit_orders

    signed = [np.inf, -np.inf, np.nan, 1e30, -1e30, 9.3e16, 9.2e16, 0.5, -0.004, 0.0, 1.0]
    action = np.array([[0.5, v] for v in signed])
    rows = np.arange(len(signed), dtype=np.int64)
    ints, prices = limit_orders(rows, action, 100.0, 0.05, 100.0, 5)
    with np.errstate(invalid="ignore"):
        volumes = np.ceil(np.abs(100.0 * action[:, 1])).astype(np.int64)
    keep = volumes >= 1
    assert ints[0].tolist() == rows[keep].tolist()
    assert ints[2].tolist() == volumes[keep].tolist()
    assert (ints[2] >= 1).all() and len(prices) == keep.sum()


def test_the_array_indices_are_defined_in_the_module_numba_caches():
    """numba's disk cache is invalidated only by a change to ``kernels.py``, and bakes the
    indices its functions read into the cached code: they are defined there and
    ``layout`` re-exports the same objects."""
    import inspect
    import re

    from abm_hetero.market.compiled import layout

    source = inspect.getsource(kernels)
    for name in ("ID", "TIME", "EXPIRY", "L_PRICE", "M_LEVELS", "X_TRADES", "XF_TICK",
                 "NO_TTL", "NO_EXPIRY", "INVALID"):
        assert getattr(layout, name) == getattr(kernels, name)
        assert re.search(rf"^[A-Z_, (]*\b{name}\b[A-Z_, ]*=", source, re.MULTILINE), name
    assert "from .layout import" not in source
