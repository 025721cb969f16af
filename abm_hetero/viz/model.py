"""A ``MarketModel`` built from the page's controls (SolaraViz rebuilds it on Reset).

SolaraViz creates a new model as ``ModelClass(**controls)``, so the page's model takes its
settings as keyword arguments: the population (one of the four scenarios), the number of
traders, the trait distributions of learning traders (means and spreads of alpha and sigma,
range of gamma), the fundamental volatility and the seed.
"""

from __future__ import annotations

import math

from ..defaults import TRADERS
from ..model import MarketModel
from ..scenarios import POPULATIONS, scenario
from ..settings import MarketSettings
from ..traits import heterogeneous, spread_distribution
from ..validation import MAX_TICKS

TRAITS_FOR_COLOUR = ("alpha", "gamma", "sigma")


def _default_controls() -> dict:
    """The controls' starting values: the default market and the heterogeneous preset (sigma,
    uniform there, as the normal of the same mean and standard deviation)."""
    preset = heterogeneous()
    sigma = preset.sigma
    return {"population": "learned-heterogeneous", "traders": TRADERS,
            "alpha_mean": preset.alpha.mean_, "alpha_sd": preset.alpha.std,
            "sigma_mean": sigma.mean(),
            "sigma_sd": round((sigma.high - sigma.low) / math.sqrt(12), 4),
            "gamma_low": preset.gamma.low, "gamma_high": preset.gamma.high,
            "fundamental_volatility": MarketSettings().fundamental_volatility,
            "colour_by": "alpha", "seed": 0}


#: the page's controls and their starting values (read by the page and by the model)
CONTROLS = _default_controls()


class VizMarketModel(MarketModel):
    """A market configured by keyword arguments (the page's controls)."""

    def __init__(
        self,
        population: str = CONTROLS["population"],
        traders: int = CONTROLS["traders"],
        alpha_mean: float = CONTROLS["alpha_mean"],
        alpha_sd: float = CONTROLS["alpha_sd"],
        sigma_mean: float = CONTROLS["sigma_mean"],
        sigma_sd: float = CONTROLS["sigma_sd"],
        gamma_low: float = CONTROLS["gamma_low"],
        gamma_high: float = CONTROLS["gamma_high"],
        fundamental_volatility: float = CONTROLS["fundamental_volatility"],
        colour_by: str = CONTROLS["colour_by"],
        seed: int = CONTROLS["seed"],
    ) -> None:
        if population not in POPULATIONS:
            population = POPULATIONS[0]
        # the page steps for as long as it is open: the longest run the settings allow
        settings = scenario(population, traders=int(traders), seed=int(seed), ticks=MAX_TICKS,
                            trader_report_period=MAX_TICKS)
        settings.market.fundamental_volatility = float(fundamental_volatility)
        if population != "learned-homogeneous":
            low, high = sorted((float(gamma_low), float(gamma_high)))
            high = min(max(high, low + 1e-3), 0.999)
            traits = spread_distribution(alpha_mean, alpha_sd, sigma_mean, sigma_sd,
                                         min(low, high - 1e-3), high)
            for group in settings.traders:
                group.traits = traits
        super().__init__(settings)
        self.population = population
        self.colour_by = colour_by if colour_by in TRAITS_FOR_COLOUR else "alpha"
