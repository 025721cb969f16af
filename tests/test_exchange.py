"""The exchange: validation of every field, settlement and conservation, expiry, the dealer's
quotes, the price band and the backstop; every test on both market cores."""

import math

import mesa
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abm_hetero.agents import Dealer, Exchange, QuoteRule
from abm_hetero.errors import InvalidOrderError
from abm_hetero.market import Accounts

CORES = ("compiled", "python")
both_cores = pytest.mark.parametrize("core", CORES)


def make_exchange(core, n=4, quote_rule=None, cash=1000.0, shares=10, **market):
    """An exchange of market core ``core`` over ``n`` accounts, with a dealer quoting
    ``quote_rule`` if given."""
    model = mesa.Model(rng=1)
    accounts = Accounts(np.full(n + 1, cash), np.full(n + 1, shares))
    exchange = Exchange(model, accounts, n, initial_price=100.0, tick_size=0.01, core=core,
                        **market)
    if quote_rule is not None:
        Dealer(model, exchange, quote_rule)
    return exchange


@pytest.mark.parametrize(
    "order, field",
    [
        (dict(trader=99, side="buy", price=100.0, volume=1), "trader"),
        (dict(trader=-1, side="buy", price=100.0, volume=1), "trader"),
        (dict(trader="a", side="buy", price=100.0, volume=1), "trader"),
        (dict(trader=0, side="hold", price=100.0, volume=1), "side"),
        (dict(trader=0, side="buy", price=float("nan"), volume=1), "price"),
        (dict(trader=0, side="buy", price=float("inf"), volume=1), "price"),
        (dict(trader=0, side="buy", price=0.0, volume=1), "price"),
        (dict(trader=0, side="buy", price=-5.0, volume=1), "price"),
        (dict(trader=0, side="buy", price=100.0, volume=0), "volume"),
        (dict(trader=0, side="buy", price=100.0, volume=0.5), "volume"),
        (dict(trader=0, side="buy", price=100.0, volume=1.5), "volume"),
        (dict(trader=0, side="buy", price=100.0, volume=1, ttl=-1), "ttl"),
    ],
)
@both_cores
def test_invalid_orders_name_the_field_and_change_nothing(core, order, field):
    exchange = make_exchange(core)
    exchange.submit(1, "sell", 101.0, 2)
    before = (exchange.accounts.cash.copy(), exchange.accounts.shares.copy(), len(exchange.book),
              len(exchange.orders))
    with pytest.raises(InvalidOrderError) as info:
        exchange.submit(**order)
    assert info.value.field == field and field in str(info.value)
    after = (exchange.accounts.cash, exchange.accounts.shares, len(exchange.book),
             len(exchange.orders))
    assert np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])
    assert before[2:] == after[2:]


@both_cores
def test_batch_validation_rejects_before_placing_anything(core):
    exchange = make_exchange(core)
    with pytest.raises(InvalidOrderError, match="price"):
        exchange.submit_batch([0, 1], [1, -1], [100.0, -1.0], [1, 1], [5, 5])
    assert len(exchange.book) == 0 and len(exchange.orders) == 0


@both_cores
def test_settlement_moves_cash_and_shares(core):
    exchange = make_exchange(core)
    exchange.submit(0, "sell", 100.0, 3)
    exchange.submit(1, "buy", 101.0, 2)
    cash, shares = exchange.accounts.cash, exchange.accounts.shares
    assert cash[0] == pytest.approx(1200.0) and shares[0] == 8
    assert cash[1] == pytest.approx(800.0) and shares[1] == 12
    trades = exchange.trades.to_frame()
    assert trades.to_dict("records") == [
        dict(time=0, price=100.0, volume=2, buyer=1, seller=0, resting_side=-1)
    ]


@both_cores
def test_expiry_at_tick_start_and_published_state(core):
    exchange = make_exchange(core)
    exchange.submit(0, "buy", 99.0, 1, ttl=2)
    exchange.submit(1, "sell", 101.0, 1)
    state = exchange.publish()
    assert state.best_bid == 99.0 and state.best_ask == 101.0 and state.mid == 100.0
    assert state.market_price == 100.0  # mid before the first trade
    exchange.begin_tick(2)
    assert exchange.publish().best_bid == 99.0
    exchange.begin_tick(3)
    state = exchange.publish()
    assert math.isnan(state.best_bid) and math.isnan(state.mid)


