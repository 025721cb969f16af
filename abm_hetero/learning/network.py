"""The shared actor-critic network: a tanh-squashed Gaussian policy and a value head.

Every learning trader asks this one network what to do; heterogeneity enters only through the
observation, which ends with the trader's own traits (its input size is the observer's,
``learning/observer.py``). The actor outputs the mean of a
Gaussian over pre-squash actions ``u``; the action sent to the market is
``clamp(tanh(u), -0.999, 0.999)``. The log-std is a learned, state-independent parameter
(initialised at -1, the reference's fixed value).

Log-probabilities are always computed from the stored pre-squash sample ``u`` (with the tanh
correction), never by inverting the clamped action. The PPO update recomputes the behaviour
policy's log-probabilities with this module's :meth:`ActorCritic.evaluate` before its first
epoch (``learning/ppo.py``), so the importance ratio is 1 before the first update, up to
rounding, whichever forward the markets acted through (the compiled core's float32 NumPy copy
of ``learning/forward.py`` rounds differently, and where the tanh saturates its correction
magnifies that rounding).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from ..defaults import ACTION_LIMIT, ACTION_SIZE
from .observer import observation_size

ACTION_CLAMP = ACTION_LIMIT
ACT_DIM = ACTION_SIZE
#: hidden layer sizes of the actor and of the critic
HIDDEN = (128, 128)
_LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class Architecture:
    """What must match for a saved state to load into a network."""

    #: the observation's size: by default the observer's (every registered trait included)
    obs_dim: int = field(default_factory=observation_size)
    act_dim: int = ACT_DIM
    hidden: tuple[int, ...] = HIDDEN
    init_log_std: float = -1.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> Architecture:
        data = dict(data)
        data["hidden"] = tuple(data["hidden"])
        return cls(**data)


def _mlp(sizes: list[int], last_gain: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = nn.Linear(a, b)
        last = i == len(sizes) - 2
        nn.init.orthogonal_(linear.weight, gain=last_gain if last else math.sqrt(2))
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if not last:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    """Actor (Gaussian mean over pre-squash actions) and critic (state value)."""

    def __init__(self, arch: Architecture | None = None) -> None:
        super().__init__()
        self.arch = arch or Architecture()
        sizes = [self.arch.obs_dim, *self.arch.hidden]
        self.actor = _mlp([*sizes, self.arch.act_dim], last_gain=0.01)
        self.critic = _mlp([*sizes, 1], last_gain=1.0)
        self.log_std = nn.Parameter(torch.full((self.arch.act_dim,), self.arch.init_log_std))

    # -------------------------------------------------------------- training-time API

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)

    def log_prob(self, mean: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        """log pi(a | o) of the squashed action ``tanh(raw)`` under ``N(mean, std)``."""
        log_std = self.log_std.expand_as(mean)
        z = (raw - mean) / log_std.exp()
        gaussian = -0.5 * z * z - log_std - 0.5 * _LOG_2PI
        squash = torch.log(1 - torch.tanh(raw).pow(2) + 1e-6)
        return (gaussian - squash).sum(-1)

    def evaluate(self, obs: torch.Tensor, raw: torch.Tensor):
        """Log-probabilities of stored pre-squash actions, entropy, and values (for PPO)."""
        mean = self.actor(obs)
        logp = self.log_prob(mean, raw)
        entropy = (0.5 + 0.5 * _LOG_2PI + self.log_std).sum().expand(len(obs))
        return logp, entropy, self.value(obs)

    # -------------------------------------------------------------- acting

    @torch.no_grad()
    def act(
        self, obs: np.ndarray, noise: np.ndarray | None = None, with_value: bool = False,
        with_logp: bool = True,
    ) -> dict[str, np.ndarray]:
        """Actions for a batch of observations (one forward pass for all of them).

        ``noise`` is standard-normal noise of shape ``(n, act_dim)`` supplied by the caller's
        random generator, so that results depend only on that generator; ``None`` acts
        deterministically (``tanh`` of the mean). Returns ``action`` (clamped, in the market's
        units), ``raw`` (pre-squash), ``logp`` (of a sampled action, unless ``with_logp`` is
        false: simulation does not need it) and, if asked, ``value``.
        """
        device = self.log_std.device
        x = torch.as_tensor(obs, dtype=torch.float32, device=device)
        mean = self.actor(x)
        if noise is None:
            raw = mean
        else:
            eps = torch.as_tensor(noise, dtype=torch.float32, device=device)
            raw = mean + self.log_std.exp() * eps
        action = torch.tanh(raw).clamp(-ACTION_CLAMP, ACTION_CLAMP)
        out = {"action": action.cpu().numpy(), "raw": raw.cpu().numpy()}
        if noise is not None and with_logp:
            out["logp"] = self.log_prob(mean, raw).cpu().numpy()
        if with_value:
            out["value"] = self.value(x).cpu().numpy()
        return out
