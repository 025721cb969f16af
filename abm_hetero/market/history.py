"""A growable float array: price histories that traders read by index at no copying cost."""

from __future__ import annotations

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
