"""The acting forward pass in NumPy: the shared network's policy evaluated without torch.

A market asks the policy once per tick for a batch of about twenty observations; at that size
torch's per-call overhead (tensor wrapping, module dispatch, autograd bookkeeping) costs more
than the arithmetic. :class:`NumpyForward` keeps float32 NumPy copies of the network's weights
and evaluates the same function as :meth:`ActorCritic.act` (the actor's mean, the Gaussian
sample, the tanh squash and clamp, the log-probability with the tanh correction, and the
critic's value) with a handful of matrix products. The results equal torch's up to float32
rounding.

The copies follow the network by themselves: every read compares each parameter's version
counter and storage with those at the last copy, so an optimizer step (torch's default and
``foreach`` implementations), a ``load_state_dict``, a parameter given new storage
(``param.data = tensor``) or a move to another device is picked up at the next call. What
bypasses the parameters' version counters is not seen: in-place edits through ``param.data``,
steps of a ``fused`` optimizer, and ``load_state_dict(..., assign=True)`` (which puts new
parameter objects in the network). After those, call :meth:`NumpyForward.refresh` (or
``Policy.refresh``) before acting.
"""

from __future__ import annotations

import math
import operator

import numpy as np
import torch
from torch import nn

from .network import ACTION_CLAMP, ActorCritic

_VERSION = operator.attrgetter("_version")
_HALF_LOG_2PI = np.float32(0.5 * math.log(2 * math.pi))
_SQUASH_EPS = np.float32(1e-6)


def _layers(mlp: nn.Sequential) -> list[nn.Linear]:
    """The linear layers of an MLP built by ``network._mlp`` (SiLU between them)."""
    layers = [m for m in mlp if isinstance(m, nn.Linear)]
    others = [m for m in mlp if not isinstance(m, (nn.Linear, nn.SiLU))]
    if others:
        raise TypeError(f"the NumPy forward knows Linear and SiLU layers, not {others[0]!r}")
    return layers


def _silu(h: np.ndarray) -> np.ndarray:
    """``h * sigmoid(h)`` in place (``h`` is a fresh float32 array), with the sigmoid as
    ``(1 + tanh(h / 2)) / 2``, which does not overflow for large ``-h``."""
    s = h * np.float32(0.5)
    np.tanh(s, out=s)
    s += np.float32(1.0)
    h *= s
    h *= np.float32(0.5)
    return h


def _mlp_forward(x: np.ndarray, weights: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Linear layers with SiLU between them, as ``nn.Sequential`` evaluates them."""
    last = len(weights) - 1
    for i, (w, b) in enumerate(weights):
        x = x @ w
        x += b
        if i < last:
            x = _silu(x)
    return x


class NumpyForward:
    """Float32 NumPy copies of an :class:`ActorCritic`'s weights and its acting forward pass."""

    def __init__(self, net: ActorCritic) -> None:
        self.net = net
        self._key: tuple | None = None
        self._params: list[torch.Tensor] = []
        self.actor: list[tuple[np.ndarray, np.ndarray]] = []
        self.critic: list[tuple[np.ndarray, np.ndarray]] = []
        self.log_std = np.zeros(0, np.float32)
        self.std = np.zeros(0, np.float32)
        self.refresh()

    def _state_key(self) -> tuple:
        """What changes when the weights do: each parameter's version counter (an in-place
        update, an optimizer step or ``load_state_dict`` bumps it) and storage (new storage,
        or a move to another device)."""
        params = self._params
        return (*map(_VERSION, params), *(p.data_ptr() for p in params))

    def refresh(self) -> None:
        """Copy the network's current weights (as float32, transposed for ``x @ W``)."""
        net = self.net
        self._params = list(net.parameters())

        def copy(layers: list[nn.Linear]) -> list[tuple[np.ndarray, np.ndarray]]:
            return [(np.ascontiguousarray(layer.weight.detach().cpu().numpy().T, np.float32),
                     layer.bias.detach().cpu().numpy().astype(np.float32))
                    for layer in layers]

        self.actor = copy(_layers(net.actor))
        self.critic = copy(_layers(net.critic))
        self.log_std = net.log_std.detach().cpu().numpy().astype(np.float32)
        self.std = np.exp(self.log_std)
        self._key = self._state_key()

    def act(self, obs: np.ndarray, noise: np.ndarray | None = None, with_value: bool = False,
            with_logp: bool = True) -> dict[str, np.ndarray]:
        """What :meth:`ActorCritic.act` returns, computed in float32 NumPy."""
        if self._state_key() != self._key:
            self.refresh()
        x = np.asarray(obs, dtype=np.float32)
        mean = _mlp_forward(x, self.actor)
        if noise is None:
            raw = mean
        else:
            raw = np.asarray(noise, dtype=np.float32) * self.std
            raw += mean
        squashed = np.tanh(raw)
        action = np.clip(squashed, -ACTION_CLAMP, ACTION_CLAMP)
        out = {"action": action, "raw": raw}
        if noise is not None and with_logp:
            z = (raw - mean) / self.std
            gaussian = np.float32(-0.5) * z * z - self.log_std - _HALF_LOG_2PI
            squash = np.log(np.float32(1.0) - squashed * squashed + _SQUASH_EPS)
            out["logp"] = (gaussian - squash).sum(-1)
        if with_value:
            out["value"] = _mlp_forward(x, self.critic).reshape(-1)
        return out
