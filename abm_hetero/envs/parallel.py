"""The learning traders of a market as a PettingZoo ``ParallelEnv``.

Agents are the traders of the market's learning groups (``trader_<row>``); every other group
(FCN, zero-intelligence, or learning traders with their own policy listed in
``background``) trades as usual. Spaces are the package's own: observation ``Box(-1, 1, (11,))``
(docs/learning.md), action ``Box(-1, 1, (2,))``: price offset and signed volume.

**Step semantics.** Traders are not all active every tick (each acts with its group's
``activity_rate``). One ``step`` is one *decision round*: the tick in which the next traders
decide. ``infos[agent]["active"]`` says whether the agent decides in the coming step: the
actions of active agents become their orders, **the actions of inactive agents are ignored**.
An agent's observation is the one of its latest decision round (zeros before its first).
Ticks in which no agent is active run through inside a step.

**Rewards** are the package's own (docs/learning.md): the reward of a trader's decision arrives
in the step in which that trader next decides (0 in the other steps), and the last ones, with
the settlement of the holdings, in the final step. **Episodes** end after the settings' ``ticks``
with ``truncations`` true for every agent (no trader is ever terminated early).

**Actions** are a dict of agent name to action. Each action must be two finite real numbers
(shape ``(2,)``); values beyond [-1, 1] are clipped. Every action given is checked, an inactive
agent's too, and a wrong one is a ``ValueError`` naming the agent; so is a name that is not an
agent's, and a missing action of an active agent (inactive agents may be left out). Actions
that are not a dict are a ``TypeError``.
"""

from __future__ import annotations

import functools
import reprlib
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from ..defaults import ACTION_SIZE, TRADERS
from ..experiments import scenario_settings
from ..learning.observer import observation_size
from ..model import check_keywords
from ..settings import Settings
from .driver import ControlledMarket, check_actions, check_render_mode


class MarketParallelEnv(ParallelEnv):
    """A market of learning traders acting through an outside learner (module docstring).

    Parameters
    ----------
    settings:
        The market (default: the ``learned-heterogeneous`` scenario of ``traders`` traders run
        for ``ticks`` ticks).
    background:
        Indices (into ``settings.traders``) of learning groups that act with their own policy
        instead of being agents.
    """

    metadata = {"name": "abm_hetero_market_v0", "render_modes": []}

    def __init__(self, settings: Settings | None = None, *, traders: int = TRADERS,
                 ticks: int = 300, background: tuple[int, ...] = (),
                 render_mode: str | None = None) -> None:
        if settings is None:
            check_keywords({"traders": traders, "ticks": ticks})
            settings = scenario_settings("learned-heterogeneous", traders=traders, ticks=ticks)
        elif not isinstance(settings, Settings):
            raise TypeError(f"settings must be a Settings or None, got {settings!r}")
        learning = [i for i, g in enumerate(settings.traders) if g.kind == "learning"]
        wrong = [i for i in background if isinstance(i, bool) or i not in learning]
        if wrong:
            raise ValueError(f"background: {wrong} are not indices of learning groups in "
                             f"settings.traders (those are {learning})")
        controlled = [i for i in learning if i not in background]
        if not controlled:
            raise ValueError("the market has no learning traders to act as agents")
        check_render_mode(render_mode)
        self.market = ControlledMarket(settings, controlled)
        starts = np.concatenate([[0], np.cumsum([g.count for g in settings.traders])])
        self._rows = {i: np.arange(starts[i], starts[i + 1]) for i in controlled}
        self.possible_agents = [f"trader_{row}" for i in controlled for row in self._rows[i]]
        self._known = frozenset(self.possible_agents)
        self.agents: list[str] = []
        self.render_mode = render_mode
        self._pending = None

    def _known_agent(self, agent: Any) -> None:
        if agent not in self._known:
            raise ValueError(f"unknown agent {reprlib.repr(agent)}; agents are "
                             f"{self.possible_agents[0]} to {self.possible_agents[-1]}")

    def observation_space(self, agent: str) -> spaces.Box:
        self._known_agent(agent)
        return self._observation_space(agent)

    def action_space(self, agent: str) -> spaces.Box:
        self._known_agent(agent)
        return self._action_space(agent)

    @functools.cache  # noqa: B019 - one space per agent, kept for seeding
    def _observation_space(self, agent: str) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (observation_size(),), np.float32)

    @functools.cache  # noqa: B019
    def _action_space(self, agent: str) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (ACTION_SIZE,), np.float32)

    # ------------------------------------------------------------------ helpers

    def _names(self, group, index: np.ndarray) -> list[str]:
        return [f"trader_{row}" for row in group.rows[index]]

    def _round(self, rewards: dict[str, float]):
        """Run to the next decision round; observations, rewards and infos of every agent."""
        self._pending = self.market.advance()
        active: set[str] = set()
        if self._pending is None:
            for group, last in self.market.finish().items():
                for name, r in zip(self._names(group, np.arange(len(group.rows))), last):
                    rewards[name] += 0.0 if np.isnan(r) else float(r)
        else:
            for group, decision in self._pending:
                names = self._names(group, decision.active)
                active.update(names)
                for name, obs, r in zip(names, decision.obs, decision.reward):
                    self._obs[name] = obs
                    rewards[name] += 0.0 if np.isnan(r) else float(r)
        infos = {a: {"active": a in active} for a in self.agents}
        return {a: self._obs[a].copy() for a in self.agents}, infos

    # ------------------------------------------------------------------ the API

    def reset(self, seed: int | None = None, options: dict | None = None):
        if options is not None and not isinstance(options, Mapping):
            raise TypeError(f"options must be a dict or None, got {type(options).__name__}")
        # ``options`` choose nothing here (the market comes from the settings); PettingZoo's
        # own API test passes some, so they are accepted and ignored, as its convention allows
        self.market.reset(seed)
        self.agents = list(self.possible_agents)
        self._obs = {a: np.zeros(observation_size(), np.float32) for a in self.agents}
        observations, infos = self._round(dict.fromkeys(self.agents, 0.0))
        if self._pending is None:
            raise ValueError("the episode ended before any trader acted; give it more ticks")
        return observations, infos

    def step(self, actions: dict[str, np.ndarray]):
        if self._pending is None:
            raise RuntimeError("the episode is over: call reset()")
        if not isinstance(actions, Mapping):
            raise TypeError(f"actions must be a dict of agent name to action, got "
                            f"{type(actions).__name__}")
        unknown = [a for a in actions if a not in self._known]
        if unknown:
            raise ValueError(f"unknown agent(s) {', '.join(map(repr, unknown[:5]))}: agents are "
                             f"the names in env.agents, such as {self.possible_agents[0]!r}")
        given = list(actions)
        checked = check_actions(list(actions.values()), given)  # inactive agents' too
        index = dict(zip(given, range(len(given))))
        chosen = {}
        for group, decision in self._pending:
            names = self._names(group, decision.active)
            missing = [n for n in names if n not in index]
            if missing:
                raise ValueError(f"no action for the active agent(s) {', '.join(missing[:5])}")
            chosen[group] = checked[[index[n] for n in names]]
        self.market.resume(chosen)
        rewards = dict.fromkeys(self.agents, 0.0)
        observations, infos = self._round(rewards)
        over = self._pending is None
        terminations = dict.fromkeys(self.agents, False)
        truncations = dict.fromkeys(self.agents, over)
        if over:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def render(self) -> None:
        """No rendering: the market's data are in ``env.market.model`` (and the page shows a
        market live: ``abm-hetero viz``)."""

    def close(self) -> None:
        self._pending = None
