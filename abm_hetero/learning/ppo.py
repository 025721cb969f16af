"""Proximal policy optimisation for the shared policy (CleanRL-style, one loss term per line).

The data come from every learning trader at once (the reference updates from one trader's buffer
at a time; docs/differences.md, item 13): a rollout is a set of whole episodes, every transition
credited with the reward its own decision earned, GAE run along each trader's chain with that
trader's own discount factor (see ``buffer.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from ..validation import check_ranges


@dataclass
class PPOSettings:
    """PPO hyperparameters, with their defaults in one place (CleanRL's defaults)."""

    #: Adam's step size at the start of the run
    learning_rate: float = 3e-4
    #: decay the learning rate linearly to zero over the run
    anneal_lr: bool = True
    #: Adam's epsilon (CleanRL's 1e-5, not torch's 1e-8)
    adam_eps: float = 1e-5
    #: passes over each rollout
    epochs: int = 4
    #: transitions per gradient step
    minibatch_size: int = 2048
    #: the clipped objective's epsilon: ratios are clipped to [1 - clip, 1 + clip]
    clip: float = 0.2
    #: GAE's lambda (each transition's discount is its trader's own gamma)
    gae_lambda: float = 0.95
    #: weight of the value loss in the total loss
    value_coef: float = 0.5
    #: weight of the entropy bonus (subtracted from the loss)
    entropy_coef: float = 1e-3
    #: gradients are clipped to this global norm
    max_grad_norm: float = 0.5
    #: centre and scale the advantages of each minibatch
    normalize_advantages: bool = True
    #: divide rewards by the running standard deviation of all rewards seen so far
    normalize_rewards: bool = True
    #: normalised rewards are clipped to +-reward_clip
    reward_clip: float = 10.0

    RANGES: ClassVar[dict] = {
        "learning_rate": (0.0, 1.0, (True, False)), "adam_eps": (0.0, 1.0, (True, False)),
        "epochs": (1, 1000),
        "minibatch_size": (1, 10_000_000), "clip": (0.0, 1.0, (True, True)),
        "gae_lambda": (0.0, 1.0), "value_coef": (0.0, 1e6), "entropy_coef": (0.0, 1e6),
        "max_grad_norm": (0.0, 1e6, (True, False)), "reward_clip": (0.0, 1e6, (True, False)),
    }

    def __post_init__(self) -> None:
        check_ranges(self, "ppo.")


class RunningStd:
    """Running mean and variance (Welford/Chan), used to scale rewards."""

    def __init__(self) -> None:
        self.count = 0.0
        self.mean = 0.0
        self.m2 = 0.0

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64)
        n = len(x)
        if n == 0:
            return
        mean, m2 = float(x.mean()), float(((x - x.mean()) ** 2).sum())
        total = self.count + n
        delta = mean - self.mean
        self.m2 += m2 + delta * delta * self.count * n / total
        self.mean += delta * n / total
        self.count = total

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / self.count) if self.count > 1 else 1.0

    def state_dict(self) -> dict[str, float]:
        return {"count": self.count, "mean": self.mean, "m2": self.m2}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.count, self.mean, self.m2 = state["count"], state["mean"], state["m2"]


def ppo_losses(net, obs, raw, logp_old, advantages, returns, clip: float):
    """The three loss terms of PPO for one minibatch, and diagnostics."""
    logp, entropy, value = net.evaluate(obs, raw)
    log_ratio = logp - logp_old
    ratio = log_ratio.exp()
    # clipped surrogate objective: L = E[max(-A r, -A clip(r, 1 - eps, 1 + eps))]
    policy_loss = torch.max(-advantages * ratio,
                            -advantages * ratio.clamp(1 - clip, 1 + clip)).mean()
    # value regression on the GAE returns
    value_loss = 0.5 * (value - returns).pow(2).mean()
    # entropy of the pre-squash Gaussian (the bonus is subtracted from the loss)
    entropy_mean = entropy.mean()
    with torch.no_grad():
        approx_kl = ((ratio - 1) - log_ratio).mean()
        clip_frac = ((ratio - 1).abs() > clip).float().mean()
    return policy_loss, value_loss, entropy_mean, approx_kl, clip_frac


def ppo_update(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: dict[str, np.ndarray],
    settings: PPOSettings,
    rng: np.random.Generator,
    device: torch.device,
) -> dict[str, float]:
    """Several epochs of minibatch PPO on one rollout; returns mean diagnostics."""

    def tensor(a) -> torch.Tensor:
        return torch.as_tensor(a, dtype=torch.float32, device=device)

    obs, raw = tensor(batch["obs"]), tensor(batch["raw"])
    returns = tensor(batch["returns"])
    # the behaviour policy's log-probabilities, recomputed by the network that is updated:
    # the markets acted with the same weights, but their forward pass may round differently
    # (the compiled core's float32 NumPy forward; batches of another size), and where tanh
    # saturates the squash correction magnifies that rounding. Recomputed here, the
    # importance ratio of the first minibatch is 1 up to rounding, as PPO assumes.
    with torch.no_grad():
        logp_old = net.evaluate(obs, raw)[0]
    advantages = tensor(batch["advantages"])
    n = len(obs)
    sums = {"policy_loss": 0.0, "value_loss": 0.0, "entropy": 0.0, "approx_kl": 0.0,
            "clip_frac": 0.0}
    steps = 0
    for _ in range(settings.epochs):
        order = torch.as_tensor(rng.permutation(n), device=device)
        for start in range(0, n, settings.minibatch_size):
            mb = order[start : start + settings.minibatch_size]
            adv = advantages[mb]
            if settings.normalize_advantages and len(mb) > 1:
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
            pl, vl, ent, kl, cf = ppo_losses(net, obs[mb], raw[mb], logp_old[mb], adv,
                                             returns[mb], settings.clip)
            loss = pl + settings.value_coef * vl - settings.entropy_coef * ent
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), settings.max_grad_norm)
            optimizer.step()
            for key, value in zip(sums, (pl, vl, ent, kl, cf)):
                sums[key] += float(value.detach())
            steps += 1
    return {k: v / max(steps, 1) for k, v in sums.items()}
