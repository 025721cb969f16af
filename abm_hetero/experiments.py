"""Experiments: build a market, run it, and hand the analysis what it measures.

"Build a scenario, run it to its end, take its price returns after a burn-in" is what the
comparison of scenarios, calibration, training's evaluation, the diagnostics and the benchmarks
all do; this module is its one home. It sits above the model and below the analysis: it runs
markets and measures nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .defaults import BURN_IN, TICKS, TRADERS
from .model import MarketModel
from .scenarios import scenario
from .settings import Settings

if TYPE_CHECKING:
    from .agents.audit import DecisionAudit
    from .learning.buffer import RolloutBuffer
    from .learning.policy import Policy
    from .traits import TraitDistribution

#: which published price series returns are taken from
PRICE_KINDS = ("reference", "market", "mid")


def scenario_settings(name: str, seed: int = 0, *, traders: int = TRADERS, ticks: int = TICKS,
                      policy: str | None = None, traits: TraitDistribution | None = None,
                      **changes: Any) -> Settings:
    """The named scenario's settings; ``policy`` and ``traits`` replace those of its learning
    traders (a shipped policy name or a checkpoint path, and a trait distribution)."""
    settings = scenario(name, traders=traders, ticks=ticks, seed=seed, **changes)
    for group in settings.traders:
        if group.kind == "learning":
            if policy is not None:
                group.params.policy = policy
            if traits is not None:
                group.traits = traits
    return settings


def run_market(settings: Settings, *, policy: Policy | None = None,
               recorder: RolloutBuffer | None = None, audit: DecisionAudit | None = None,
               progress: bool = False) -> MarketModel:
    """Run a market for its ``settings.ticks`` ticks and end it as an episode (learning
    traders' last decisions are rewarded and their holdings settled)."""
    model = MarketModel(settings, policy=policy, recorder=recorder, audit=audit)
    model.run(progress=progress)
    model.finish()
    return model


def price_returns(model: MarketModel, burn_in: int = BURN_IN, kind: str = "reference"
                  ) -> np.ndarray:
    """Tick-to-tick log returns ``diff(log(price))`` of a published price series after
    ``burn_in`` ticks (``"reference"``: the mid, or the last trade when a side was empty),
    non-finite values dropped; a price that never moves gives no returns."""
    prices = model.exchange.price_history(kind).values[burn_in:]
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.diff(np.log(prices))
    r = r[np.isfinite(r)]
    return r if r.size and np.any(r != 0) else np.zeros(0)


def scenario_returns(name: str, seed: int, *, traders: int = TRADERS, ticks: int = TICKS,
                     burn_in: int = BURN_IN, policy: str | None = None,
                     traits: TraitDistribution | None = None) -> np.ndarray:
    """Run one scenario for one seed and return its reference-price returns after the
    burn-in (a task of calibration sweeps: top-level, picklable)."""
    import torch

    torch.set_num_threads(1)
    settings = scenario_settings(name, seed, traders=traders, ticks=ticks, policy=policy,
                                 traits=traits)
    return price_returns(run_market(settings), burn_in)
