"""What defines a training run beyond its market: steps, episodes, evaluation, PPO, network.

The market and its traders are a :class:`~abm_hetero.settings.Settings`, the same class every
run uses (``population``); its learning groups are the traders being trained and its seed and
ticks are each episode's own. Settings files of earlier versions named the population's parts
at the top level (``traders``, ``activity_rate``, ``traits``, ``cash``, ``shares``, ``market``,
``learning``); :meth:`TrainingSettings.from_dict` still reads them, and the command line's
``--traits`` is one of them: each applies to every learning group of the population.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..agents.learning import LearningParams
from ..config_io import build_dataclass, to_plain
from ..defaults import TRADERS
from ..distributions import Exponential
from ..learning.network import HIDDEN, Architecture
from ..learning.observer import unfilled_windows
from ..learning.ppo import PPOSettings
from ..settings import MarketSettings, Settings, TraderGroupSettings
from ..traits import TraitDistribution, heterogeneous
from ..validation import (
    MAX_LAYER_SIZE,
    MAX_LAYERS,
    MAX_PARAMETERS,
    MAX_TICKS,
    check,
    check_ranges,
)

#: the top-level keys of earlier settings files, and the field of a learning group (or, for
#: ``market``, of the population) each one sets
LEGACY_KEYS = {"traders": "count", "activity_rate": "activity_rate", "traits": "traits",
               "cash": "cash", "shares": "shares", "learning": "params", "market": "market"}


def default_population() -> Settings:
    """The training market: one group of learning traders, cash ~ exponential (mean 15,000),
    shares ~ exponential (mean 20), traits drawn from the heterogeneous preset."""
    group = TraderGroupSettings(
        kind="learning", count=TRADERS, traits=heterogeneous(), activity_rate=0.1,
        cash=Exponential(15000.0), shares=Exponential(20.0), params=LearningParams())
    return Settings(name="training-episode", market=MarketSettings(), traders=[group])


@dataclass
class TrainingSettings:
    """Everything that defines a training run, with its defaults in one place."""

    seed: int = 0
    #: learning decisions (environment steps) to train for
    total_steps: int = 2_000_000
    #: the market and its traders; every learning group trains the one policy, the trait
    #: distributions are drawn afresh every episode (its seed and ticks are the episode's)
    population: Settings = field(default_factory=default_population)
    #: ticks per episode; the holdings are settled at the fundamental at its end
    episode_ticks: int = 300
    #: ticks at the start of an episode (the book filling) that are not learned from
    warmup_ticks: int = 10
    episodes_per_rollout: int = 2
    #: episodes a worker runs at once, their markets in lockstep with one policy call per tick
    #: for all of them (training/lockstep.py); the rollout's episodes are cut into groups of
    #: this many on every backend. Batching changes the forward pass's float rounding, so a
    #: run's numbers depend on it (not on the backend or the number of workers)
    markets_per_worker: int = 1
    #: hidden layer sizes of the actor and of the critic
    hidden: list[int] = field(default_factory=lambda: list(HIDDEN))
    ppo: PPOSettings = field(default_factory=PPOSettings)
    eval_interval: int = 500_000
    eval_episodes: int = 4
    eval_seed: int = 1_000_000
    device: str = "cpu"
    #: hold the trait features at 0 (the masked-traits control: the policy never sees traits)
    mask_traits: bool = False

    RANGES: ClassVar[dict] = {
        "seed": (0, 2 ** 63 - 1), "total_steps": (1, 1e13), "episode_ticks": (1, MAX_TICKS),
        "warmup_ticks": (0, MAX_TICKS), "episodes_per_rollout": (1, 10_000),
        "markets_per_worker": (1, 10_000),
        "eval_interval": (1, 1e13), "eval_episodes": (1, 10_000), "eval_seed": (0, 2 ** 63 - 1),
    }

    def __post_init__(self) -> None:
        if isinstance(self.population, Mapping):
            self.population = Settings.from_dict(dict(self.population), "population")
        check_ranges(self, "")
        check(self.warmup_ticks < self.episode_ticks,
              "warmup_ticks must be below episode_ticks")
        check(bool(self.learning_groups),
              "population: at least one group of learning traders is needed to train")
        check(0 < len(self.hidden) <= MAX_LAYERS
              and all(1 <= h <= MAX_LAYER_SIZE for h in self.hidden),
              f"hidden must be 1-{MAX_LAYERS} layer sizes of 1-{MAX_LAYER_SIZE}, got "
              f"{self.hidden}")
        sizes = [len(self.features), *self.hidden]
        weights = 2 * sum(a * b for a, b in zip(sizes, sizes[1:]))  # actor and critic
        check(weights <= MAX_PARAMETERS,
              f"hidden {self.hidden} makes a network of {weights:,} weights; at most "
              f"{MAX_PARAMETERS:,} (each weight takes about 16 bytes with its gradient and "
              "the optimiser's state)")
        check(self.device == "cpu" or self.device.startswith("cuda"),
              f"device must be cpu, cuda or cuda:N, got {self.device!r}")
        observed = {g.params.features for g in self.learning_groups}
        check(len(observed) == 1, "population: the learning groups train one policy, so they "
                                  "must observe the same features (learning.extra_features "
                                  "and learning.history)")

    @property
    def learning_groups(self) -> list[TraderGroupSettings]:
        return [g for g in self.population.traders if g.kind == "learning"]

    @property
    def traits(self) -> TraitDistribution:
        """The trait distribution a fresh policy's trait features are scaled to: the first
        learning group's (groups that share a policy should share its range)."""
        return self.learning_groups[0].traits

    @property
    def features(self) -> tuple[str, ...]:
        """The observation features of the learning groups (the policy reads these)."""
        return self.learning_groups[0].params.features

    @property
    def unfilled_windows(self) -> tuple[str, ...]:
        """The observed extra features whose window never fills in an episode (their values
        later in a longer market are ones training never showed)."""
        return unfilled_windows(self.learning_groups[0].params.extra_features,
                                self.episode_ticks)

    @property
    def architecture(self) -> Architecture:
        """The network: the observation size of the learning groups (their features), the
        market's action size, these hidden layers."""
        return Architecture(obs_dim=len(self.features), hidden=tuple(self.hidden))

    def episode_settings(self, seed: int, traits: TraitDistribution | None = None,
                         deterministic: bool = False) -> Settings:
        """Market settings of one episode: the population with the episode's seed and ticks
        (``traits`` and ``deterministic`` replace those of its learning groups)."""
        groups = [dataclasses.replace(
            g, traits=traits or g.traits,
            params=dataclasses.replace(g.params, deterministic=deterministic))
            if g.kind == "learning" else g for g in self.population.traders]
        return self.population.replace(seed=seed, ticks=self.episode_ticks, traders=groups,
                                       trader_report_period=self.episode_ticks)

    def to_dict(self) -> dict[str, Any]:
        return to_plain({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})

    @classmethod
    def from_dict(cls, data: Any, where: str = "") -> TrainingSettings:
        """Build from a mapping; the keys of earlier versions (:data:`LEGACY_KEYS`) are
        applied to the population."""
        if isinstance(data, Mapping) and set(data) & set(LEGACY_KEYS):
            data = dict(data)
            legacy = {k: data.pop(k) for k in LEGACY_KEYS if k in data}
            data["population"] = _apply_legacy(data.get("population"), legacy)
        return build_dataclass(cls, data, where)