@both_cores
def test_the_read_api_indexes_prices_by_tick(core):
    exchange = make_exchange(core)
    exchange.begin_tick(1)
    exchange.submit(0, "buy", 99.0, 1)
    exchange.submit(1, "sell", 101.0, 1)
    exchange.publish()
    exchange.begin_tick(2)
    exchange.submit(2, "buy", 101.0, 1)  # trades at 101, the ask
    exchange.publish()
    assert exchange.now == 2
    assert exchange.mid_price(1) == 100.0 and math.isnan(exchange.mid_price())
    assert exchange.market_price(1) == 100.0 and exchange.market_price() == 101.0
    assert exchange.reference_price() == 101.0 and exchange.reference_price(0) == 100.0
    assert list(exchange.price_history("market").values) == [100.0, 100.0, 101.0]
    cash, shares = exchange.holdings(np.array([1, 2]))
    assert list(shares) == [9, 11] and cash[0] == pytest.approx(1101.0)


@both_cores
def test_a_dealer_posts_both_sides_and_replaces_its_quotes(core):
    exchange = make_exchange(core, quote_rule=QuoteRule(half_spread=0.01, quote_volume=3,
                                            inventory_limit=100))
    exchange.accounts.shares[exchange.row] = 0
    exchange.begin_tick(1)
    state = exchange.publish()
    assert state.best_bid == pytest.approx(99.0) and state.best_ask == pytest.approx(101.0)
    exchange.begin_tick(2)
    assert len(exchange.book) == 2  # the old quotes were cancelled


@both_cores
def test_a_dealer_stops_buying_at_the_inventory_limit(core):
    exchange = make_exchange(core, quote_rule=QuoteRule(0.01, 3, inventory_limit=10))
    exchange.accounts.shares[exchange.row] = 10
    exchange.begin_tick(1)
    state = exchange.publish()
    assert math.isnan(state.best_bid) and not math.isnan(state.best_ask)


@both_cores
def test_an_emptied_side_does_not_move_the_reference_price_beyond_the_band(core):
    exchange = make_exchange(core, price_band=0.01, backstop_volume=1)
    assert exchange.state.best_bid == 99.0 and exchange.state.best_ask == 101.0  # the backstop
    exchange.begin_tick(1)
    exchange.submit(0, "buy", 99.5, 5)
    exchange.submit(1, "sell", 100.5, 5)
    assert exchange.publish().mid == pytest.approx(100.0)
    exchange.begin_tick(2)
    # a sell sweeping the whole bid side at any price: it trades no lower than the band's
    # floor (99) and its rest is repriced up to the floor
    exchange.submit(2, "sell", 50.0, 20)
    assert min(f.price for f in exchange.trades.to_frame().itertuples()) >= 99.0
    state = exchange.publish()
    assert not math.isnan(state.best_bid) and not math.isnan(state.best_ask)
    assert state.best_ask >= 99.0
    # at most the band, plus half a tick when the backstop bid sits one tick below the ask
    assert abs(state.reference_price / 100.0 - 1) <= 0.01 + 0.005 / 100 + 1e-12
    # a market buy may not trade above the band's ceiling either
    exchange.begin_tick(3)
    ceiling = state.reference_price * 1.01
    exchange.submit(3, "buy", None, 100)
    assert exchange.trades.to_frame()["price"].max() <= ceiling + 0.01
    assert not math.isnan(exchange.publish().mid)


@both_cores
def test_without_a_band_an_emptied_side_leaves_no_mid(core):
    exchange = make_exchange(core)
    exchange.begin_tick(1)
    exchange.submit(0, "buy", 99.0, 1)
    exchange.submit(1, "sell", 50.0, 3)  # takes the only bid; its rest offers at 50
    state = exchange.publish()
    assert math.isnan(state.mid) and state.best_ask == 50.0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["buy", "sell"]),
                          st.floats(80, 120), st.integers(1, 5), st.integers(0, 3)),
                max_size=80),
       st.floats(0.005, 0.05))
@both_cores
def test_the_reference_price_moves_at_most_the_band_per_tick(core, stream, band):
    exchange = make_exchange(core, price_band=band, backstop_volume=1)
    for t, (trader, side, price, volume, ttl) in enumerate(stream, start=1):
        before = exchange.state.reference_price
        exchange.begin_tick(t)
        exchange.submit(trader, side, price, volume, ttl=ttl)
        state = exchange.publish()
        exchange.book.check_invariants()
        assert not math.isnan(state.mid)
        assert abs(state.reference_price / before - 1) <= band + 0.02 / before


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["buy", "sell"]),
                          st.floats(95, 105), st.integers(1, 5), st.integers(0, 3)),
                max_size=80),
       st.booleans(), st.booleans())
@both_cores
def test_cash_and_shares_are_conserved(core, stream, quotes, band):
    exchange = make_exchange(core, quote_rule=QuoteRule(0.005, 2, 50) if quotes else None,
                       price_band=0.01 if band else 0.0, backstop_volume=1)
    total_cash = exchange.accounts.cash.sum()
    total_shares = exchange.accounts.shares.sum()
    for t, (trader, side, price, volume, ttl) in enumerate(stream):
        exchange.begin_tick(t)
        exchange.submit(trader, side, price, volume, ttl=ttl)
        exchange.publish()
        exchange.book.check_invariants()
    assert exchange.accounts.cash.sum() == pytest.approx(total_cash)
    assert exchange.accounts.shares.sum() == total_shares


