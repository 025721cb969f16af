"""A shared policy: the network plus the trait scaling it was trained with.

The last observation features are the trader's traits rescaled to [-1, 1] with the bounds of
the distribution the policy was trained on (by default its 0.1% and 99.9% quantiles, as in the
reference; each trait's ``quantile`` in ``traits.TRAITS``). Those bounds belong to the policy,
not to the market it is used in: a policy trained on a broad prior keeps its scaling wherever it
is evaluated.

A policy also knows the observation features it reads (``features``, the observer's list when
it was made), so that a market that observes others refuses it.

A policy acts through torch or, for the markets' acting path (``fast=True``), through a NumPy
copy of its network (``learning/forward.py``, equal up to float32 rounding) that follows the
network's weights by itself after an optimizer step or a ``load_state_dict``.

A policy with ``masked_traits`` never sees the traits: their features are held at 0 in
training and in use. It is the control of a trait experiment: whatever its traders' behaviour
does with their traits, it cannot come from the policy reading them.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import AbmHeteroError
from ..traits import TRAITS, TraitDistribution
from .forward import NumpyForward
from .network import ActorCritic, Architecture
from .observer import feature_names


def trait_bounds(dist: TraitDistribution) -> dict[str, tuple[float, float]]:
    """Each trait's observation scaling: its (q, 1 - q) quantiles, with ``q`` the trait's
    ``quantile`` in ``traits.TRAITS`` (0.1%); equal bounds for a constant trait."""
    return {
        name: (dist_.quantile(TRAITS[name].quantile), dist_.quantile(1 - TRAITS[name].quantile))
        for name, dist_ in dist.items()
    }


def resolve_device(device: str | torch.device | None) -> torch.device:
    """CPU by default; a GPU only if asked for and present (clear error otherwise)."""
    if device is None or str(device) == "cpu":
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise AbmHeteroError(f"unknown device {device!r}: use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise AbmHeteroError(f"device {device!r} was asked for but no CUDA GPU is available")
    if dev.type not in ("cpu", "cuda"):
        raise AbmHeteroError(f"device {device!r} is not supported: use cpu, cuda or cuda:N")
    return dev


class Policy:
    """The shared actor-critic, the trait bounds of its observation and the features it reads
    (the observer's current list unless given)."""

    def __init__(
        self,
        net: ActorCritic,
        bounds: dict[str, tuple[float, float]],
        device: str | torch.device | None = None,
        name: str = "policy",
        masked_traits: bool = False,
        features: tuple[str, ...] | None = None,
    ) -> None:
        self.device = resolve_device(device)
        self.net = net.to(self.device)
        self.bounds = {k: (float(v[0]), float(v[1])) for k, v in bounds.items()}
        self.name = name
        self.masked_traits = bool(masked_traits)
        self.features = feature_names() if features is None else tuple(features)
        self._forward: NumpyForward | None = None

    @classmethod
    def fresh(
        cls, traits: TraitDistribution, arch: Architecture | None = None, seed: int = 0,
        device: str | None = None, masked_traits: bool = False,
        features: tuple[str, ...] | None = None,
    ) -> Policy:
        """An untrained policy whose trait scaling covers ``traits``, reading ``features``
        (default: the observer's list without extra features; the network's input size is
        their number unless ``arch`` says otherwise)."""
        features = feature_names() if features is None else tuple(features)
        arch = arch or Architecture(obs_dim=len(features))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = ActorCritic(arch)
        return cls(net, trait_bounds(traits), device, masked_traits=masked_traits,
                   features=features)

    def act(self, obs: np.ndarray, noise: np.ndarray | None = None, with_value: bool = False,
            with_logp: bool = True, fast: bool = False):
        """One forward pass for a batch of observations (see :meth:`ActorCritic.act`); with
        ``fast``, through the NumPy copy of the network (same results up to float32 rounding,
        without torch's per-call overhead)."""
        if fast:
            return self.numpy_forward().act(obs, noise, with_value, with_logp)
        return self.net.act(obs, noise, with_value, with_logp)

    def numpy_forward(self) -> NumpyForward:
        """The NumPy copy of the network (made on first use; it re-copies the weights by
        itself whenever they change)."""
        if self._forward is None or self._forward.net is not self.net:
            self._forward = NumpyForward(self.net)
        return self._forward

    def refresh(self) -> None:
        """Copy the network's weights into the NumPy forward now (reads also do it by
        themselves when the weights changed)."""
        self.numpy_forward().refresh()
