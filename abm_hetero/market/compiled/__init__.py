"""The compiled market core: the order book and the exchange's hot path as numba functions over
numpy arrays.

The pure-Python :class:`~abm_hetero.market.order_book.OrderBook` stays the executable
specification; everything here gives the same fills, book states, accounts and logs, bit for
bit (integer tick arithmetic and the same floating-point operations in the same order), and the
tests compare the two cores on random order streams and whole markets.

* :mod:`.layout` -- where each field lives in the arrays, and their allocation and growth;
* :mod:`.kernels` -- every compiled function: the book's operations (match, rest, cancel,
  expire, depth), the exchange's batch placement (rounding, band, settlement, logs) and the
  replay of a stream (numba's cache only notices changes within one module);
* :mod:`.placement` -- the exchange's side of the batch placement;
* :mod:`.book` -- :class:`CompiledOrderBook`, the book with ``OrderBook``'s interface;
* :mod:`.replay` -- a recorded order stream fed to a book in one call (for benchmarks);
* :mod:`.logs` -- order and trade logs held in growable arrays.
"""

from .book import CompiledOrderBook
from .logs import ArrayOrderLog, ArrayTradeLog

__all__ = ["CompiledOrderBook", "ArrayOrderLog", "ArrayTradeLog"]
