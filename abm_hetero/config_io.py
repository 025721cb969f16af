"""Turn validated settings dataclasses into plain mappings and files, and back.

Settings files may be JSON, TOML or YAML (chosen by extension). Reading checks every key
against the dataclass's fields, so a typo is reported by name instead of being ignored.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import math
import os
import reprlib
import stat
import types
import typing
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

from .errors import SettingsError

T = TypeVar("T")
FORMATS = (".json", ".toml", ".yaml", ".yml")


#: the largest settings file read (a settings file is a few kilobytes)
MAX_SETTINGS_BYTES = 10_000_000
_BRIEF = reprlib.Repr()
_BRIEF.maxstring = _BRIEF.maxother = 60
_BRIEF.maxlist = _BRIEF.maxdict = _BRIEF.maxtuple = 6
_BRIEF.maxlevel = 3


def _brief(value: Any) -> str:
    """``repr(value)`` cut to a line, for one-line errors about large or nested values."""
    return _BRIEF.repr(value)


def _check_scalar(value: Any, typ: Any, where: str) -> Any:
    """Check ``value`` against a simple annotation and return it converted."""
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(typ)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_scalar(value, arg, where)
            except SettingsError as exc:
                errors.append(str(exc))
        raise SettingsError(errors[0] if errors else f"{where}: bad value {_brief(value)}")
    if typ is Any:
        return value
    if typ is bool:
        if not isinstance(value, bool):
            raise SettingsError(f"{where} must be true or false, got {_brief(value)}")
        return value
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
                value) or value != int(value) or abs(value) >= 2 ** 63:
            raise SettingsError(f"{where} must be a whole number, got {_brief(value)}")
        return int(value)
    if typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SettingsError(f"{where} must be a number, got {_brief(value)}")
        if not math.isfinite(value):
            raise SettingsError(f"{where} must be finite, got {_brief(value)}")
        return float(value)
    if typ is str:
        if not isinstance(value, str):
            raise SettingsError(f"{where} must be text, got {_brief(value)}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise SettingsError(f"{where} must be a list, got {_brief(value)}")
        (item,) = typing.get_args(typ)[:1] or (Any,)
        return [_check_scalar(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict or typ is dict:
        if not isinstance(value, dict):
            raise SettingsError(f"{where} must be a table, got {_brief(value)}")
        return dict(value)
    from_dict = getattr(typ, "from_dict", None)
    if from_dict is not None:
        return from_dict(value, where)
    if dataclasses.is_dataclass(typ):
        return build_dataclass(typ, value, where)
    return value


def build_dataclass(cls: type[T], data: Any, where: str) -> T:
    """Build ``cls`` from a mapping, rejecting unknown keys and values of the wrong type.

    Missing keys take the dataclass defaults. ``cls.validate()`` runs afterwards if defined.
    """
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise SettingsError(f"{where} must be a table, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise SettingsError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"known keys: {', '.join(fields)}"
        )
    hints = get_type_hints(cls)
    kwargs = {
        name: _check_scalar(value, hints[name], f"{where}.{name}" if where else name)
        for name, value in data.items()
    }
    try:
        obj = cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise SettingsError(f"{where}: {exc}") from None
    return obj


def to_plain(obj: Any) -> Any:
    """Dataclasses and distribution objects to plain dicts/lists/numbers (for files)."""
    to_dict = getattr(obj, "to_dict", None)
    if to_dict is not None and not isinstance(obj, type):
        return to_plain(to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalar
        return obj.item()
    return obj


def _drop_none(obj: Any) -> Any:
    """TOML has no null: leave out keys whose value is None (they mean "the default")."""
    if isinstance(obj, dict):
        return {k: _drop_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_none(v) for v in obj]
    return obj


def _read_text(path: Path) -> str:
    """The text of a regular file of at most :data:`MAX_SETTINGS_BYTES` (a device, a pipe or a
    huge file is refused before it is read)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder")
        if not stat.S_ISREG(st.st_mode):
            raise SettingsError(f"{path}: not a regular file (a device, pipe or socket)")
        if st.st_size > MAX_SETTINGS_BYTES:
            raise SettingsError(f"{path}: {st.st_size:,} bytes is too large for a settings file "
                                f"(at most {MAX_SETTINGS_BYTES:,})")
        return fh.read(MAX_SETTINGS_BYTES + 1).decode("utf-8")


def _load_yaml(text: str) -> Any:
    """YAML by the safe loader, without anchors and aliases: settings need none, and aliases
    nested in each other make a few hundred bytes expand without bound."""
    import yaml

    for token in yaml.scan(text):
        if isinstance(token, (yaml.AliasToken, yaml.AnchorToken)):
            raise ValueError("anchors and aliases (& and *) are not allowed in settings files")
    return yaml.safe_load(text)


def read_mapping(path: str | Path) -> dict[str, Any]:
    """Read a JSON, TOML or YAML file into a dict, with a clear error for every failure."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise SettingsError(f"{path}: settings files must end in {', '.join(FORMATS)}")
    try:
        text = _read_text(path)
    except FileNotFoundError:
        raise SettingsError(f"{path}: no such settings file") from None
    except IsADirectoryError:
        raise SettingsError(f"{path}: is a folder, not a settings file") from None
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{path}: not a text file in UTF-8 (byte {exc.start} cannot be "
                            "decoded)") from None
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read: {exc.strerror}") from None
    if "\0" in text:
        raise SettingsError(f"{path}: not a text file (it contains NUL bytes)")
    try:
        if suffix == ".json":
            data = json.loads(text)
        elif suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib
            data = tomllib.loads(text)
        else:
            data = _load_yaml(text)
    except Exception as exc:  # parse errors of three libraries
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SettingsError(f"{path}: not valid {suffix[1:].upper()}: {msg}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: the top level must be a table of settings")
    return data


def write_mapping(path: str | Path, data: dict[str, Any]) -> None:
    """Write a dict as JSON, TOML or YAML according to the file's extension."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        text = json.dumps(data, indent=2) + "\n"
    elif suffix == ".toml":
        import tomli_w

        text = tomli_w.dumps(_drop_none(data))
    elif suffix in (".yaml", ".yml"):
        import yaml

        text = yaml.safe_dump(data, sort_keys=False)
    else:
        raise SettingsError(f"{path}: settings files must end in {', '.join(FORMATS)}")
    path.write_text(text, encoding="utf-8")
