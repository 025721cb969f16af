"""A ``MarketModel`` built from the page's controls (SolaraViz rebuilds it on Reset).

SolaraViz creates a new model as ``ModelClass(**controls)``, so the page's model takes its
settings as keyword arguments: the population (one of the four scenarios), the number of
traders, the trait distributions of learning traders (means and spreads of alpha and sigma,
range of gamma), the fundamental volatility and the seed.
"""

from __future__ import annotations

from ..model import MarketModel
from ..scenarios import POPULATIONS, scenario
from ..traits import spread_distribution
from ..validation import MAX_TICKS

TRAITS_FOR_COLOUR = ("alpha", "gamma", "sigma")


class VizMarketModel(MarketModel):
    """A market configured by keyword arguments (the page's controls)."""

    def __init__(
        self,
        population: str = "learned-heterogeneous",
        traders: int = 200,
        alpha_mean: float = 2.0,
        alpha_sd: float = 1.0,
        sigma_mean: float = 0.0025,
        sigma_sd: float = 0.0015,
        gamma_low: float = 0.75,
        gamma_high: float = 0.999,
        fundamental_volatility: float = 0.001,
        colour_by: str = "alpha",
        seed: int = 0,
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
