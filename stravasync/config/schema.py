"""Owns reading TOML tables against frozen dataclasses, collecting every problem.

A :class:`Table` takes its key names and defaults from a dataclass's fields, and
the TOML types it accepts from the type of each default, so a key and its
default are written once, in the dataclass. Problems are collected with their
key paths in a :class:`Problems`; nothing here raises for bad input.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

__all__ = ["Problems", "Table", "as_toml", "check_url", "toml_shape"]

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true/false",
               list: "a list"}
# What TOML may write for a key, judged from the type of its default.
_TOML_TYPES: dict[type, tuple[type, ...]] = {
    bool: (bool,), int: (int,), float: (int, float), str: (str,), list: (list,),
}


class Problems:
    """Collects problems, each ``key.path: what is wrong``, while tables are read."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, problem: str) -> None:
        self.problems.append(problem)

    def table(self, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        """``data[key]`` when it is a table, else {} (and a problem if it is something else)."""
        value = data.get(key, {})
        if not isinstance(value, Mapping):
            self.add(f"{key}: must be a table ([{key}]), not {_kind(value)}")
            return {}
        return value

    def unknown(self, data: Mapping[str, Any], prefix: str, known: set[str]) -> None:
        """Report every key of *data* not in *known*."""
        for key in data:
            if key not in known:
                where = f"{prefix}.{key}" if prefix else key
                self.add(f"{where}: unknown key (known: {', '.join(sorted(known))})")

    def get(
        self, table: Mapping[str, Any], *, path: str, types: tuple[type, ...], default: Any
    ) -> Any:
        """The value at the last part of *path*, if of one of *types* and finite, else *default*."""
        key = path.rsplit(".", 1)[-1]
        if key not in table:
            return default
        value = table[key]
        # TOML booleans are ints to Python; a count must not accept `true`.
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok:
            expected = " or ".join(_TYPE_NAMES[t] for t in types)
            self.add(f"{path}: expected {expected}, got {_kind(value)} {value!r}")
            return default
        if isinstance(value, float) and not math.isfinite(value):
            self.add(f"{path}: must be a finite number, got {value!r}")
            return default
        return value

    def in_range(self, path: str, value: float, *, low: float, high: float,
                 low_note: str = "", high_note: str = "") -> None:
        """Report *value* outside ``[low, high]`` (the notes explain the bounds)."""
        if not low <= value <= high:
            self.add(f"{path}: must be between {low:g}{low_note} and {high:g}{high_note}, "
                     f"got {value:g}")


class Table:
    """One TOML table read against its dataclass: key names and defaults are its fields."""

    def __init__(
        self,
        problems: Problems,
        data: Mapping[str, Any],
        name: str,
        schema: type,
        *,
        extra: Mapping[str, Any] | None = None,
        internal: tuple[str, ...] = (),
    ) -> None:
        """Read ``data[name]`` as *schema*; *extra* adds keys that are no field (with
        their defaults), *internal* names fields that are no key."""
        self.problems = problems
        self.name = name
        self.values = problems.table(data, name)
        self.defaults: dict[str, Any] = {
            f.name: _toml_default(f) for f in dataclasses.fields(schema)
            if f.name not in internal
        }
        self.defaults.update(extra or {})
        problems.unknown(self.values, name, set(self.defaults))

    def path(self, key: str) -> str:
        """The key path of *key*, e.g. ``watch.paths``."""
        return f"{self.name}.{key}"

    def get(self, key: str, *, types: tuple[type, ...] | None = None,
            choices: tuple[str, ...] = ()) -> Any:
        """The key's value as TOML gives it, else its default (TOML-shaped).

        With *choices*, a string is folded to lower case and must be one of them.
        """
        default = self.defaults[key]
        accepted = types or _TOML_TYPES[type(default)]
        value = self.problems.get(self.values, path=self.path(key), types=accepted,
                                  default=default)
        if choices and isinstance(value, str):
            if value.lower() not in choices:
                self.problems.add(f"{self.path(key)}: must be {_choices(choices)}, "
                                  f"got {value!r}")
                return default
            return value.lower()
        return value

    def strings(self, key: str, *, choices: tuple[str, ...] = (),
                check: Callable[[str], str | None] | None = None) -> list[str]:
        """A list of non-empty strings, each one of *choices* when given, and passing
        *check* (which returns what is wrong with an item, or None)."""
        out: list[str] = []
        for i, item in enumerate(self.get(key)):
            where = f"{self.path(key)}[{i}]"
            wrong = None if check is None or not isinstance(item, str) else check(item)
            if not isinstance(item, str) or not item.strip():
                self.problems.add(f"{where}: expected a non-empty string, got {item!r}")
            elif choices and item not in choices:
                self.problems.add(f"{where}: must be {_choices(choices)}, got {item!r}")
            elif wrong is not None:
                self.problems.add(f"{where}: {wrong}")
            else:
                out.append(item)
        return out


def check_url(problems: Problems, path: str, url: str) -> str:
    """*url* without a trailing slash; a problem unless it is an http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.add(f"{path}: must be an http(s) URL, got {url!r}")
    return url.rstrip("/")


def as_toml(value: object, *, omit: tuple[str, ...] = ()) -> dict[str, Any]:
    """A dataclass instance as TOML-shaped data (Paths as text, None as "", sets as lists)."""
    return {
        f.name: toml_shape(getattr(value, f.name))
        for f in dataclasses.fields(cast(Any, value))
        if f.name not in omit
    }


def toml_shape(value: object) -> Any:
    """A field value as TOML would write it."""
    if value is None:
        return ""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, tuple):
        return [toml_shape(v) for v in value]
    return value


def _toml_default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return toml_shape(f.default)
    if f.default_factory is not dataclasses.MISSING:
        return toml_shape(f.default_factory())
    return None


def _kind(value: object) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list",
            dict: "table"}.get(type(value), type(value).__name__)


def _choices(choices: tuple[str, ...]) -> str:
    return ", ".join(choices[:-1]) + " or " + choices[-1]
