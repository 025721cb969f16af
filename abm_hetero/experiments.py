"""Experiments: build a market, run it, and hand the analysis what it measures.

"Build a scenario, run it to its end, take its price returns after a burn-in" is what the
comparison of scenarios, calibration, training's evaluation, the diagnostics and the benchmarks
all do; this module is its one home. It sits above training, whose episodes it runs
(``run_market`` and ``price_returns`` are training's episode functions, named here as well),
and below the analysis: it runs markets and measures nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .defaults import BURN_IN, TICKS, TRADERS
from .scenarios import scenario
from .settings import Settings
from .training.episodes import PRICE_KINDS, price_returns, run_market

if TYPE_CHECKING:
    from .traits import TraitDistribution

__all__ = ["PRICE_KINDS", "price_returns", "run_market", "scenario_returns",
           "scenario_settings"]


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
