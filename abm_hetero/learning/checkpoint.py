"""Checkpoints: one file holding everything needed to use or resume a policy.

A checkpoint is a ``torch.save`` dict with ``format = "abm-hetero-checkpoint"``: the network's
architecture and weights, the names of the observation features it reads (``features``; a
checkpoint without them, such as the shipped ones, reads the shipped list), the trait bounds of
its observation, whether it masks the traits, and optionally the optimiser and
reward-normaliser state, the training settings, random-generator states and step counters.
Files are written atomically (a temporary file in the same folder, then a rename), so a crash
while saving never leaves a broken checkpoint behind. Loading a file that is missing, truncated,
from another architecture or not a checkpoint raises :class:`CheckpointError` saying which.

A checkpoint is read with ``torch.load(weights_only=True)`` (tensors and plain containers, no
code), then checked before anything is built from it: every required field present and of its
type, the features those the market's traders observe, in the same order, the declared layer
sizes inside the bounds of the training settings, the observation and action sizes those of the
market, every weight tensor of exactly the shape the declared
architecture needs and finite, and (in a training state) the optimiser, reward-normaliser,
random-generator and counter records well formed. Only then is the network allocated, so a
crafted file can neither make it allocate beyond its own size nor load NaN weights that would
silently stop the market trading. Each failure is one line naming the file and the field.
"""

from __future__ import annotations

import math
import os
import secrets
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import AbmHeteroError
from ..traits import TRAIT_NAMES
from ..validation import MAX_LAYER_SIZE, MAX_LAYERS
from .network import ACT_DIM, ActorCritic, Architecture
from .observer import SHIPPED_FEATURES, feature_names, observation_size, observed_traits
from .policy import Policy

FORMAT = "abm-hetero-checkpoint"
VERSION = 1


class CheckpointError(AbmHeteroError):
    """A checkpoint file cannot be used."""


def save_checkpoint(path: str | Path, policy: Policy, temp_tag: str = "", **extra: Any) -> Path:
    """Write ``policy`` (and ``extra`` entries such as optimiser state) to ``path`` atomically.

    The temporary file is ``.NAME.<temp_tag>XXXXXXXX`` beside ``path``: a training run puts its
    folder's token in ``temp_tag``, so that its leftovers are told from the user's own files.
    Files follow the umask."""
    path = Path(path)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "architecture": policy.net.arch.to_dict(),
        "features": list(policy.features),
        "trait_bounds": {k: list(v) for k, v in policy.bounds.items()},
        "policy_state": {k: v.detach().cpu() for k, v in policy.net.state_dict().items()},
        "name": policy.name,
        "masked_traits": policy.masked_traits,
        **extra,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{temp_tag}{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
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
            f"{path} is a version {_show(data.get('version'))} checkpoint; this abm-hetero reads "
            f"version {VERSION}"
        )
    checked_features(data, path)
    arch = checked_architecture(data, path)
    _check_weights(data, path, arch)
    _check_bounds(data, path)
    if "training_settings" in data:
        _check_training_state(data, path, arch)
    return data


