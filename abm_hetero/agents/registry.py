"""Trader kinds by name: the group class and the parameters class of each.

Modules are imported on first use, so that asking for a rule-based kind never imports torch.
"""

from __future__ import annotations

import importlib

from ..errors import SettingsError

_KINDS: dict[str, tuple[str, str, str]] = {
    "fcn": ("abm_hetero.agents.fcn", "FCNGroup", "FCNParams"),
    "zero-intelligence": (
        "abm_hetero.agents.zero_intelligence", "ZeroIntelligenceGroup", "ZeroIntelligenceParams",
    ),
    "learning": ("abm_hetero.agents.learning", "LearningGroup", "LearningParams"),
}
TRADER_KINDS = tuple(_KINDS)


def _load(kind: str, which: int):
    try:
        entry = _KINDS[kind]
    except KeyError:
        raise SettingsError(
            f"unknown trader kind {kind!r}; choose one of {', '.join(TRADER_KINDS)}"
        ) from None
    return getattr(importlib.import_module(entry[0]), entry[which])


def group_class(kind: str):
    """The :class:`~abm_hetero.agents.base.TraderGroup` subclass of a trader kind."""
    return _load(kind, 1)


def params_class(kind: str):
    """The parameters dataclass of a trader kind."""
    return _load(kind, 2)
