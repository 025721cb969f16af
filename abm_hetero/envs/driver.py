"""A market driven from outside: ticks run until some controlled learning traders decide.

``ControlledMarket`` runs the model's own tick, ``model.step(controlled)``, for the groups it
controls: a controlled group's decision stops after the observation (and the rewards of the
traders' previous decisions), the tick pauses there and the actions come from outside
(``model.complete_tick``). It runs ticks until such a pause (ticks in which no controlled
trader is active run through) or until the episode's last tick, and ends the episode like a
training episode (``model.finish``): every trader's last decision is rewarded and its holding
settled.
"""

from __future__ import annotations

import reprlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..agents.learning import Decision, LearningGroup
from ..defaults import ACTION_LIMIT, ACTION_SIZE
from ..model import MarketModel, check_keywords
from ..settings import Settings


def check_action(action: Any, who: str) -> np.ndarray:
    """One action as a float array of shape ``(2,)`` inside the action box.

    As Gymnasium's ``Box.contains`` would, it refuses (with a :class:`ValueError` naming
    ``who``) anything but real numbers (text, booleans, objects), any shape but ``(2,)``, and
    NaN or infinite values; unlike ``contains``, values beyond [-1, 1] are clipped (and then
    kept inside +-0.999, as the policy's own actions are), as Gymnasium's continuous-control
    environments clip.
    """
    if np.ma.is_masked(action):
        raise ValueError(f"{who}: expected 2 numbers, got masked values")
    try:
        a = np.asarray(action)
    except (TypeError, ValueError, RuntimeError):  # ragged sequences, tensors needing grad
        raise ValueError(f"{who}: expected 2 numbers, got {reprlib.repr(action)}") from None
    if a.dtype.kind not in "iuf":
        raise ValueError(f"{who}: expected 2 numbers, got {reprlib.repr(action)}")
    if a.shape != (ACTION_SIZE,):
        raise ValueError(f"{who}: expected shape ({ACTION_SIZE},), got {a.shape}")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{who}: expected finite numbers, got {a.tolist()}")
    return np.clip(a, -ACTION_LIMIT, ACTION_LIMIT)


def check_actions(actions: Sequence[Any], names: Sequence[str]) -> np.ndarray:
    """The actions of agents ``names`` as an ``(n, 2)`` array, each checked as
    :func:`check_action` checks one; the error names the first agent whose action is wrong.
    Arrays of numbers (what action spaces sample and policies return) take one vectorized pass,
    the environments' hot path; anything else is checked one action at a time."""
    if not len(actions):
        return np.zeros((0, ACTION_SIZE))
    # arrays only: stacking would turn a boolean or text action among numbers into numbers
    if all(type(x) is np.ndarray and x.dtype.kind in "iuf" and x.shape == (ACTION_SIZE,)
           for x in actions):
        a = np.asarray(actions, dtype=np.float64)
        if np.isfinite(a).all():
            return np.clip(a, -ACTION_LIMIT, ACTION_LIMIT)
    return np.stack([check_action(x, f"action of {name}") for x, name in zip(actions, names)])


def check_render_mode(render_mode: Any) -> None:
    """The environments draw nothing: ``render_mode`` must be None (Gymnasium's convention is
    to refuse a mode the environment's metadata does not list)."""
    if render_mode is not None:
        raise ValueError(f"render_mode must be None (the market is not rendered; its data are "
                         f"in env.market.model), got {render_mode!r}")


class ControlledMarket:
    """A market whose learning groups ``controlled`` (indices into ``settings.traders``) act
    from outside."""

    def __init__(self, settings: Settings, controlled: list[int]) -> None:
        for i in controlled:
            if settings.traders[i].kind != "learning":
                raise ValueError(f"group {i} ({settings.traders[i].kind}) is not a group of "
                                 "learning traders")
        if not settings.batched:
            raise ValueError("an environment needs batched ticks (settings.batched = true)")
        self.settings = settings
        self.controlled_index = list(controlled)
        self.model: MarketModel | None = None
        self.groups: tuple[LearningGroup, ...] = ()

    def reset(self, seed: int | None = None) -> MarketModel:
        """A fresh market (seeded with ``seed``, or the settings' seed)."""
        check_keywords({"seed": seed})  # a whole number >= 0, or None
        settings = self.settings if seed is None else self.settings.replace(seed=int(seed))
        self.model = MarketModel(settings)
        self.groups = tuple(self.model.groups[i] for i in self.controlled_index)
        return self.model

    def advance(self) -> list[tuple[LearningGroup, Decision]] | None:
        """Run ticks until controlled traders decide; their pending decisions, or None once
        the episode's last tick has run."""
        model = self.model
        while model.steps < self.settings.ticks:
            model.step(self.groups)
            if model.pending:
                return model.pending
        return None

    def resume(self, actions: dict[LearningGroup, np.ndarray]) -> None:
        """Finish the paused tick with the controlled traders' actions."""
        self.model.complete_tick(actions)

    def finish(self) -> dict[LearningGroup, np.ndarray]:
        """End the episode: each controlled trader's last reward (NaN where it never
        decided), its holding settled at the fundamental."""
        rewards = self.model.finish()
        return {group: r for group, r in rewards.items() if group in self.groups}
