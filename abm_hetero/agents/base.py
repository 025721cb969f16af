"""What every trader shares: an account row, traits, and a group that decides in batches.

A *group* holds the traders of one kind in a model with their parameters as arrays (one row per
trader), so that the decisions of all active traders of a tick are computed at once. Each
trader is still a Mesa agent: its attributes (cash, shares, traits, parameters) read its row,
and its :meth:`Trader.step` decides and submits on its own, which is the per-trader mode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, NamedTuple

import mesa
import numpy as np

from ..traits import Traits, TraitSample

if TYPE_CHECKING:
    from ..model import MarketModel
    from ..settings import TraderGroupSettings


class OrderBatch(NamedTuple):
    """Orders of several traders as parallel arrays (``sides`` are +1 buy, -1 sell)."""

    rows: np.ndarray
    sides: np.ndarray
    prices: np.ndarray
    volumes: np.ndarray
    ttls: np.ndarray

    @classmethod
    def empty(cls) -> OrderBatch:
        z = np.zeros(0)
        return cls(z.astype(np.int64), z.astype(np.int64), z, z.astype(np.int64),
                   z.astype(np.int64))

    def select(self, mask: np.ndarray) -> OrderBatch:
        return OrderBatch(*(a[mask] for a in self))

    @classmethod
    def concat(cls, batches: list[OrderBatch]) -> OrderBatch:
        if not batches:
            return cls.empty()
        return cls(*(np.concatenate(cols) for cols in zip(*batches)))


class Trader(mesa.Agent):
    """A trader: Mesa agent with an account row in the market and a traits record."""

    def __init__(self, model: MarketModel, group: TraderGroup, index: int) -> None:
        super().__init__(model)
        self.group = group
        self.index = index  # position within the group
        self.row = int(group.rows[index])  # account row in the market

    @property
    def cash(self) -> float:
        return float(self.model.exchange.accounts.cash[self.row])

    @property
    def shares(self) -> int:
        return int(self.model.exchange.accounts.shares[self.row])

    @property
    def wealth(self) -> float:
        """Cash plus shares at the last published market price."""
        return self.cash + self.shares * self.model.exchange.market_price()

    @property
    def traits(self) -> Traits:
        return self.group.traits.record(self.index)

    def __getattr__(self, name: str) -> float:
        """A trait by name (``trader.alpha``): every trait of ``traits.TRAITS``."""
        group = self.__dict__.get("group")
        if group is None or name not in group.traits.names:
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")
        return float(group.traits[name][self.index])

    def step(self) -> None:
        """Decide and submit alone (the per-trader tick): the group's rule for one trader."""
        model = self.model
        batch = self.group.decide(model, np.array([self.index]))
        model.withdraw_orders(self.group, batch.rows)
        model.exchange.submit_batch(*batch)


class TraderGroup:
    """All traders of one kind in a model, with their parameters as arrays."""

    kind: ClassVar[str] = ""
    agent_class: ClassVar[type[Trader]] = Trader
    #: cancel a trader's resting orders before it submits new ones
    replaces_orders: ClassVar[bool] = False

    def __init__(
        self,
        model: MarketModel,
        rows: np.ndarray,
        traits: TraitSample,
        settings: TraderGroupSettings,
    ) -> None:
        self.rows = np.asarray(rows, dtype=np.int64)
        self.traits = traits
        self.settings = settings
        self.activity_rate = float(settings.activity_rate)
        self.params = settings.params
        self.members = [self.agent_class(model, self, i) for i in range(len(self.rows))]

    def __len__(self) -> int:
        return len(self.rows)

    def draw_active(self, rng: np.random.Generator) -> np.ndarray:
        """Indices (within the group) of the traders that act this tick."""
        return (rng.random(len(self.rows)) < self.activity_rate).nonzero()[0]

    def decide(self, model: MarketModel, active: np.ndarray) -> OrderBatch:
        """Orders of the ``active`` traders given the current market state."""
        raise NotImplementedError

    def finish_episode(self, model: MarketModel) -> None:
        """Hook run when a run (episode) ends: learning traders close their last decisions."""
