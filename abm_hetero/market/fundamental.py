"""The fundamental value: a log random walk with drift whose volatility may be drawn per episode."""

from __future__ import annotations

import math

import numpy as np

from .history import SeriesBuffer


class FundamentalProcess:
    """``log F(t+1) = log F(t) + drift + volatility * eps + J``, ``eps ~ N(0, 1)``, where the
    news jump ``J`` is ``N(0, jump_size^2)`` with probability ``jump_rate`` per tick, else 0.

    If ``volatility_range`` is given, :meth:`reset` draws the volatility uniformly from it (the
    reference draws U[0, 0.003] every episode); otherwise ``volatility`` is used. Without jumps
    (the default) no extra random numbers are drawn.
    """

    def __init__(
        self,
        initial: float,
        drift: float = 0.0,
        volatility: float = 0.0,
        volatility_range: tuple[float, float] | None = None,
        jump_rate: float = 0.0,
        jump_size: float = 0.0,
    ) -> None:
        if not (math.isfinite(initial) and initial > 0):
            raise ValueError(f"initial fundamental must be positive, got {initial}")
        self.initial = float(initial)
        self.drift = float(drift)
        self.base_volatility = float(volatility)
        self.volatility_range = volatility_range
        self.volatility = self.base_volatility
        self.jump_rate = float(jump_rate)
        self.jump_size = float(jump_size)
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

    @property
    def variance_per_tick(self) -> float:
        """Variance of the log value's change over one tick, jumps included."""
        return self.volatility ** 2 + self.jump_rate * self.jump_size ** 2

    def step(self, rng: np.random.Generator) -> float:
        """Advance one tick and return the new value."""
        self.log_value += self.drift + self.volatility * float(rng.standard_normal())
        if self.jump_rate > 0 and rng.random() < self.jump_rate:
            self.log_value += self.jump_size * float(rng.standard_normal())
        self.value = math.exp(self.log_value)
        self.history.append(self.value)
        return self.value
