"""The SolaraViz page (``abm-hetero viz`` serves it with Solara's server: ``viz.serve``).

Controls: population (the four scenarios), number of traders, trait distributions (means and
spreads of alpha and sigma, range of gamma), fundamental volatility and the seed; Play, Step
and Reset come from SolaraViz, which rebuilds the model from the controls as ``MarketModel``
keywords (their starting values are the model's keyword defaults; ``PageModel`` reads the
typed seed and takes gamma's two sliders in either order). The trader panel chooses the trait
that colours the traders. While playing, the charts redraw every ``RENDER_INTERVAL`` ticks, not
every tick, so the page stays responsive.

One model lives at module level and is shared by every browser session; Reset rebuilds it.
"""

from __future__ import annotations

import torch
from mesa.visualization import SolaraViz

from ..errors import SettingsError
from ..model import MarketModel
from ..scenarios import KEYWORD_DEFAULTS, POPULATIONS
from ..validation import MAX_TICKS
from .components import FactsPanel, OrderBookChart, PriceChart, ReturnHistogram, TraderScatter

torch.set_num_threads(1)
RENDER_INTERVAL = 5

def _slider(kind: str, label: str, low: float, high: float, step: float) -> dict:
    return {"type": kind, "min": low, "max": high, "step": step, "label": label}


MODEL_PARAMS = {
    "population": {"type": "Select", "values": list(POPULATIONS), "label": "Population"},
    "traders": _slider("SliderInt", "Traders", 20, 1000, 20),
    "alpha_mean": _slider("SliderFloat", "alpha (risk aversion): mean", 0.0, 5.0, 0.1),
    "alpha_sd": _slider("SliderFloat", "alpha: spread", 0.0, 2.0, 0.1),
    "sigma_mean": _slider("SliderFloat", "sigma (information noise): mean", 0.0, 0.02, 0.0005),
    "sigma_sd": _slider("SliderFloat", "sigma: spread", 0.0, 0.005, 0.0001),
    "gamma_low": _slider("SliderFloat", "gamma (discount factor): low", 0.5, 0.99, 0.01),
    "gamma_high": _slider("SliderFloat", "gamma: high", 0.51, 0.999, 0.001),
    "fundamental_volatility": _slider("SliderFloat", "fundamental volatility", 0.0, 0.005,
                                      0.0005),
    "seed": {"type": "InputText", "label": "Seed"},
}
#: starting values: the model's keyword defaults, but for the population shown first, the
#: run's length (the page steps for as long as it is open) and a fixed seed
START = {**KEYWORD_DEFAULTS, "population": "learned-heterogeneous", "seed": 0}
for _name, _control in MODEL_PARAMS.items():
    _control["value"] = START[_name]
MODEL_PARAMS["ticks"] = MAX_TICKS  # a fixed value, not a control



class PageModel(MarketModel):
    """``MarketModel`` built from the page's controls, which SolaraViz passes as they are: the
    seed as typed text (blank: a fresh seed) and gamma's two sliders, which may cross, as a
    range in either order. ``MarketModel`` itself takes neither (its keywords are checked, not
    repaired); everything else goes to it unchanged, and it still refuses what is wrong."""

    def __init__(self, *, seed: str | int | None = None, gamma_low: float | None = None,
                 gamma_high: float | None = None, **kwargs) -> None:
        if isinstance(seed, str):
            text = seed.strip()
            if text and not text.isdigit():
                raise SettingsError(f"seed must be a whole number >= 0, got {seed!r}")
            seed = int(text) if text else None
        if gamma_low is not None and gamma_high is not None and gamma_low > gamma_high:
            gamma_low, gamma_high = gamma_high, gamma_low
        super().__init__(seed=seed, gamma_low=gamma_low, gamma_high=gamma_high, **kwargs)


model = PageModel(**{name: (c["value"] if isinstance(c, dict) else c)
                     for name, c in MODEL_PARAMS.items()})
page = SolaraViz(
    model,
    components=[(PriceChart, 0), (FactsPanel, 0), (OrderBookChart, 0), (TraderScatter, 0),
                (ReturnHistogram, 0)],
    model_params=MODEL_PARAMS,
    name="abm-hetero market",
    play_interval=50,
    render_interval=RENDER_INTERVAL,
)
