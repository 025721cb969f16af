"""One trader among background traders, as a Gymnasium ``Env``.

The controlled trader is a learning trader with the traits you give it (``alpha``, ``gamma``,
``sigma``; also as ``reset(options=...)``), among ``traders - 1`` background traders: learning
traders acting through the shipped policy (``background="learned-heterogeneous"`` or
``"learned-homogeneous"``), FCN traders (``"fcn"``) or zero-intelligence traders. It sees what
the package's own learning traders see (``Box(-1, 1, (11,))``, its traits scaled as the shipped
heterogeneous policy scales them) and acts as they act (``Box(-1, 1, (2,))``: price offset and
signed volume).

**One step is one decision** of the trader: the market runs until the trader is next active
(it acts with probability ``activity_rate`` per tick), so the discount factor of a learner is
per decision, as for the package's traders. The reward of a step is the reward of that decision
(docs/learning.md), known at the trader's next decision; the last step (``truncated`` after
``ticks`` ticks) adds the final reward, with the holding settled at the fundamental.

**Actions** must be two finite real numbers (shape ``(2,)``, as ``action_space`` samples);
values beyond [-1, 1] are clipped, as Gymnasium's continuous-control environments clip. Any
other action (text, a boolean, another shape, NaN) is a ``ValueError`` that says what was wrong.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..defaults import ACTION_SIZE, TRADERS
from ..distributions import Constant
from ..experiments import scenario_settings
from ..learning.observer import observation_size
from ..model import check_keywords
from ..scenarios import POPULATIONS, learning_group
from ..traits import TraitDistribution, check_trait_value
from ..validation import MAX_TICKS, check_number
from .driver import ControlledMarket, check_action, check_render_mode

TRAITS = ("alpha", "gamma", "sigma")


def _trait(name: str, value: Any) -> float:
    """A trait given to the environment: a real number (not text, not a bool) in its range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    return check_trait_value(name, value)


class TraderEnv(gym.Env):
    """One learning trader controlled from outside among background traders (module
    docstring)."""

    metadata = {"render_modes": []}

    def __init__(self, background: str = "learned-heterogeneous", traders: int = TRADERS,
                 ticks: int = 300, alpha: float = 2.0, gamma: float = 0.9,
                 sigma: float = 0.0025, activity_rate: float = 0.1,
                 render_mode: str | None = None) -> None:
        if not isinstance(background, str) or background not in POPULATIONS:
            raise ValueError(f"background must be one of {', '.join(POPULATIONS)}, got "
                             f"{background!r}")
        check_keywords({"traders": traders, "ticks": ticks})
        if traders < 2:
            raise ValueError(f"traders must be at least 2 (the trader and one other), got "
                             f"{traders}")
        if isinstance(activity_rate, bool) or not isinstance(activity_rate, numbers.Real):
            raise TypeError(f"activity_rate must be a real number, got {activity_rate!r}")
        check_number("activity_rate", float(activity_rate), 1.0 / MAX_TICKS, 1.0)
        check_render_mode(render_mode)
        self.background = background
        self.traders = int(traders)
        self.ticks = int(ticks)
        self.activity_rate = float(activity_rate)
        self.traits = {name: _trait(name, value)
                       for name, value in zip(TRAITS, (alpha, gamma, sigma))}
        self.render_mode = render_mode
        self.observation_space = spaces.Box(-1.0, 1.0, (observation_size(),), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (ACTION_SIZE,), np.float32)
        self.market: ControlledMarket | None = None
        self._pending = None
        self._obs = np.zeros(observation_size(), np.float32)
        self._seed = 0

    def _settings(self):
        settings = scenario_settings(self.background, self._seed, traders=self.traders - 1,
                                     ticks=self.ticks)
        me = learning_group(1, TraitDistribution(**{n: Constant(v) for n, v in
                                                    self.traits.items()}),
                            activity_rate=self.activity_rate)
        return settings.replace(name=f"{self.background}+trader",
                                traders=[*settings.traders, me])

    def _next_decision(self) -> float:
        """Run to the trader's next decision; the reward of its previous one."""
        self._pending = self.market.advance()
        if self._pending is None:
            (last,) = self.market.finish().values()
            return 0.0 if math.isnan(last[0]) else float(last[0])
        (_, decision), = self._pending
        self._obs = decision.obs[0].copy()
        reward = decision.reward[0]
        return 0.0 if math.isnan(reward) else float(reward)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        check_keywords({"seed": seed})  # a whole number >= 0 (not a bool), or None
        super().reset(seed=seed)
        if seed is not None:
            self._seed = int(seed)
        else:
            self._seed = int(self.np_random.integers(0, 2 ** 62))
        if options is not None and not isinstance(options, Mapping):
            raise TypeError(f"options must be a dict of traits, got {type(options).__name__}")
        traits = dict(self.traits)  # all or nothing: a bad option changes no trait
        for name, value in (options or {}).items():
            if name not in TRAITS:
                raise ValueError(f"unknown option {name!r}; options are {', '.join(TRAITS)}")
            traits[name] = _trait(name, value)
        self.traits = traits
        settings = self._settings()
        self.market = ControlledMarket(settings, [len(settings.traders) - 1])
        self.market.reset()
        self._obs = np.zeros(observation_size(), np.float32)
        self._next_decision()
        if self._pending is None:
            raise ValueError("the episode ended before the trader acted; give it more ticks")
        return self._obs.copy(), {"tick": self.market.model.steps}

    def step(self, action):
        if self._pending is None:
            raise RuntimeError("the episode is over: call reset()")
        (group, _), = self._pending
        self.market.resume({group: check_action(action, "action")[None]})
        reward = self._next_decision()
        truncated = self._pending is None
        return self._obs.copy(), reward, False, truncated, {"tick": self.market.model.steps}


ENV_ID = "abm_hetero/Trader-v0"
if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="abm_hetero.envs.single:TraderEnv")