BAD_BATCHES = {
    "unequal lengths": (([0, 1], [1, -1], [100.0], [1, 1], [5, 5]), "batch"),
    "2-D arrays": ((np.array([[0]]), np.array([[1]]), np.array([[100.0]]), np.array([[1]]),
                    np.array([[5]])), "batch"),
    "fractional row": (([0.5], [1], [100.0], [1], [5]), "rows"),
    "side as text": (([0], ["buy"], [100.0], [1], [5]), "side"),
    "int64 volume past MAX_SHARES": ((np.array([0]), np.array([1]), np.array([100.0]),
                                      np.array([2 ** 62]), np.array([5])), "volume"),
    "float volume 1e20": (([0], [1], [100.0], [1e20], [5]), "volume"),
    "ttl past MAX_TICKS": ((np.array([0]), np.array([1]), np.array([100.0]), np.array([1]),
                            np.array([2 ** 62])), "ttl"),
    "ttl below -MAX_TICKS": ((np.array([0]), np.array([1]), np.array([100.0]), np.array([1]),
                              np.array([-(2 ** 62)])), "ttl"),
    "price of 2**53 ticks": ((np.array([0]), np.array([1]), np.array([2.0 ** 53]),
                              np.array([1]), np.array([5])), "price"),
}


@pytest.mark.parametrize("name", BAD_BATCHES)
@both_cores
def test_malformed_or_overflowing_batches_are_refused_and_place_nothing(core, name):
    """Unequal lengths, non-1-D arrays, fractional rows and volumes, ttls or prices past what
    the market represents are refused on both cores, naming the field, before any order."""
    batch, field = BAD_BATCHES[name]
    exchange = make_exchange(core, price_band=0.01, backstop_volume=5)
    before = (len(exchange.book), len(exchange.orders), exchange.accounts.cash.copy())
    with pytest.raises(InvalidOrderError) as info:
        exchange.submit_batch(*batch)
    assert info.value.field == field
    if name == "unequal lengths":
        assert "same length" in str(info.value)
    assert (len(exchange.book), len(exchange.orders)) == before[:2]
    assert np.array_equal(exchange.accounts.cash, before[2])


@pytest.mark.parametrize(
    "order, field",
    [
        (dict(volume=2 ** 63), "volume"),
        (dict(volume=10 ** 9 + 1), "volume"),
        (dict(volume=1, ttl=2 ** 63), "ttl"),
        (dict(volume=1, ttl=10 ** 7 + 1), "ttl"),
        (dict(volume=1, price=2.0 ** 60), "price"),
    ],
)
@both_cores
def test_single_orders_past_the_market_limits_are_refused(core, order, field):
    """A volume above MAX_SHARES, a ttl above MAX_TICKS or a price of 2**53 ticks or more
    raises InvalidOrderError (not OverflowError), with or without the band."""
    for band in (0.0, 0.01):
        exchange = make_exchange(core, price_band=band)
        with pytest.raises(InvalidOrderError) as info:
            exchange.submit(0, "buy", **{"price": 100.0, **order})
        assert info.value.field == field


@both_cores
def test_batch_ttls_of_none_mean_no_ttl(core):
    """A batch's ttl of None (all or some) is no ttl, as for ``submit``, on both cores."""
    exchange = make_exchange(core)
    exchange.submit_batch([0, 1], [1, -1], [99.0, 101.0], [1, 1], [None, None])
    exchange.submit_batch([2, 3], [1, -1], [98.0, 102.0], [1, 1], [None, 0])
    assert len(exchange.book) == 4
    exchange.begin_tick(5)
    assert len(exchange.book) == 3


@both_cores
def test_cancels_refuse_non_integer_ids_and_unknown_traders(core):
    """``cancel(1.0)`` and cancel-alls of unknown traders raise InvalidOrderError on both
    cores and cancel nothing; an unknown integer id is just not resting (False)."""
    exchange = make_exchange(core)
    order_id = exchange.submit(0, "buy", 99.0, 1)
    for bad in (1.0, float(order_id), True, "1", None):
        with pytest.raises(InvalidOrderError) as info:
            exchange.cancel(bad)
        assert info.value.field == "order_id"
    for call, arg in ((exchange.cancel_all, 99), (exchange.cancel_all, -1),
                      (exchange.cancel_all, 0.0), (exchange.cancel_all_of, [0, 99]),
                      (exchange.cancel_all_of, [0.5])):
        with pytest.raises(InvalidOrderError) as info:
            call(arg)
        assert info.value.field == "trader"
    assert len(exchange.book) == 1 and exchange.cancel(10 ** 6) is False
    assert exchange.cancel(order_id) is True and len(exchange.book) == 0
