"""The SolaraViz page (``abm-hetero viz`` serves it with ``solara run``).

Controls: population (the four scenarios), number of traders, trait distributions (means and
spreads of alpha and sigma, range of gamma), fundamental volatility, the trait that colours
the traders, and the seed; Play, Step and Reset come from SolaraViz. While playing, the charts
redraw every ``RENDER_INTERVAL`` ticks, not every tick, so the page stays responsive.

One model lives at module level and is shared by every browser session; Reset rebuilds it.
"""

from __future__ import annotations

import torch
from mesa.visualization import SolaraViz

from ..scenarios import POPULATIONS
from .components import FactsPanel, OrderBookChart, PriceChart, ReturnHistogram, TraderScatter
from .model import TRAITS_FOR_COLOUR, VizMarketModel

torch.set_num_threads(1)
RENDER_INTERVAL = 5

MODEL_PARAMS = {
    "population": {"type": "Select", "value": "learned-heterogeneous",
                   "values": list(POPULATIONS), "label": "Population"},
    "traders": {"type": "SliderInt", "value": 200, "min": 20, "max": 1000, "step": 20,
                "label": "Traders"},
    "alpha_mean": {"type": "SliderFloat", "value": 2.0, "min": 0.0, "max": 5.0, "step": 0.1,
                   "label": "alpha (risk aversion): mean"},
    "alpha_sd": {"type": "SliderFloat", "value": 1.0, "min": 0.0, "max": 2.0, "step": 0.1,
                 "label": "alpha: spread"},
    "sigma_mean": {"type": "SliderFloat", "value": 0.0025, "min": 0.0, "max": 0.02,
                   "step": 0.0005, "label": "sigma (information noise): mean"},
    "sigma_sd": {"type": "SliderFloat", "value": 0.0015, "min": 0.0, "max": 0.005,
                 "step": 0.0005, "label": "sigma: spread"},
    "gamma_low": {"type": "SliderFloat", "value": 0.75, "min": 0.5, "max": 0.99, "step": 0.01,
                  "label": "gamma (discount factor): low"},
    "gamma_high": {"type": "SliderFloat", "value": 0.999, "min": 0.51, "max": 0.999,
                   "step": 0.001, "label": "gamma: high"},
    "fundamental_volatility": {"type": "SliderFloat", "value": 0.001, "min": 0.0,
                               "max": 0.005, "step": 0.0005,
                               "label": "fundamental volatility"},
    "colour_by": {"type": "Select", "value": "alpha", "values": list(TRAITS_FOR_COLOUR),
                  "label": "Colour traders by"},
    "seed": {"type": "InputText", "value": 0, "label": "Seed"},
}

model = VizMarketModel()
page = SolaraViz(
    model,
    components=[(PriceChart, 0), (FactsPanel, 0), (OrderBookChart, 0), (TraderScatter, 0),
                (ReturnHistogram, 0)],
    model_params=MODEL_PARAMS,
    name="abm-hetero market",
    play_interval=50,
    render_interval=RENDER_INTERVAL,
)
