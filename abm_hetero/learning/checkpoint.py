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
import warnings
from pathlib import Path
from typing import Any

import torch

from ..errors import AbmHeteroError
from ..traits import TRAIT_NAMES
from ..validation import MAX_LAYER_SIZE, MAX_LAYERS
from .network import ACT_DIM, ActorCritic, Architecture
from .observer import SHIPPED_FEATURES, feature_names, observed_traits
from .policy import Policy

FORMAT = "abm-hetero-checkpoint"
VERSION = 1
#: bounds on what a checkpoint may hold: far beyond any trained network (whose weights are of
#: order 1), yet small enough that a crafted file cannot overflow the market's arithmetic
MAX_WEIGHT = 1e4
MAX_LOG_STD = 20.0
MAX_OPTIMISER_MOMENT = 1e12
MAX_STEPS = 10 ** 13
MAX_UPDATE_THREADS = 4096
#: Adam's options that this package never sets: a file that sets them was not written by it
_ADAM_OFF = ("amsgrad", "maximize", "capturable", "differentiable", "fused")


class CheckpointError(AbmHeteroError):
    """A checkpoint file cannot be used."""


def save_checkpoint(path: str | Path, policy: Policy, temp_tag: str = "", **extra: Any) -> Path:
    """Write ``policy`` (and ``extra`` entries such as optimiser state) to ``path`` atomically,
    in a folder that exists (a folder moved away meanwhile is not made again).

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


def load_checkpoint(path: str | Path, features: tuple[str, ...] | None = None, *,
                    check_features: bool = True) -> dict[str, Any]:
    """Read and check a checkpoint file (errors say what is wrong with it).

    ``features``: the observation features of the traders that will use it (default: those
    of a learning group without extra features). With ``check_features=False`` the recorded
    list is only checked to be a list of names (a resumed training run compares it with its
    saved settings once it has read them)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no such checkpoint file: {path}")
    try:
        with warnings.catch_warnings():  # torch warns about files it then refuses
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # zip, pickle and EOF errors all mean "not readable"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(
            f"{path} is truncated or is not a checkpoint (it could not be read: {reason})"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an abm-hetero checkpoint")
    if not _whole(data.get("version")) or data.get("version") != VERSION:
        raise CheckpointError(
            f"{path} is a version {_show(data.get('version'))} checkpoint; this abm-hetero reads "
            f"version {VERSION}"
        )
    recorded = checked_features(data, path, features, compare=check_features)
    arch = checked_architecture(data, path, len(recorded))
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


def checked_features(data: dict[str, Any], path: str | Path,
                     market: tuple[str, ...] | None = None, compare: bool = True
                     ) -> tuple[str, ...]:
    """The observation features a checkpoint's policy reads, which must be ``market``'s, the
    features of the traders that load it (default: those of a learning group without extra
    features; a checkpoint that does not list them reads the shipped list)."""
    features = data.get("features", list(SHIPPED_FEATURES))
    if not isinstance(features, (list, tuple)) or not all(isinstance(f, str) for f in features):
        raise _fail(path, "features", f"must be a list of feature names, got {_show(features)}")
    features = tuple(features)
    market = feature_names() if market is None else tuple(market)
    if compare and features != market:
        missing = [f for f in market if f not in features]
        extra = [f for f in features if f not in market]
        what = "; ".join([*([f"it lacks {', '.join(missing)}"] if missing else []),
                          *([f"it has {', '.join(map(_key, extra))} that the market lacks"]
                            if extra else [])]) or "they come in another order"
        raise _fail(path, "features", f"differ from the features this market's traders "
                                      f"observe: {what}")
    return features


