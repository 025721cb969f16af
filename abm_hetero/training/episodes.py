"""Episodes: a market built from its settings, run to its end, and what the run sends back.

An episode is what a training rollout, an evaluation, a calibration simulation and a scenario
run all are: a fresh market run for its ``ticks`` and then ended (every learning trader's last
decision rewarded, its holdings settled). Decisions in the first ``warmup_ticks``, while the book
fills, are neither learned from nor scored. :class:`EpisodeResult` is what an episode sends back
from a worker: plain data (reward tally, transitions, price returns), never the market itself.

This module loads without torch (rule-based markets need none), so the experiments and the
command line import it freely.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..defaults import BURN_IN
from ..market import raw_log_returns
from ..model import MarketModel
from ..settings import Settings

if TYPE_CHECKING:
    from ..agents.audit import DecisionAudit
    from ..learning.buffer import RolloutBuffer
    from ..learning.policy import Policy

#: which published price series returns are taken from
PRICE_KINDS = ("reference", "market", "mid")


def run_market(settings: Settings, *, policy: Policy | None = None,
               recorder: RolloutBuffer | None = None, audit: DecisionAudit | None = None,
               warmup_ticks: int = 0, progress: bool = False) -> MarketModel:
    """Run a market for its ``settings.ticks`` ticks and end it as an episode (learning
    traders' last decisions are rewarded and their holdings settled). With ``warmup_ticks``
    the learning traders start recording into ``recorder`` and counting rewards only after
    that many ticks."""
    if not warmup_ticks:
        model = MarketModel(settings, policy=policy, recorder=recorder, audit=audit)
        model.run(progress=progress)
    else:
        model = MarketModel(settings, policy=policy, audit=audit)
        model.run(warmup_ticks)
        for group in learning_groups(model):
            group.start_learning(recorder)
        model.run(settings.ticks - warmup_ticks, progress=progress)
    model.finish()
    return model


def learning_groups(model: MarketModel) -> list:
    """The groups of learning traders of a market (one in a training episode)."""
    return [g for g in model.groups if g.settings.kind == "learning"]


def price_returns(model: MarketModel, burn_in: int = BURN_IN, kind: str = "reference"
                  ) -> np.ndarray:
    """Tick-to-tick log returns (``market.raw_log_returns``) of a published price series after
    ``burn_in`` ticks (``"reference"``: the mid, or the last trade when a side was empty),
    non-finite values dropped; a price that never moves gives no returns."""
    r = raw_log_returns(model.exchange.price_history(kind).values[burn_in:])
    r = r[np.isfinite(r)]
    return r if r.size and np.any(r != 0) else np.zeros(0)


@dataclass
class EpisodeResult:
    """What one episode sends back: the reward tally of its learning traders' decisions after
    the warm-up, and (when asked for) their transitions and the market's price returns."""

    reward_sum: float
    decisions: int
    #: the transitions (``RolloutBuffer.FIELDS``), ``next_index`` counted within the episode
    transitions: dict[str, np.ndarray] = field(default_factory=dict)
    #: market-price returns after the warm-up
    returns: np.ndarray | None = None

    @property
    def size(self) -> int:
        return len(self.transitions["reward"]) if self.transitions else 0

    @property
    def mean_reward(self) -> float:
        return self.reward_sum / self.decisions if self.decisions else math.nan

    @classmethod
    def of(cls, model: MarketModel) -> EpisodeResult:
        """The reward tally of a finished market's learning traders."""
        groups = learning_groups(model)
        return cls(sum(g.reward_sum for g in groups), sum(g.reward_count for g in groups))
