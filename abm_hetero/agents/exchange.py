"""The exchange: the Mesa agent that owns the order book, matches and settles orders, publishes
prices.

It is the only agent that touches the book. Traders hand it orders; it validates them (an
invalid order raises :class:`~abm_hetero.errors.InvalidOrderError` naming the field and changes
nothing), matches them on arrival, moves cash and shares between accounts for every fill, logs
orders and trades, expires stale orders at the start of each tick and, at the end of a tick,
publishes the state traders may observe (:class:`MarketState`).

**Price band and backstop** (on by default, ``price_band = 0.01``). Like an exchange's price
collar, no order may trade or rest more than ``price_band`` beyond the last published reference
price in its aggressive direction: a sell limit below ``ref (1 - band)`` is repriced to that
floor, a buy above ``ref (1 + band)`` to that ceiling (a market order trades only inside the
band). Passive prices are never changed. As a backstop it also keeps
``backstop_volume`` shares bid at the floor and offered at the ceiling, re-centred at the start
of every tick and, at the end of a tick, re-posted on any side whose best price the traders
pushed outside the band or emptied (one tick inside the other side if that side sits at the
band's edge). So the published book never has an empty side and the reference price (the mid)
moves at most ``price_band`` (plus a tick) per tick: an emptied side cannot send it tens of
percent away for a tick.

**Read API.** Traders observe the market through a small API indexed by time (as PAMS's
``market.get_market_price(t)``): :attr:`now` is the last published tick, and
:meth:`market_price`, :meth:`mid_price`, :meth:`reference_price` and :meth:`fundamental_price`
give a price at a tick (the latest by default); :meth:`price_history` gives a whole series for
windowed statistics and :meth:`holdings` the cash and shares of account rows.

**Cores.** ``core="compiled"`` (the default, ``Settings.core``) keeps the book in arrays
(:class:`~abm_hetero.market.compiled.CompiledOrderBook`) and places each batch of orders --
rounding, band, matching, settlement, order and trade logs -- in one numba call
(:mod:`abm_hetero.market.compiled.placement`); ``core="python"`` runs the same steps in plain
Python over :class:`~abm_hetero.market.OrderBook`, the executable specification. Both give the
same fills, accounts, logs and published states, bit for bit.

A dealer that quotes a spread of its own is a separate agent (:class:`~abm_hetero.agents.dealer.
Dealer`, the market maker, off by default); the exchange lets it re-quote at the start of each
tick, after stale orders expire and before the backstop quotes. The backstop's and the dealer's
quotes trade on the house account, the row after the traders' (its cash is
``market.maker_cash``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mesa
import numpy as np

from ..defaults import CORES
from ..errors import InvalidOrderError
from ..market import (
    BUY,
    SELL,
    Accounts,
    FundamentalProcess,
    OrderBook,
    OrderLog,
    SeriesBuffer,
    TradeLog,
    to_ticks,
)
from ..market.compiled import ArrayOrderLog, ArrayTradeLog, CompiledOrderBook
from ..market.compiled.layout import NO_TTL
from ..market.compiled.placement import MAX_TICKS as MAX_PRICE_TICKS
from ..market.compiled.placement import CompiledPlacement
from ..validation import MAX_SHARES, MAX_TICKS

_SIDES = {"buy": BUY, "sell": SELL, BUY: BUY, SELL: SELL}


@dataclass
class MarketState:
    """What traders may observe after a tick. Undefined prices are NaN."""

    time: int
    best_bid: float
    best_ask: float
    mid: float
    last_trade: float
    market_price: float  # last trade price, or the mid before the first trade
    bid_depth: float  # kernel-weighted resting volume near the reference price
    ask_depth: float
    volume: int  # shares traded during the tick
    trades: int  # fills during the tick

    @property
    def spread(self) -> float:
        return self.best_ask - self.best_bid

    @property
    def reference_price(self) -> float:
        """The mid, or the market price when a side of the book is empty."""
        return self.market_price if math.isnan(self.mid) else self.mid


def _is_int64(values) -> bool:
    """Whether ``values`` is an int64 array (the dtype the compiled placement takes as is)."""
    return isinstance(values, np.ndarray) and values.dtype == np.int64


def _whole_ttl(ttl) -> bool:
    """Whether a batch's ttl is None or a whole number of ticks in ``[-MAX_TICKS, MAX_TICKS]``
    (a negative ttl expires the rest at the start of the next tick)."""
    if ttl is None:
        return True
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float, np.number)):
        return False
    return math.isfinite(ttl) and ttl == int(ttl) and -MAX_TICKS <= ttl <= MAX_TICKS


class Exchange(mesa.Agent):
    """Runs the limit-order book for ``n_traders`` accounts plus the house account (the last
    row: the backstop's and the dealer's quotes)."""

    def __init__(
        self,
        model: mesa.Model,
        accounts: Accounts,
        n_traders: int,
        *,
        initial_price: float,
        tick_size: float = 1e-4,
        clearing: str = "resting",
        depth_range: float = 0.05,
        depth_decay: float = 100.0,
        price_band: float = 0.0,
        backstop_volume: int = 0,
        fundamental: FundamentalProcess | None = None,
        core: str = "compiled",
    ) -> None:
        super().__init__(model)
        if len(accounts) != n_traders + 1:
            raise ValueError("accounts need one row per trader plus one for the house")
        if core not in CORES:
            raise ValueError(f"core must be one of {CORES}, got {core!r}")
        self.core = core
        self._compiled = core == "compiled"
        self.book = CompiledOrderBook(clearing) if self._compiled else OrderBook(clearing)
        self.accounts = accounts
        self.n_traders = n_traders
        self.row = n_traders
        self.tick_size = float(tick_size)
        # dividing by a whole number of ticks per unit gives exact decimal prices (3.1416, not
        # 3.1416000000000004); fall back to multiplying for unusual tick sizes
        per_unit = round(1.0 / self.tick_size)
        self._ticks_per_unit = per_unit if abs(per_unit * self.tick_size - 1) < 1e-12 else None
        self.depth_range = float(depth_range)
        self.depth_decay = float(depth_decay)
        self.fundamental = fundamental
        self.dealers: list = []  # agents that re-quote at the start of each tick
        self.price_band = float(price_band)
        self.backstop_volume = int(backstop_volume) if self.price_band > 0 else 0
        self._band = (1, None)  # (lowest sell, highest buy) in ticks for the current tick
        self._backstop_orders: list[int] = []
        self.trades = ArrayTradeLog() if self._compiled else TradeLog()
        self.orders = ArrayOrderLog() if self._compiled else OrderLog()
        self._placement = CompiledPlacement(self) if self._compiled else None
        self.market_prices = SeriesBuffer()
        self.mids = SeriesBuffer()
        self.reference_prices = SeriesBuffer()
        self.time = 0
        self.last_trade = math.nan
        self.tick_volume = 0
        self.tick_trades = 0
        self.open_orders: list[list[int]] = [[] for _ in range(n_traders + 1)]
        self._initial_price = float(initial_price)
        self.state: MarketState | None = None
        self._set_band()
        self.state = self.publish()

    # ------------------------------------------------------------ validation

    def _check(self, trader, side, price, volume, ttl) -> tuple[int, int, float | None, int]:
        if isinstance(trader, bool) or not isinstance(trader, (int, np.integer)) or not (
            0 <= trader < self.n_traders
        ):
            raise InvalidOrderError(
                "trader", f"unknown trader {trader!r}; traders are 0..{self.n_traders - 1}"
            )
        side_code = _SIDES.get(side.lower() if isinstance(side, str) else side)
        if side_code is None:
            raise InvalidOrderError("side", f"must be 'buy' or 'sell', got {side!r}")
        if price is not None:
            if isinstance(price, bool) or not isinstance(price, (int, float, np.number)):
                raise InvalidOrderError("price", f"must be a number, got {price!r}")
            if not math.isfinite(price) or price <= 0:
                raise InvalidOrderError("price", f"must be finite and positive, got {price!r}")
            if price >= MAX_PRICE_TICKS * self.tick_size:
                raise InvalidOrderError("price", f"must be below 2**53 ticks "
                                        f"({MAX_PRICE_TICKS * self.tick_size:g}), got {price!r}")
        if isinstance(volume, bool) or not isinstance(volume, (int, float, np.number)) or not (
            math.isfinite(volume) and volume == int(volume)
        ):
            raise InvalidOrderError("volume", f"must be a whole number, got {volume!r}")
        if volume < 1 or volume > MAX_SHARES:
            raise InvalidOrderError(
                "volume", f"must be in [1, {MAX_SHARES:g}], got {volume!r}")
        if ttl is not None and (
            isinstance(ttl, bool) or not isinstance(ttl, (int, np.integer)) or ttl < 0
            or ttl > MAX_TICKS
        ):
            raise InvalidOrderError(
                "ttl", f"must be a whole number in [0, {MAX_TICKS}] or None, got {ttl!r}")
        return int(trader), side_code, price, int(volume)

    def price_of(self, ticks: int) -> float:
        """Money price of a tick count."""
        if self._ticks_per_unit is not None:
            return ticks / self._ticks_per_unit
        return ticks * self.tick_size

    # ------------------------------------------------------------ orders

    def submit(
        self, trader: int, side: str | int, price: float | None, volume: int,
        ttl: int | None = None,
    ) -> int | None:
        """Validate, match and settle one order; return the id of its resting rest, if any.

        ``price=None`` submits a market order. ``ttl`` is the number of ticks the rest may
        stay in the book (None: until filled or cancelled).
        """
        trader, side_code, price, volume = self._check(trader, side, price, volume, ttl)
        return self._place(trader, side_code, price, volume, ttl)

    def submit_batch(self, rows, sides, prices, volumes, ttls) -> None:
        """Submit many orders in the given order, validated at once: 1-D arrays (or lists) of
        one length, integer rows, and each order passing :meth:`submit`'s checks, except that a
        ttl may be negative down to ``-MAX_TICKS`` (the rest expires at the start of the next
        tick) and None is no ttl. An invalid batch raises :class:`InvalidOrderError` and places
        nothing."""
        columns = (rows, sides, prices, volumes, ttls)
        if any(np.ndim(c) != 1 for c in columns):
            raise InvalidOrderError(
                "batch", "rows, sides, prices, volumes and ttls must be 1-D arrays")
        if len({len(c) for c in columns}) != 1:
            raise InvalidOrderError(
                "batch", "rows, sides, prices, volumes and ttls must have the same length, got "
                + ", ".join(str(len(c)) for c in columns))
        rows = np.asarray(rows)
        if len(rows) == 0:
            return
        if rows.dtype.kind not in "iu":
            raise InvalidOrderError("rows", f"must be whole numbers (integers), got {rows[0]!r}")
        placement = self._placement
        # the compiled call checks the whole batch before placing any order; the checks
        # below run only to raise the error of a batch it refused (or for other dtypes)
        if (placement is not None and self.n_traders > 0 and rows.dtype == np.int64
                and _is_int64(sides) and _is_int64(volumes) and _is_int64(ttls)
                and isinstance(prices, np.ndarray) and prices.dtype == np.float64
                and placement.place_checked(rows, sides, prices, volumes, ttls)):
            return
        prices = np.asarray(prices, dtype=np.float64)
        volumes = np.asarray(volumes)
        sides = np.asarray(sides)
        ttls = np.asarray(ttls)
        ttl_list = ttls.tolist()
        bad = ~((rows >= 0) & (rows < self.n_traders))
        if bad.any():
            self._check(int(rows[bad][0]), "buy", 1.0, 1, None)
        if sides.dtype.kind not in "iuf":  # a batch takes the codes, not "buy"/"sell"
            raise InvalidOrderError(
                "side", f"must be {BUY} (buy) or {SELL} (sell) in a batch, got {sides[0]!r}")
        bad = ~((sides == BUY) | (sides == SELL))
        if bad.any():
            self._check(0, sides[bad][0].item(), 1.0, 1, None)
        bad = ~(np.isfinite(prices) & (prices > 0) & (prices < MAX_PRICE_TICKS * self.tick_size))
        if bad.any():
            self._check(0, "buy", float(prices[bad][0]), 1, None)
        bad = ~((volumes >= 1) & (volumes == np.floor(volumes)) & (volumes <= MAX_SHARES))
        if bad.any():
            self._check(0, "buy", 1.0, volumes[bad][0].item(), None)
        if ttls.dtype.kind in "iuf":
            whole = ((np.abs(ttls) <= MAX_TICKS) & (ttls == np.floor(ttls))).all()
        else:  # None (no ttl) among numbers
            whole = all(_whole_ttl(t) for t in ttl_list)
        if not whole:
            first = next(t for t in ttl_list if not _whole_ttl(t))
            raise InvalidOrderError(
                "ttl", f"must be whole numbers in [-{MAX_TICKS}, {MAX_TICKS}] or None, got "
                f"{first!r}")
        if self._placement is not None:
            if ttls.dtype == object:  # None: no ttl
                ttls = np.array([NO_TTL if t is None else t for t in ttl_list], dtype=np.int64)
            self._placement.place(rows, sides, prices, volumes, ttls)
            return
        place = self._place
        for r, s, p, v, ttl in zip(
            rows.tolist(), sides.tolist(), prices.tolist(), volumes.tolist(), ttl_list
        ):
            place(r, s, p, int(v), ttl)

    def _place(self, trader: int, side: int, price: float | None, volume: int, ttl) -> int | None:
        if self._placement is not None:
            return self._placement.place_one(trader, side, price, volume, ttl)
        book = self.book
        ticks = None if price is None else to_ticks(price, side, self.tick_size)
        price_of = self.price_of
        mid = self.current_mid()
        if self.price_band > 0:
            ticks, market_order = self._inside_band(side, ticks)
        else:
            market_order = False
        time = self.time
        order_id, fills = book.submit(trader, side, ticks, volume, time, ttl)
        if market_order and order_id is not None:  # a market order's rest is dropped
            book.cancel(order_id)
            order_id = None
        self.orders.add((time, book.last_order_id, trader, side,
                         math.nan if ticks is None else price_of(ticks), volume,
                         -1 if ttl is None else ttl, mid))
        if fills:
            settle = self.accounts.settle
            log = self.trades.add
            for f in fills:
                fill_price = price_of(f.price)
                settle(f.buyer, f.seller, fill_price, f.volume)
                log((time, fill_price, f.volume, f.buyer, f.seller, f.resting_side))
                self.tick_volume += f.volume
            self.tick_trades += len(fills)
            self.last_trade = price_of(fills[-1].price)
        if order_id is not None:
            open_ids = self.open_orders[trader]
            open_ids.append(order_id)
            if len(open_ids) > 16:  # forget orders that no longer rest
                self.open_orders[trader] = [i for i in open_ids if i in self.book]
        return order_id

    def cancel(self, order_id: int) -> bool:
        """Cancel a resting order; False if it already filled, expired or was cancelled. An id
        that is not an integer raises :class:`InvalidOrderError` (field ``order_id``)."""
        if isinstance(order_id, bool) or not isinstance(order_id, (int, np.integer)):
            raise InvalidOrderError("order_id", f"must be an integer, got {order_id!r}")
        if self._compiled:
            return self.book.discard(order_id)
        return self.book.cancel(order_id) is not None

    def _check_traders(self, traders: np.ndarray) -> None:
        """Refuse trader rows that are not integers in ``0..n_traders - 1``."""
        if traders.ndim != 1 or (len(traders) and traders.dtype.kind not in "iu"):
            raise InvalidOrderError("trader", f"must be integers, got {traders!r}")
        bad = (traders < 0) | (traders >= self.n_traders)
        if bad.any():
            raise InvalidOrderError(
                "trader", f"unknown trader {traders[bad][0].item()!r}; traders are "
                f"0..{self.n_traders - 1}")

    def cancel_all(self, trader: int) -> None:
        """Cancel every resting order of one trader (an unknown trader raises
        :class:`InvalidOrderError`)."""
        if isinstance(trader, bool) or not isinstance(trader, (int, np.integer)):
            raise InvalidOrderError("trader", f"must be an integer, got {trader!r}")
        self._check_traders(np.array([trader]))
        if self._compiled:
            self.book.cancel_trader(trader)
            return
        cancel = self.book.cancel
        for order_id in self.open_orders[trader]:
            cancel(order_id)
        self.open_orders[trader] = []

    def cancel_all_of(self, traders) -> None:
        """Cancel every resting order of each trader in ``traders`` (one compiled call on the
        compiled core); an unknown trader raises :class:`InvalidOrderError`, cancelling
        nothing."""
        self._check_traders(np.asarray(traders))
        if self._compiled:
            self.book.cancel_traders(traders)
            return
        cancel_all = self.cancel_all
        for trader in np.asarray(traders).tolist():
            cancel_all(trader)

    # ------------------------------------------------------------ the tick

    def begin_tick(self, time: int) -> None:
        """Start tick ``time``: expire stale orders, reset counters, set the price band, let
        the dealers re-quote, and re-centre the backstop quotes."""
        self.time = time
        if self._compiled:
            self._open_compiled()
            return
        self.book.expire(time)
        self.tick_volume = 0
        self.tick_trades = 0
        self._set_band()
        cancel = self.book.discard if self._compiled else self.book.cancel
        for order_id in self._backstop_orders:
            cancel(order_id)
        self._backstop_orders = []
        for dealer in self.dealers:
            dealer.quote(self)
        if self.backstop_volume:
            for side in (BUY, SELL):
                self._post_backstop(side)

    def _open_compiled(self) -> None:
        """``begin_tick`` on the compiled core, in its order: one compiled call expires,
        cancels last tick's backstop quotes and posts the new ones; with dealers, they quote
        between a first call (expire, cancel) and a second (post)."""
        self.tick_volume = 0
        self.tick_trades = 0
        self._set_band()
        stale, self._backstop_orders = self._backstop_orders, []
        placement = self._placement
        if not self.dealers:
            self._backstop_orders = placement.open_tick(stale, True, self.backstop_volume)
            return
        placement.open_tick(stale, True, 0)
        for dealer in self.dealers:
            dealer.quote(self)
        if self.backstop_volume:
            self._backstop_orders = placement.open_tick([], False, self.backstop_volume)

    # ------------------------------------------------------------ price band and backstop

    def _set_band(self) -> None:
        """The band for the coming tick, around the last published reference price."""
        if self.price_band <= 0:
            return
        ref = self._initial_price if self.state is None else self.state.reference_price
        low = to_ticks(ref * (1 - self.price_band), SELL, self.tick_size)
        high = to_ticks(ref * (1 + self.price_band), BUY, self.tick_size)
        self._band = (low, high)

    def _inside_band(self, side: int, ticks: int | None) -> tuple[int, bool]:
        """Reprice an order's aggressive limit into the band; a market order gets the band's
        edge as its limit (and is flagged so that its rest is dropped)."""
        low, high = self._band
        if side == BUY:
            return (high, ticks is None) if ticks is None or ticks > high else (ticks, False)
        return (low, ticks is None) if ticks is None or ticks < low else (ticks, False)

    def _post_backstop(self, side: int) -> None:
        """Bid at the band's floor or offer at its ceiling, never crossing the other side."""
        low, high = self._band
        if side == BUY:
            ask = self.book.best_ask
            ticks = low if ask is None else min(low, ask - 1)
        else:
            bid = self.book.best_bid
            ticks = high if bid is None else max(high, bid + 1)
        if ticks >= 1:
            order_id = self._place(self.row, side, self.price_of(ticks), self.backstop_volume,
                                   None)
            if order_id is not None:
                self._backstop_orders.append(order_id)

    def place_house_order(self, side: int, price: float, volume: int) -> int | None:
        """An order on the house account (a dealer's quote); returns its id."""
        return self._place(self.row, side, price, volume, None)

    # ------------------------------------------------------------ read API

    @property
    def now(self) -> int:
        """The last published tick: the state traders observe."""
        return len(self.reference_prices) - 1

    def _at(self, series: SeriesBuffer, t: int | None) -> float:
        return series.last if t is None else float(series[t])

    def market_price(self, t: int | None = None) -> float:
        """The last trade price (the mid before the first trade) published at tick ``t``."""
        return self._at(self.market_prices, t)

    def mid_price(self, t: int | None = None) -> float:
        """The mid published at tick ``t`` (NaN if a side of the book was empty)."""
        return self._at(self.mids, t)

    def reference_price(self, t: int | None = None) -> float:
        """The mid, or the market price when a side was empty, published at tick ``t``."""
        return self._at(self.reference_prices, t)

    def fundamental_price(self, t: int | None = None) -> float:
        """The fundamental value at tick ``t``; by default its current value, which has already
        moved for the tick under way (it runs one tick ahead of the published prices)."""
        if t is None:
            return self.fundamental.value
        return float(self.fundamental.history[t])

    def price_history(self, kind: str) -> SeriesBuffer:
        """A whole series, for windowed statistics: ``"market"``, ``"mid"``, ``"reference"``
        (published prices, one per tick) or ``"fundamental"``."""
        series = {"market": self.market_prices, "mid": self.mids,
                  "reference": self.reference_prices}
        if kind == "fundamental":
            return self.fundamental.history
        return series[kind]

    def holdings(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cash and shares of the account rows ``rows`` (copies)."""
        return self.accounts.cash[rows].copy(), self.accounts.shares[rows].copy()

    def current_mid(self) -> float:
        bid, ask = self.book.best_bid, self.book.best_ask
        if bid is None or ask is None:
            return math.nan
        return 0.5 * (self.price_of(bid) + self.price_of(ask))

    def publish(self) -> MarketState:
        """Compute the end-of-tick state, append it to the price histories and return it."""
        if self._compiled:
            return self._published(*self._placement.close_tick())
        if self.backstop_volume:
            low, high = self._band
            bid, ask = self.book.best_bid, self.book.best_ask
            if bid is None or bid < low:
                self._post_backstop(BUY)
            if ask is None or ask > high:
                self._post_backstop(SELL)
        tick = self.tick_size
        bid, ask = self.book.best_bid, self.book.best_ask
        best_bid = math.nan if bid is None else self.price_of(bid)
        best_ask = math.nan if ask is None else self.price_of(ask)
        mid = 0.5 * (best_bid + best_ask)
        if not math.isnan(self.last_trade):
            market_price = self.last_trade
        elif not math.isnan(mid):
            market_price = mid
        else:
            market_price = self._initial_price
        centre = (market_price if math.isnan(mid) else mid) / tick
        d = self.depth_range
        bid_depth = self.book.weighted_depth(BUY, centre, centre * (1 - d), centre,
                                             self.depth_decay)
        ask_depth = self.book.weighted_depth(SELL, centre, centre, centre * (1 + d),
                                             self.depth_decay)
        return self._published(best_bid, best_ask, mid, market_price, bid_depth, ask_depth)

    def _published(self, best_bid: float, best_ask: float, mid: float, market_price: float,
                   bid_depth: float, ask_depth: float) -> MarketState:
        """Make the end-of-tick state current and append it to the price histories."""
        self.state = MarketState(
            self.time, best_bid, best_ask, mid, self.last_trade, market_price, bid_depth,
            ask_depth, self.tick_volume, self.tick_trades,
        )
        self.market_prices.append(market_price)
        self.mids.append(mid)
        self.reference_prices.append(self.state.reference_price)
        self.orders.compact()
        self.trades.compact()
        return self.state
