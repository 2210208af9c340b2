"""Typed configs with strict overrides.

Each component owns a dataclass of typed defaults. :func:`from_dict` builds one from a mapping and
refuses unknown keys and wrong types with an error naming the key and the allowed ones. YAML is read
with ``yaml.safe_load`` only, and every traingen YAML file carries a ``version:`` key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml

from .errors import ConfigError

SUPPORTED_VERSIONS = (1,)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce(value: Any, tp: Any, *, where: str | None, field: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and return it (lists become tuples where asked)."""
    if tp is Any:
        return value
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        errors = []
        for arg in get_args(tp):
            try:
                return coerce(value, arg, where=where, field=field)
            except ConfigError as e:
                errors.append(e)
        raise ConfigError(f"expected {_type_name(tp)}, got {value!r}", where=where, field=field)
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"expected null, got {value!r}", where=where, field=field)
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise ConfigError(f"expected one of {list(get_args(tp))}, got {value!r}", where=where, field=field)
    if origin in (tuple, list, typing.Sequence) or tp in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"expected a list, got {value!r}", where=where, field=field)
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"expected {len(args)} items, got {len(value)}", where=where, field=field)
            out = [coerce(v, a, where=where, field=f"{field}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True))]
        elif args:
            out = [coerce(v, args[0], where=where, field=f"{field}[{i}]") for i, v in enumerate(value)]
        else:
            out = list(value)
        return tuple(out) if (origin is tuple or tp is tuple) else out
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"expected a mapping, got {value!r}", where=where, field=field)
        return dict(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"expected a number, got {value!r}", where=where, field=field)
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"expected an integer, got {value!r}", where=where, field=field)
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"expected true or false, got {value!r}", where=where, field=field)
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"expected a string, got {value!r}", where=where, field=field)
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        return from_dict(tp, value, where=where, prefix=f"{field}.")
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise ConfigError(f"expected {_type_name(tp)}, got {value!r}", where=where, field=field)
    return value


def from_dict(cls: type, data: Any, *, where: str | None = None, prefix: str = "") -> Any:
    """Build the dataclass ``cls`` from ``data``; unknown keys and wrong types raise ConfigError."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping for {cls.__name__}, got {data!r}", where=where, field=prefix.rstrip(".") or None)
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise ConfigError(
            f"unknown key '{unknown[0]}' for {cls.__name__}; allowed: {', '.join(fields)}",
            where=where,
            field=prefix + str(unknown[0]),
        )
    kwargs = {k: coerce(v, hints[k], where=where, field=prefix + k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(str(e), where=where, field=prefix.rstrip(".") or None) from e


def to_dict(obj: Any) -> dict[str, Any]:
    """A plain-YAML-able dict of a config dataclass (tuples become lists)."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return to_dict(v)
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}


def load_yaml(path: str | Path, *, require_version: bool = True) -> dict[str, Any]:
    """Read a traingen YAML file with ``safe_load``; check its ``version:`` key."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read: {e.strerror or e}", where=str(path)) from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"invalid YAML: {e}", where=str(path)) from e
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping at the top level", where=str(path))
    if require_version:
        check_version(data, where=str(path))
    return data


def check_version(data: dict[str, Any], *, where: str | None) -> int:
    if "version" not in data:
        raise ConfigError("missing 'version:' key (use version: 1)", where=where, field="version")
    v = data["version"]
    if v not in SUPPORTED_VERSIONS:
        raise ConfigError(f"unsupported version {v!r}; supported: {list(SUPPORTED_VERSIONS)}", where=where, field="version")
    return v


def require_at_least_one(obj: Any, names: tuple[str, ...] | list[str], where: str | None = None) -> None:
    """Raise :class:`ConfigError` (``field`` = the name) for the first of ``obj``'s fields ``names`` below 1.

    Args:
        obj: the config (any object with those attributes).
        names: the fields that must be integers >= 1.
        where: what the config belongs to, for the message (e.g. ``"mesh fit"``).

    Example:
        >>> require_at_least_one(cfg, ("ngf", "ndf"))  # in a config's ``__post_init__``
    """
    for name in names:
        if int(getattr(obj, name)) < 1:
            raise ConfigError(f"must be >= 1, got {getattr(obj, name)}", where=where, field=name)


def dump_yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
