"""Checkpoints: one file holding everything needed to use or resume a policy.

A checkpoint is a ``torch.save`` dict with ``format = "abm-hetero-checkpoint"``: the network's
architecture and weights, the trait bounds of its observation, whether it masks the traits,
and optionally the optimiser and
reward-normaliser state, the training settings, random-generator states and step counters.
Files are written atomically (a temporary file in the same folder, then a rename), so a crash
while saving never leaves a broken checkpoint behind. Loading a file that is missing, truncated,
from another architecture or not a checkpoint raises :class:`CheckpointError` saying which.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..errors import AbmHeteroError
from .network import ActorCritic, Architecture
from .policy import Policy

FORMAT = "abm-hetero-checkpoint"
VERSION = 1


class CheckpointError(AbmHeteroError):
    """A checkpoint file cannot be used."""


def save_checkpoint(path: str | Path, policy: Policy, **extra: Any) -> Path:
    """Write ``policy`` (and ``extra`` entries such as optimiser state) to ``path`` atomically."""
    path = Path(path)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "architecture": policy.net.arch.to_dict(),
        "trait_bounds": {k: list(v) for k, v in policy.bounds.items()},
        "policy_state": {k: v.detach().cpu() for k, v in policy.net.state_dict().items()},
        "name": policy.name,
        "masked_traits": policy.masked_traits,
        **extra,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and check a checkpoint file (errors say what is wrong with it)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no such checkpoint file: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # zip, pickle and EOF errors all mean "not readable"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(
            f"{path} is truncated or is not a checkpoint (it could not be read: {reason})"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an abm-hetero checkpoint")
    if data.get("version") != VERSION:
        raise CheckpointError(
            f"{path} is a version {data.get('version')} checkpoint; this abm-hetero reads "
            f"version {VERSION}"
        )
    return data


def policy_from_checkpoint(
    data: dict[str, Any], path: str | Path = "checkpoint",
    expected: Architecture | None = None, device: str | None = None,
) -> Policy:
    """Build the :class:`Policy` stored in a loaded checkpoint."""
    try:
        arch = Architecture.from_dict(data["architecture"])
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{path} has no valid architecture record ({exc})") from None
    if expected is not None and arch != expected:
        raise CheckpointError(
            f"{path} holds a network of another architecture: hidden {list(arch.hidden)}, "
            f"{arch.obs_dim} inputs, {arch.act_dim} outputs; expected hidden "
            f"{list(expected.hidden)}, {expected.obs_dim} inputs, {expected.act_dim} outputs"
        )
    net = ActorCritic(arch)
    try:
        net.load_state_dict(data["policy_state"])
    except (KeyError, RuntimeError) as exc:
        first = str(exc).splitlines()[0]
        raise CheckpointError(
            f"{path}: the weights do not fit its architecture ({first})"
        ) from None
    bounds = data.get("trait_bounds")
    try:
        bounds = {name: (float(bounds[name][0]), float(bounds[name][1]))
                  for name in ("alpha", "gamma", "sigma")}
        ok = all(math.isfinite(a) and math.isfinite(b) and a <= b for a, b in bounds.values())
    except (KeyError, TypeError, IndexError, ValueError, AttributeError):
        ok = False
    if not ok:
        raise CheckpointError(f"{path} has no valid trait bounds (alpha, gamma and sigma, each "
                              "[low, high]); it was not written by abm-hetero train")
    return Policy(net, bounds, device=device, name=str(data.get("name", Path(path).stem)),
                  masked_traits=bool(data.get("masked_traits", False)))


def load_policy(path: str | Path, device: str | None = None) -> Policy:
    """Load the policy of a checkpoint file."""
    return policy_from_checkpoint(load_checkpoint(path), path, device=device)