def checked_architecture(data: dict[str, Any], path: str | Path,
                         obs_dim: int | None = None) -> Architecture:
    """The architecture record of a checkpoint, every field checked (no network is built);
    ``obs_dim``: the number of features its policy reads (default: those of a learning group
    without extra features)."""
    record = data.get("architecture")
    if not isinstance(record, dict):
        raise _fail(path, "architecture", f"must be a record of the network's sizes, got "
                                          f"{_show(record)}")
    unknown = sorted(map(str, set(record) - {"obs_dim", "act_dim", "hidden", "init_log_std"}))
    if unknown:
        raise _fail(path, f"architecture.{_key(unknown[0])}", "is not a field of an architecture")
    obs_dim = len(feature_names()) if obs_dim is None else obs_dim
    for name, size, what in (("obs_dim", obs_dim, "observations have"),
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
    if not _number(log_std) or not abs(log_std) <= MAX_LOG_STD:
        raise _fail(path, "architecture.init_log_std", f"must be a number within "
                                                       f"+-{MAX_LOG_STD:g}, got {_show(log_std)}")
    return Architecture(record["obs_dim"], ACT_DIM, tuple(hidden), float(log_std))


def _shapes(arch: Architecture) -> dict[str, tuple[int, ...]]:
    """Every parameter's shape in a network of ``arch``, in the network's order (built on
    the meta device: nothing is allocated)."""
    with torch.device("meta"):
        net = ActorCritic(arch)
    return {name: tuple(p.shape) for name, p in net.named_parameters()}


def _check_tensor(value: Any, path: str | Path, field: str, shape: tuple[int, ...],
                  arch: Architecture, low: float = -MAX_WEIGHT, high: float = MAX_WEIGHT
                  ) -> None:
    if not isinstance(value, torch.Tensor) or value.layout != torch.strided \
            or value.device.type != "cpu" or value.dtype not in (torch.float32, torch.float64):
        raise _fail(path, field, f"must be a tensor of floating-point numbers, got "
                                 f"{type(value).__name__}"
                                 + (f" on {value.device.type}" if isinstance(value, torch.Tensor)
                                    else ""))
    if tuple(value.shape) != shape:
        raise _fail(path, field, f"has shape {list(value.shape)}, but its architecture (hidden "
                                 f"{list(arch.hidden)}) needs {list(shape)}: the weights do not "
                                 "fit its architecture")
    if not bool(torch.isfinite(value).all()):
        raise _fail(path, field, "holds NaN or infinite numbers")
    if value.numel() and not (low <= float(value.min()) and float(value.max()) <= high):
        raise _fail(path, field, f"holds numbers outside [{low:g}, {high:g}]")


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
        bound = MAX_LOG_STD if name.endswith("log_std") else MAX_WEIGHT
        _check_tensor(state[name], path, f"policy_state.{name}", shape, arch, -bound, bound)


def _check_bounds(data: dict[str, Any], path: str | Path) -> dict[str, tuple[float, float]]:
    bounds = data.get("trait_bounds")
    traits = sorted(observed_traits(), key=list(TRAIT_NAMES).index)
    try:
        if not all(isinstance(bounds[name], (list, tuple)) and len(bounds[name]) == 2
                   and all(_number(v) for v in bounds[name]) for name in traits):
            raise TypeError
        bounds = {name: (float(bounds[name][0]), float(bounds[name][1])) for name in traits}
        ok = all(math.isfinite(a) and math.isfinite(b)  # one point (a constant trait), or
                 and (a == b or b - a >= 1e-9 * max(1.0, abs(b)))  # a width it can divide by
                 for a, b in bounds.values())
    except (KeyError, TypeError, IndexError, ValueError, AttributeError, OverflowError):
        ok = False
    if not ok:
        names = f"{', '.join(traits[:-1])} and {traits[-1]}" if len(traits) > 1 else traits[0]
        raise _fail(path, "trait_bounds", f"is not valid trait bounds ({names}, each [low, "
                                          "high]); it was not written by abm-hetero train")
    for field, kind in (("name", str), ("masked_traits", bool), ("counters", dict)):
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
        _check_adam_group(group, path)
    if len(optimizer["param_groups"]) != 1 or indices != list(range(len(shapes))):
        raise _fail(path, "optimizer_state.param_groups", f"must be one group listing the "
                                                          f"network's {len(shapes)} parameters "
                                                          "in order")
    for index, entry in optimizer["state"].items():
        if not _whole(index) or not 0 <= index < len(shapes) or not isinstance(entry, dict):
            raise _fail(path, f"optimizer_state.state.{_show(index)}",
                        "is not the state of one of the network's parameters")
        if set(entry) != {"step", "exp_avg", "exp_avg_sq"}:
            raise _fail(path, f"optimizer_state.state.{index}", "must hold Adam's step, exp_avg "
                                                                "and exp_avg_sq")
        for key, value in entry.items():
            field = f"optimizer_state.state.{index}.{_key(key)}"
            if key in ("exp_avg", "exp_avg_sq"):
                low = 0.0 if key == "exp_avg_sq" else -MAX_OPTIMISER_MOMENT
                _check_tensor(value, path, field, shapes[index], arch, low,
                              MAX_OPTIMISER_MOMENT)
            elif key == "step":
                number = float(value) if isinstance(value, torch.Tensor) \
                    and value.layout == torch.strided and value.numel() == 1 \
                    and value.device.type == "cpu" \
                    and value.dtype in (torch.float32, torch.float64) else value
                if not _number(number) or not 0 <= number <= MAX_STEPS:
                    raise _fail(path, field, f"must be a count of steps in [0, {MAX_STEPS:g}]")
            else:
                raise _fail(path, field, "is not part of Adam's state")
    normaliser = data.get("reward_normaliser")
    if not isinstance(normaliser, dict) or not all(
            _number(normaliser.get(k)) and math.isfinite(normaliser[k])
            for k in ("count", "mean", "m2")) or normaliser["count"] < 0 or normaliser["m2"] < 0:
        raise _fail(path, "reward_normaliser", "must hold finite count, mean and m2, the count "
                                               "and m2 >= 0")
    _check_rng_state(data.get("rng_state"), path)
    torch_state = data.get("torch_rng_state")
    if torch_state is not None and not (isinstance(torch_state, torch.Tensor)
                                        and torch_state.dtype == torch.uint8
                                        and torch_state.dim() == 1
                                        and torch_state.device.type == "cpu"):
        raise _fail(path, "torch_rng_state", "must be torch's random state (bytes)")
    masked = data.get("masked_traits", False)
    if data["training_settings"].get("mask_traits", masked) != masked:
        raise _fail(path, "masked_traits", "disagrees with training_settings.mask_traits")
    counters = data.get("counters")
    if not isinstance(counters, dict):
        raise _fail(path, "counters", f"must be a record of counts, got {_show(counters)}")
    for key in ("steps", "rollouts", "episodes"):
        if not _whole(counters.get(key)) or not 0 <= counters[key] <= MAX_STEPS:
            raise _fail(path, f"counters.{key}", f"must be a whole number in [0, "
                                                 f"{MAX_STEPS:g}], got {_show(counters.get(key))}")
    for key in ("best_eval", "next_eval", "seconds"):
        value = counters.get(key)
        if not _number(value) or math.isnan(value) or (key != "best_eval"
                                                        and not math.isfinite(value)) \
                or (key == "seconds" and value < 0):
            raise _fail(path, f"counters.{key}", f"must be a number, got {_show(value)}")
    threads = counters.get("update_threads", 1)
    if not _whole(threads) or not 1 <= threads <= MAX_UPDATE_THREADS:
        raise _fail(path, "counters.update_threads", f"must be a whole number in [1, "
                                                     f"{MAX_UPDATE_THREADS}], got "
                                                     f"{_show(threads)}")


def _check_adam_group(group: dict, path: str | Path) -> None:
    """One parameter group of Adam, as this package's training sets it."""
    where = "optimizer_state.param_groups"
    for key in ("lr", "betas", "eps", "weight_decay"):
        if key not in group:
            raise _fail(path, f"{where}.{key}", "is missing")
    for key, value in group.items():
        if key not in ("params", "lr", "betas", "eps", "weight_decay", "initial_lr") \
                and value is not None and not isinstance(value, bool):
            raise _fail(path, f"{where}.{_key(key)}", f"must be true, false or none, got "
                                                      f"{_show(value)}")
    for key in _ADAM_OFF:
        if group.get(key) not in (None, False):
            raise _fail(path, f"{where}.{key}", f"must be off, got {_show(group.get(key))}")
    for key, low, high, open_low in (("lr", 0.0, 1.0, False), ("eps", 0.0, 1.0, True),
                                     ("weight_decay", 0.0, 1.0, False)):
        value = group.get(key, 0.0 if key == "weight_decay" else None)
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = float(value)
        if not _number(value) or not low <= value <= high or (open_low and value <= low):
            raise _fail(path, f"{where}.{key}", f"must be a number in "
                                                f"{'(' if open_low else '['}{low:g}, {high:g}], "
                                                f"got {_show(value)}")
    betas = group.get("betas")
    if not isinstance(betas, (list, tuple)) or len(betas) != 2 \
            or not all(_number(b) and 0 <= b < 1 for b in betas):
        raise _fail(path, f"{where}.betas", f"must be two numbers in [0, 1), got "
                                            f"{_show(betas)}")


def _check_rng_state(state: Any, path: str | Path) -> None:
    """A PCG64 generator's state as numpy records it, every field in its range."""
    ok = isinstance(state, dict) and state.get("bit_generator") == "PCG64"
    inner = state.get("state") if ok else None
    ok = ok and isinstance(inner, dict) and all(
        _whole(inner.get(k)) and 0 <= inner[k] < 2 ** 128 for k in ("state", "inc"))
    ok = ok and inner["inc"] % 2 == 1 and state.get("has_uint32") in (0, 1) \
        and _whole(state.get("uinteger")) and 0 <= state["uinteger"] < 2 ** 32
    if not ok:
        raise _fail(path, "rng_state", "is not the state of a PCG64 random generator")


def policy_from_checkpoint(
    data: dict[str, Any], path: str | Path = "checkpoint",
    expected: Architecture | None = None, device: str | None = None,
    features: tuple[str, ...] | None = None,
) -> Policy:
    """Build the :class:`Policy` stored in a loaded checkpoint (checked first: the network is
    allocated only once its sizes and weights are known to fit) for traders that observe
    ``features`` (default: no extra features)."""
    features = checked_features(data, path, features)
    arch = checked_architecture(data, path, len(features))
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


def load_policy(path: str | Path, device: str | None = None,
                features: tuple[str, ...] | None = None) -> Policy:
    """Load the policy of a checkpoint file for traders that observe ``features`` (default: a
    learning group's without extra features)."""
    return policy_from_checkpoint(load_checkpoint(path, features), path, device=device,
                                  features=features)
