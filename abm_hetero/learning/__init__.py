"""What a learning trader is made of, below the model: its observation and reward, the shared
actor-critic, the rollout buffer and GAE, PPO's update, checkpoints and the shipped policies.

The torch-backed modules (network, policy, PPO, checkpoints) load torch; this package's own
names are imported on first use, so the observer and the reward, and the rest of the package,
load it only when a market has learning traders.
"""

from __future__ import annotations

import importlib
from typing import Any

#: the package's names and the module each lives in
_EXPORTS = {
    "ActorCritic": "network", "Architecture": "network", "CheckpointError": "checkpoint",
    "PPOSettings": "ppo", "Policy": "policy", "load_policy": "checkpoint",
    "save_checkpoint": "checkpoint",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
