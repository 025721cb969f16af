"""A market driven from outside: ticks run until some controlled learning traders decide.

``MarketModel.tick`` pauses once every group of a tick has decided; for a controlled group the
decision stops after the observation (and the rewards of the traders' previous decisions), and
the actions come from outside. ``ControlledMarket`` runs ticks until such a pause (ticks in
which no controlled trader is active run through) or until the episode's last tick, and ends
the episode like a training episode: every trader's last decision is rewarded and its holding
settled.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator

import numpy as np

from ..agents.learning import Decision, LearningGroup
from ..defaults import ACTION_LIMIT
from ..model import MarketModel
from ..settings import Settings


def check_actions(actions, n: int, who: str = "actions") -> np.ndarray:
    """``n`` actions as an ``(n, 2)`` float array inside the action box: a wrong shape or a
    non-finite value is an error naming ``who``; values beyond [-1, 1] are clipped (and then
    kept inside +-0.999, as the policy's own actions are)."""
    try:
        a = np.asarray(actions, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{who}: expected numbers, got {actions!r}") from None
    if a.shape != (n, 2):
        raise ValueError(f"{who}: expected shape {(n, 2) if n != 1 else (2,)}, got "
                         f"{a.shape if n != 1 else a.reshape(-1).shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{who}: actions must be finite, got {a.tolist()}")
    return np.clip(a, -ACTION_LIMIT, ACTION_LIMIT)


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
        self._tick: Generator | None = None
        self.done = True

    def reset(self, seed: int | None = None) -> MarketModel:
        """A fresh market (seeded with ``seed``, or the settings' seed)."""
        settings = self.settings if seed is None else self.settings.replace(seed=int(seed))
        self.model = MarketModel(settings)
        self.groups = tuple(self.model.groups[i] for i in self.controlled_index)
        self._tick = None
        self.done = False
        return self.model

    def advance(self) -> list[tuple[LearningGroup, Decision]] | None:
        """Run ticks until controlled traders decide; their pending decisions, or None once
        the episode's last tick has run."""
        model = self.model
        while model.steps < self.settings.ticks:
            model.steps += 1  # as Mesa's step() counts a tick
            tick = model.tick(self.groups)
            try:
                pending = next(tick)
            except StopIteration:
                continue
            self._tick = tick
            return pending
        return None

    def resume(self, actions: dict[LearningGroup, np.ndarray]) -> None:
        """Finish the paused tick with the controlled traders' actions."""
        tick, self._tick = self._tick, None
        with contextlib.suppress(StopIteration):  # the tick runs to its end
            tick.send(actions)

    def finish(self) -> dict[LearningGroup, np.ndarray]:
        """End the episode: each controlled trader's last reward (NaN where it never
        decided), its holding settled at the fundamental."""
        self.done = True
        model = self.model
        out = {}
        for group in model.groups:
            reward = group.finish_episode(model)
            if group in self.groups:
                out[group] = reward
        return out
