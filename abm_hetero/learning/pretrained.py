"""Policies shipped inside the package, trained on this project's 2-core CPU machine.

``heterogeneous.pt`` was trained on heterogeneous traits, ``homogeneous.pt`` on homogeneous
traits with the same means, and ``prior.pt`` on the broad trait prior (for calibration: it can
be simulated at any trait distribution inside the prior); docs/learning.md gives the exact
commands that reproduce them.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import AbmHeteroError

PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "pretrained"
SHIPPED = ("heterogeneous", "homogeneous", "prior")


def pretrained_path(name: str) -> Path:
    """Path of a shipped policy by name."""
    if name not in SHIPPED:
        raise AbmHeteroError(
            f"unknown policy {name!r}: shipped policies are {', '.join(SHIPPED)}; "
            "or give the path of a .pt checkpoint"
        )
    path = PRETRAINED_DIR / f"{name}.pt"
    if not path.is_file():
        raise AbmHeteroError(f"the shipped policy {name!r} is missing from this install ({path})")
    return path
