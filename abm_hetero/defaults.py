"""The defaults every part of the package shares, each named once.

A market of ``TRADERS`` traders run for ``TICKS`` ticks, of which the first ``BURN_IN`` are not
analysed, is the default experiment; the command line, the page, the scenarios, the comparison,
calibration and training read these names instead of repeating the numbers. ``ACTION_SIZE`` is
the shape of a learning trader's action; its observation's size follows from its feature list
(``learning/observer.py``: ``observation_size()``).
"""

from __future__ import annotations

#: traders in a market
TRADERS = 200
#: ticks in a run
TICKS = 2000
#: ticks at the start of a run left out of the analysis (the book filling)
BURN_IN = 100
#: seeds of the default experiment
SEEDS = 5
#: trait distribution of the learned heterogeneous population and of training
TRAIT_PRESET = "heterogeneous"
#: a learning trader's action: price offset and signed volume
ACTION_SIZE = 2
#: actions are kept inside +-ACTION_LIMIT (the tanh squashing never quite reaches 1)
ACTION_LIMIT = 0.999
#: the market cores (``Settings.core``): numba's compiled core, the default, and the pure-Python
#: core it is tested against
CORES = ("compiled", "python")
