"""The dealer, the market maker: an agent that quotes a spread of its own around the mid, apart
from the exchange.

Off by default (``market.maker_quotes``). The exchange lets each dealer re-quote at the start of
every tick, after stale orders expire and before traders act:

* cancel its previous quotes;
* reference price ``m`` = the mid price, or the market price if a side of the book is empty;
* skew ``s = half_spread * shares / inventory_limit`` (a long dealer quotes lower, to sell);
* post a bid of ``quote_volume`` at ``m * (1 - half_spread - s)`` unless its holding is above
  ``+inventory_limit``, and an ask at ``m * (1 + half_spread - s)`` unless below
  ``-inventory_limit``.

The dealer trades on the house account (the exchange's last row, which the backstop quotes use
too; its cash is ``market.maker_cash``), so its inventory is that account's holding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import mesa

from ..market import BUY, SELL

if TYPE_CHECKING:
    from .exchange import Exchange


@dataclass
class QuoteRule:
    """Settings of a dealer's quotes (see the module docstring)."""

    half_spread: float = 0.001
    quote_volume: int = 5
    inventory_limit: int = 500


class Dealer(mesa.Agent):
    """Quotes a bid and an ask around the reference price, skewed against its inventory."""

    def __init__(self, model: mesa.Model, exchange: Exchange, rule: QuoteRule) -> None:
        super().__init__(model)
        self.rule = rule
        self.orders: list[int] = []
        exchange.dealers.append(self)

    def quote(self, exchange: Exchange) -> None:
        """Replace the previous quotes (called by the exchange at the start of a tick)."""
        for order_id in self.orders:
            exchange.cancel(order_id)
        self.orders = []
        rule = self.rule
        ref = exchange.state.reference_price
        held = int(exchange.accounts.shares[exchange.row])
        skew = rule.half_spread * held / rule.inventory_limit
        if held < rule.inventory_limit:
            self._post(exchange, BUY, ref * (1 - rule.half_spread - skew))
        if held > -rule.inventory_limit:
            self._post(exchange, SELL, ref * (1 + rule.half_spread - skew))

    def _post(self, exchange: Exchange, side: int, price: float) -> None:
        order_id = exchange.place_house_order(side, price, self.rule.quote_volume)
        if order_id is not None:
            self.orders.append(order_id)
