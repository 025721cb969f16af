"""The decorator of every compiled function of the package: numba's ``njit``, cached on disk
where numba finds a place to write its cache, compiled afresh in each process where it does
not.

numba keeps compiled code beside the module (``__pycache__``), or in a user-wide cache folder
when that is read-only; with neither writable, ``njit(cache=True)`` refuses to decorate at all,
which would make the package fail to import. Here such a function is compiled without a disk
cache instead: slower to start, the same results.
"""

from __future__ import annotations

from collections.abc import Callable

import numba


def jit(fn: Callable | None = None, **options):
    """``numba.njit(cache=True, **options)``, falling back to no disk cache where numba has no
    writable cache location. Used bare (``@jit``) or with options (``@jit(error_model=...)``)."""
    def decorate(function: Callable):
        try:
            return numba.njit(cache=True, **options)(function)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return numba.njit(**options)(function)

    return decorate if fn is None else decorate(fn)
