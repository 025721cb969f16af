"""Price histories: a growable float array that traders read by index at no copying cost, the
log returns of a price series (the package's one definition) and windowed return statistics."""

from __future__ import annotations

import math

import numpy as np


class SeriesBuffer:
    """Append-only float64 series with amortised O(1) append and a zero-copy view."""

    __slots__ = ("_data", "_n")

    def __init__(self, capacity: int = 1024) -> None:
        self._data = np.empty(max(int(capacity), 16), dtype=np.float64)
        self._n = 0

    def append(self, value: float) -> None:
        if self._n == len(self._data):
            grown = np.empty(2 * len(self._data), dtype=np.float64)
            grown[: self._n] = self._data[: self._n]
            self._data = grown
        self._data[self._n] = value
        self._n += 1

    def extend(self, values: np.ndarray) -> None:
        """Append several values at once (what appending them one by one would store)."""
        k = len(values)
        if self._n + k > len(self._data):
            grown = np.empty(max(2 * len(self._data), self._n + k), dtype=np.float64)
            grown[: self._n] = self._data[: self._n]
            self._data = grown
        self._data[self._n : self._n + k] = values
        self._n += k

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index):
        return self.values[index]

    @property
    def values(self) -> np.ndarray:
        """A read-only view of the series so far."""
        view = self._data[: self._n]
        view.flags.writeable = False
        return view

    @property
    def last(self) -> float:
        return float(self._data[self._n - 1])


def raw_log_returns(prices: np.ndarray) -> np.ndarray:
    """The log returns ``log p[i] - log p[i-1]`` of a price series: the one definition every
    return in the package is computed by. Raw: nothing is checked or dropped, and a zero,
    negative or missing price gives a non-finite return without a warning (callers drop them;
    :func:`abm_hetero.analysis.log_returns` also checks a user's prices)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        logs = np.log(np.asanyarray(prices))
    return logs[..., 1:] - logs[..., :-1]  # np.diff's own arithmetic, without its checks


class ReturnWindows:
    """Windowed mean and variance of the log returns of a :class:`SeriesBuffer`, vectorised.

    Keeps prefix sums of the log returns and their squares, extended lazily as the series
    grows, so any number of windows ``(start, end]`` are answered in O(1) each.
    """

    def __init__(self, series: SeriesBuffer) -> None:
        self.series = series
        self._sum1 = SeriesBuffer()
        self._sum2 = SeriesBuffer()
        self._sum1.append(0.0)
        self._sum2.append(0.0)

    def _update(self) -> None:
        done = self._sum1._n
        series = self.series
        n = series._n
        if n > done:  # the new returns, as raw_log_returns computes them
            new = series._data[done - 1 : n]
            if n - done == 1 and new[0] > 0 and new[1] > 0:  # one return: nothing to warn of
                # the same float64 operations as below, on one value, without array calls
                logs = np.log(new)
                r = float(logs[1] - logs[0])
                self._sum1.append(self._sum1.last + r)
                self._sum2.append(self._sum2.last + r * r)
                return
            r = raw_log_returns(new)
            self._sum1.extend(self._sum1.last + r.cumsum())
            self._sum2.extend(self._sum2.last + (r * r).cumsum())

    def mean_var(self, start: np.ndarray, end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Count, mean and population variance of the returns from index ``start`` to ``end``.

        The returns are ``log x[i] - log x[i-1]`` for ``start < i <= end``; windows with no
        return give mean and variance 0.
        """
        self._update()
        s1, s2 = self._sum1._data, self._sum2._data  # prefix sums; indices <= end are filled
        start = np.asarray(start)
        count = end - start
        safe = np.maximum(count, 1)
        # an empty window has equal prefix sums at both ends: its mean and variance are 0
        mean = (s1[end] - s1[start]) / safe
        var = (s2[end] - s2[start]) / safe - mean * mean
        return count, mean, np.maximum(var, 0.0)


class EwmaVariance:
    """Exponentially weighted moving average of the squared log returns of a
    :class:`SeriesBuffer`: one value for the whole series (a market's, not a trader's).

    ``v <- v + w (r^2 - v)`` for each new return ``r``, with ``w = 1 - 2^(-1/halflife)`` (a
    return ``halflife`` steps old weighs half as much as the newest), starting from ``initial``
    before the first return; a non-finite return is skipped. Brought up to date lazily, one
    step per new value of the series, whenever it is read.
    """

    def __init__(self, series: SeriesBuffer, halflife: float, initial: float) -> None:
        self.series = series
        self.weight = 1.0 - 0.5 ** (1.0 / float(halflife))
        self.value = float(initial)
        self.index = 0  # the last value of the series folded in

    def __call__(self) -> float:
        """The average up to the series' latest value."""
        values = self.series.values
        if len(values) - 1 > self.index:
            v, w = self.value, self.weight
            for r in raw_log_returns(values[self.index :]).tolist():
                if math.isfinite(r):
                    v += w * (r * r - v)
            self.value = v
            self.index = len(values) - 1
        return self.value
