"""The defaults every part of the package shares, each named once.

A market of ``TRADERS`` traders run for ``TICKS`` ticks, of which the first ``BURN_IN`` are not
analysed, is the default experiment; the command line, the page, the scenarios, the comparison,
calibration and training read these names instead of repeating the numbers. ``OBSERVATION_SIZE``
and ``ACTION_SIZE`` are the shapes of a learning trader's observation and action (the feature
table is in ``agents/learning.py``).
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
#: features a learning trader observes: 8 of the market and its account, then its 3 traits
OBSERVATION_SIZE = 11
#: a learning trader's action: price offset and signed volume
ACTION_SIZE = 2
#: actions are kept inside +-ACTION_LIMIT (the tanh squashing never quite reaches 1)
ACTION_LIMIT = 0.999