def _apply_legacy(population: Any, legacy: dict[str, Any]) -> dict[str, Any]:
    """A population (a mapping; default: :func:`default_population`) with the top-level keys
    of an earlier settings file set on its market and on each of its learning groups."""
    if population is None:
        data = {"name": "training-episode", "market": {},
                "traders": [{"kind": "learning", "count": TRADERS, "traits": heterogeneous(),
                             "activity_rate": 0.1, "cash": Exponential(15000.0),
                             "shares": Exponential(20.0), "params": {}}]}
    elif isinstance(population, Settings):
        data = population.to_dict()
    elif isinstance(population, Mapping):
        data = dict(population)
    else:
        return population  # not a table: build_dataclass names the error
    if "market" in legacy:
        data["market"] = legacy.pop("market")
    groups = []
    for group in data.get("traders") or []:
        if isinstance(group, Mapping) and group.get("kind") == "learning":
            group = dict(group)
            for key, value in legacy.items():
                name = LEGACY_KEYS[key]
                both = isinstance(group.get(name), Mapping) and isinstance(value, Mapping)
                group[name] = {**group[name], **value} if name == "params" and both else value
        groups.append(group)
    data["traders"] = groups
    return data


def episode_seed(base: int, index: int) -> int:
    """A well-mixed 63-bit seed for episode ``index`` of a run seeded ``base``."""
    return int(np.random.SeedSequence([base, index]).generate_state(2, np.uint64)[0] >> 1)
