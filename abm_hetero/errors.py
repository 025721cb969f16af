"""Exceptions the package raises for bad input.

Every error a user can cause by a mistyped option, a bad settings file or an invalid order is
an :class:`AbmHeteroError`, so the command line can print its message on one line instead of a
traceback. They also subclass :class:`ValueError`, the conventional type for bad values.
"""

from __future__ import annotations


class AbmHeteroError(ValueError):
    """Base class of all errors caused by bad input to the package."""


class SettingsError(AbmHeteroError):
    """A settings value, file or key is invalid."""


class InvalidOrderError(AbmHeteroError):
    """An order was rejected; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"invalid order: {field}: {message}")
        self.field = field
