"""Training the shared policy, above the model and below the experiments: the worker engine
(this process, local worker processes or Ray; shared with calibration), episodes, and the PPO
loop.

The engine and the episodes load without torch; ``Trainer`` and ``TrainingSettings`` load it
on first use, so that rule-based runs and ``--help`` never do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .trainer import Trainer, TrainingSettings

__all__ = ["Trainer", "TrainingSettings"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import trainer  # reason: it imports torch, which the engine and episodes avoid

        return getattr(trainer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
