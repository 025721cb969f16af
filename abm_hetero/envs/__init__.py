"""Environments for other learners: a PettingZoo ``ParallelEnv`` of all learning traders and
a Gymnasium ``Env`` of one trader among background traders (optional extra ``rl``:
``pip install "abm-hetero[rl]"``). See docs/ecosystem.md."""

from .driver import ControlledMarket, check_action, check_actions

__all__ = ["ControlledMarket", "check_action", "check_actions"]
