"""The fundamental value: a log random walk with drift whose volatility may be drawn per episode."""

from __future__ import annotations

import math

import numpy as np

from .history import SeriesBuffer


class FundamentalProcess:
    """``log F(t+1) = log F(t) + drift + volatility * eps``, ``eps ~ N(0, 1)``.

    If ``volatility_range`` is given, :meth:`reset` draws the volatility uniformly from it (the
    reference draws U[0, 0.003] every episode); otherwise ``volatility`` is used.
    """

    def __init__(
        self,
        initial: float,
        drift: float = 0.0,
        volatility: float = 0.0,
        volatility_range: tuple[float, float] | None = None,
    ) -> None:
        if not (math.isfinite(initial) and initial > 0):
            raise ValueError(f"initial fundamental must be positive, got {initial}")
        self.initial = float(initial)
        self.drift = float(drift)
        self.base_volatility = float(volatility)
        self.volatility_range = volatility_range
        self.volatility = self.base_volatility
        self.log_value = math.log(self.initial)
        self.value = self.initial
        self.history = SeriesBuffer()

    def reset(self, rng: np.random.Generator) -> None:
        """Start a new episode at the initial value; draw the volatility if a range is set."""
        if self.volatility_range is not None:
            low, high = self.volatility_range
            self.volatility = float(rng.uniform(low, high))
        else:
            self.volatility = self.base_volatility
        self.log_value = math.log(self.initial)
        self.value = self.initial
        self.history = SeriesBuffer()
        self.history.append(self.initial)

    def step(self, rng: np.random.Generator) -> float:
        """Advance one tick and return the new value."""
        self.log_value += self.drift + self.volatility * float(rng.standard_normal())
        self.value = math.exp(self.log_value)
        self.history.append(self.value)
        return self.value
