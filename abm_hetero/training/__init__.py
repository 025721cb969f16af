"""Training the shared policy: episodes, where they run (this process, worker processes, Ray)
and the PPO loop. Importing this package imports torch."""

from .trainer import Trainer, TrainingSettings

__all__ = ["Trainer", "TrainingSettings"]
