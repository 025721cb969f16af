"""One way to check settings: every number finite and inside a range the market can represent.

Settings dataclasses declare ``RANGES = {field: (low, high)}`` and call :func:`check_ranges` from
``__post_init__``; anything out of range raises :class:`~abm_hetero.errors.SettingsError` naming
the field, the value and the range, before anything runs. The limits keep every quantity the
market computes exact or finite: money below 1e15 (where float64 still resolves a cent), share
counts below 1e9 (far inside int64 even after millions of trades), and counts of traders, ticks
or steps that fit in memory.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import SettingsError

MAX_MONEY = 1e15
MAX_SHARES = 1e9
#: worker processes or Ray CPUs one run may ask for
MAX_WORKERS = 4096
MAX_COUNT = 1_000_000
MAX_TICKS = 10_000_000
#: the initial price in ticks (prices are whole numbers of ticks inside the book)
MAX_TICKS_PER_PRICE = 1e10
#: hidden layers of a policy network, and units in each (settings and checkpoint files)
MAX_LAYERS = 16
MAX_LAYER_SIZE = 65536
#: the most weights a trained network may have (actor and critic): about 800 MB to train
MAX_PARAMETERS = 50_000_000


def check(ok: bool, message: str) -> None:
    """Raise :class:`SettingsError` with ``message`` unless ``ok``."""
    if not ok:
        raise SettingsError(message)


def _text(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def check_number(where: str, value: Any, low: float = -math.inf, high: float = math.inf,
                 low_open: bool = False, high_open: bool = False) -> None:
    """``value`` must be a finite number in the range (closed unless said open)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low)
    ok = ok and (value < high if high_open else value <= high)
    if not ok:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise SettingsError(f"{where} must be a finite number in {left}{_text(low)}, "
                            f"{_text(high)}{right}, got {value!r}")


def check_ranges(obj: Any, where: str) -> None:
    """Check every field named in ``type(obj).RANGES`` (``None`` values are skipped)."""
    for name, bounds in type(obj).RANGES.items():
        value = getattr(obj, name)
        if value is None:
            continue
        low, high = bounds[:2]
        opens = bounds[2] if len(bounds) > 2 else (False, False)
        check_number(f"{where}{name}", value, low, high, *opens)