def _show(value: Any, limit: int = 60) -> str:
    """A short repr for an error message (a crafted value may be huge)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _key(key: Any) -> str:
    """A record's key as part of a field's name."""
    return key[:60] if isinstance(key, str) else _show(key)


def _fail(path: str | Path, field: str, problem: str) -> CheckpointError:
    return CheckpointError(f"{path}: {field} {problem}")


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def checked_features(data: dict[str, Any], path: str | Path) -> tuple[str, ...]:
    """The observation features a checkpoint's policy reads, which must be the market's (a
    checkpoint that does not list them reads the shipped list)."""
    features = data.get("features", list(SHIPPED_FEATURES))
    if not isinstance(features, (list, tuple)) or not all(isinstance(f, str) for f in features):
        raise _fail(path, "features", f"must be a list of feature names, got {_show(features)}")
    features = tuple(features)
    market = feature_names()
    if features != market:
        missing = [f for f in market if f not in features]
        extra = [f for f in features if f not in market]
        what = "; ".join([*([f"it lacks {', '.join(missing)}"] if missing else []),
                          *([f"it has {', '.join(map(_key, extra))} that the market lacks"]
                            if extra else [])]) or "they come in another order"
        raise _fail(path, "features", f"differ from the features this market's traders "
                                      f"observe: {what}")
    return features


def checked_architecture(data: dict[str, Any], path: str | Path) -> Architecture:
    """The architecture record of a checkpoint, every field checked (no network is built)."""
    record = data.get("architecture")
    if not isinstance(record, dict):
        raise _fail(path, "architecture", f"must be a record of the network's sizes, got "
                                          f"{_show(record)}")
    unknown = sorted(map(str, set(record) - {"obs_dim", "act_dim", "hidden", "init_log_std"}))
    if unknown:
        raise _fail(path, f"architecture.{_key(unknown[0])}", "is not a field of an architecture")
    for name, size, what in (("obs_dim", observation_size(), "observations have"),
                             ("act_dim", ACT_DIM, "actions have")):
        value = record.get(name)
        if not _whole(value):
            raise _fail(path, f"architecture.{name}", f"must be a whole number, got {_show(value)}")
        if value != size:
            raise _fail(path, f"architecture.{name}", f"is {value}, but the market's {what} "
                                                      f"{size} features")
    hidden = record.get("hidden")
    if (not isinstance(hidden, (list, tuple)) or not 0 < len(hidden) <= MAX_LAYERS
            or not all(_whole(h) and 1 <= h <= MAX_LAYER_SIZE for h in hidden)):
        raise _fail(path, "architecture.hidden", f"must be 1-{MAX_LAYERS} layer sizes of "
                                                 f"1-{MAX_LAYER_SIZE}, got {_show(hidden)}")
    log_std = record.get("init_log_std", Architecture.init_log_std)
    if not _number(log_std) or not math.isfinite(log_std):
        raise _fail(path, "architecture.init_log_std", f"must be a finite number, got "
                                                       f"{_show(log_std)}")
    return Architecture(record["obs_dim"], ACT_DIM, tuple(hidden), float(log_std))


def _shapes(arch: Architecture) -> dict[str, tuple[int, ...]]:
    """Every parameter's shape in a network of ``arch``, in the network's order (built on
    the meta device: nothing is allocated)."""
    with torch.device("meta"):
        net = ActorCritic(arch)
    return {name: tuple(p.shape) for name, p in net.named_parameters()}


def _check_tensor(value: Any, path: str | Path, field: str, shape: tuple[int, ...],
                  arch: Architecture) -> None:
    if not isinstance(value, torch.Tensor) or value.layout != torch.strided \
            or not value.is_floating_point():
        raise _fail(path, field, f"must be a tensor of floating-point numbers, got "
                                 f"{type(value).__name__}")
    if tuple(value.shape) != shape:
        raise _fail(path, field, f"has shape {list(value.shape)}, but its architecture (hidden "
                                 f"{list(arch.hidden)}) needs {list(shape)}: the weights do not "
                                 "fit its architecture")
    if not bool(torch.isfinite(value).all()):
        raise _fail(path, field, "holds NaN or infinite numbers")


def _check_weights(data: dict[str, Any], path: str | Path, arch: Architecture) -> None:
    state = data.get("policy_state")
    if not isinstance(state, dict):
        raise _fail(path, "policy_state", f"must be the network's weights by name, got "
                                          f"{type(state).__name__}")
    shapes = _shapes(arch)
    for name in state:
        if name not in shapes:
            raise _fail(path, f"policy_state.{_key(name)}", "is not a weight of its "
                                                             "architecture: the weights do not "
                                                             "fit its architecture")
    for name, shape in shapes.items():
        if name not in state:
            raise _fail(path, f"policy_state.{name}", "is missing: the weights do not fit its "
                                                      "architecture")
        _check_tensor(state[name], path, f"policy_state.{name}", shape, arch)


def _check_bounds(data: dict[str, Any], path: str | Path) -> dict[str, tuple[float, float]]:
    bounds = data.get("trait_bounds")
    traits = sorted(observed_traits(), key=list(TRAIT_NAMES).index)
    try:
        bounds = {name: (float(bounds[name][0]), float(bounds[name][1])) for name in traits}
        ok = all(math.isfinite(a) and math.isfinite(b) and a <= b for a, b in bounds.values())
    except (KeyError, TypeError, IndexError, ValueError, AttributeError, OverflowError):
        ok = False
    if not ok:
        names = f"{', '.join(traits[:-1])} and {traits[-1]}" if len(traits) > 1 else traits[0]
        raise _fail(path, "trait_bounds", f"is not valid trait bounds ({names}, each [low, "
                                          "high]); it was not written by abm-hetero train")
    for field, kind in (("name", str), ("masked_traits", bool)):
        if field in data and not isinstance(data[field], kind):
            raise _fail(path, field, f"must be a {kind.__name__}, got {_show(data[field])}")
    return bounds


def _check_training_state(data: dict[str, Any], path: str | Path, arch: Architecture) -> None:
    """The records a resumed training run restores, checked before any is used."""
    if not isinstance(data["training_settings"], dict):
        raise _fail(path, "training_settings", "must be a record of settings")
    shapes = list(_shapes(arch).values())
    optimizer = data.get("optimizer_state")
    if not isinstance(optimizer, dict) or not isinstance(optimizer.get("state"), dict) \
            or not isinstance(optimizer.get("param_groups"), list):
        raise _fail(path, "optimizer_state", "must be an optimiser record (state and "
                                             "param_groups)")
    indices = []
    for group in optimizer["param_groups"]:
        if not isinstance(group, dict) or not isinstance(group.get("params"), list):
            raise _fail(path, "optimizer_state.param_groups", "must be records with params")
        indices += group["params"]
        for key, value in group.items():
            numbers = value if isinstance(value, (list, tuple)) and key != "params" else [value]
            if any(_number(v) and not math.isfinite(v) for v in numbers):
                raise _fail(path, f"optimizer_state.param_groups.{_key(key)}",
                            "holds NaN or infinite numbers")
    if sorted(i for i in indices if _whole(i)) != list(range(len(shapes))) \
            or len(indices) != len(shapes):
        raise _fail(path, "optimizer_state.param_groups", f"must list the network's "
                                                          f"{len(shapes)} parameters once each")
    for index, entry in optimizer["state"].items():
        if not _whole(index) or not 0 <= index < len(shapes) or not isinstance(entry, dict):
            raise _fail(path, f"optimizer_state.state.{_show(index)}",
                        "is not the state of one of the network's parameters")
        for key, value in entry.items():
            field = f"optimizer_state.state.{index}.{_key(key)}"
            if key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
                _check_tensor(value, path, field, shapes[index], arch)
            elif isinstance(value, torch.Tensor):
                if value.numel() != 1 or not bool(torch.isfinite(value).all()):
                    raise _fail(path, field, "must be one finite number")
            elif not _number(value) or not math.isfinite(value):
                raise _fail(path, field, "must be a finite number")
    normaliser = data.get("reward_normaliser")
    if not isinstance(normaliser, dict) or not all(
            _number(normaliser.get(k)) and math.isfinite(normaliser[k])
            for k in ("count", "mean", "m2")):
        raise _fail(path, "reward_normaliser", "must hold finite count, mean and m2")
    try:
        np.random.default_rng().bit_generator.state = data.get("rng_state")
    except (TypeError, ValueError, KeyError, OverflowError):
        raise _fail(path, "rng_state", "is not the state of a PCG64 random generator") from None
    counters = data.get("counters")
    if not isinstance(counters, dict):
        raise _fail(path, "counters", f"must be a record of counts, got {_show(counters)}")
    for key in ("steps", "rollouts", "episodes"):
        if not _whole(counters.get(key)) or counters[key] < 0:
            raise _fail(path, f"counters.{key}", f"must be a whole number >= 0, got "
                                                 f"{_show(counters.get(key))}")
    for key in ("best_eval", "next_eval", "seconds"):
        value = counters.get(key)
        if not _number(value) or math.isnan(value) or (key != "best_eval"
                                                        and not math.isfinite(value)):
            raise _fail(path, f"counters.{key}", f"must be a number, got {_show(value)}")
    threads = counters.get("update_threads", 1)
    if not _whole(threads) or threads < 1:
        raise _fail(path, "counters.update_threads", f"must be a whole number >= 1, got "
                                                     f"{_show(threads)}")


def policy_from_checkpoint(
    data: dict[str, Any], path: str | Path = "checkpoint",
    expected: Architecture | None = None, device: str | None = None,
) -> Policy:
    """Build the :class:`Policy` stored in a loaded checkpoint (checked first: the network is
    allocated only once its sizes and weights are known to fit)."""
    features = checked_features(data, path)
    arch = checked_architecture(data, path)
    if expected is not None and arch != expected:
        raise CheckpointError(
            f"{path} holds a network of another architecture: hidden {list(arch.hidden)}, "
            f"{arch.obs_dim} inputs, {arch.act_dim} outputs; expected hidden "
            f"{list(expected.hidden)}, {expected.obs_dim} inputs, {expected.act_dim} outputs"
        )
    _check_weights(data, path, arch)
    bounds = _check_bounds(data, path)
    net = ActorCritic(arch)
    net.load_state_dict(data["policy_state"])
    return Policy(net, bounds, device=device, name=str(data.get("name", Path(path).stem)),
                  masked_traits=bool(data.get("masked_traits", False)), features=features)


def load_policy(path: str | Path, device: str | None = None) -> Policy:
    """Load the policy of a checkpoint file."""
    return policy_from_checkpoint(load_checkpoint(path), path, device=device)
