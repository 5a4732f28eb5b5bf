"""Owns ``[[accounts]]``: who the workouts go to, and which files each account holds.

SPEC "Several accounts": one daemon serves several accounts, each a Strava athlete
(all on the one ``[strava]`` app) or an intervals.icu athlete. A file goes to every
account whose ``paths`` hold it, exactly once each, and never to one whose folders do
not hold it. :func:`routes_for` is that rule, the only place it is written.

A configuration without ``[[accounts]]`` is one Strava account named ``me`` whose
folders are ``[watch] paths`` (every 0.2 config keeps working). With ``[[accounts]]``,
``[watch] paths`` (if given) belong to the first account. The same folder may belong
to several accounts; nested folders of *different* accounts are refused, because a
file in the inner one would silently go to both athletes.

An intervals.icu account's API key is a secret like the client secret: it comes from
``$STRAVASYNC_INTERVALS_KEY_<NAME>`` or ``api_key_file`` (a warning when that file is
readable by others), is registered with the log redaction, and is never shown.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from stravasync.config.schema import Problems, check_url

__all__ = [
    "DEFAULT_ACCOUNT",
    "ENV_INTERVALS_KEY",
    "INTERVALS_API_URL",
    "SERVICES",
    "Account",
    "accounts_from_toml",
    "key_variable",
    "routes_for",
]

Service = Literal["strava", "intervals"]
SERVICES: tuple[str, ...] = get_args(Service)

#: The one account of a configuration without ``[[accounts]]``.
DEFAULT_ACCOUNT = "me"
#: Where intervals.icu's API lives unless an account says otherwise.
INTERVALS_API_URL = "https://intervals.icu/api/v1"
#: The prefix of the variable that may hold an intervals.icu account's key.
ENV_INTERVALS_KEY = "STRAVASYNC_INTERVALS_KEY_"

_NAME = re.compile(r"[a-z0-9_-]{1,32}\Z")
_ATHLETE = re.compile(r"(0|i?[0-9]{1,12})\Z")
_STRAVA_KEYS = frozenset({"name", "service", "paths"})
_INTERVALS_KEYS = _STRAVA_KEYS | {"athlete_id", "api_url", "api_key_file"}


@dataclass(frozen=True)
class Account:
    """One destination: an athlete on a service, and the folders whose files go there."""

    name: str
    """``[a-z0-9_-]{1,32}``: how the CLI, status, logs and token files name it."""
    service: Service = "strava"
    """``strava`` or ``intervals``."""
    paths: tuple[Path, ...] = ()
    """Absolute folders whose workouts go to this account."""
    athlete_id: str = "0"
    """intervals.icu: the athlete (``"0"``: the one the key belongs to)."""
    api_url: str = INTERVALS_API_URL
    """intervals.icu: the API base, without a trailing slash."""
    api_key: str = field(default="", repr=False)
    """intervals.icu: the API key (a secret; never logged or shown)."""
    api_key_source: str = "none"
    """Where the key came from: ``env``, ``file`` or ``none``."""

    def holds(self, path: str | os.PathLike[str]) -> bool:
        """Whether *path* lies in one of this account's folders, as written.

        The watcher names every file below the watched folder as written, so the
        comparison is lexical (``..`` folded); symlinks are not followed here.
        """
        spelled = Path(os.path.normpath(os.fspath(path)))
        return any(spelled.is_relative_to(os.path.normpath(folder)) for folder in self.paths)


def routes_for(accounts: Sequence[Account], path: str | os.PathLike[str]) -> tuple[Account, ...]:
    """Every account that *path* goes to, in configuration order (none: it goes nowhere)."""
    return tuple(account for account in accounts if account.holds(path))


def key_variable(name: str) -> str:
    """The environment variable for an account's key: ``jane-icu`` → ``…_JANE_ICU``."""
    return ENV_INTERVALS_KEY + name.upper().replace("-", "_")


def accounts_from_toml(
    c: Problems,
    raw: object,
    *,
    watch_paths: Sequence[Path],
    environ: Mapping[str, str],
    path_value: Callable[[str], Path],
) -> tuple[tuple[Account, ...], list[str]]:
    """The accounts a configuration describes, and warnings; problems go to *c*.

    *raw* is ``data.get("accounts")`` (None when the file has no ``[[accounts]]``);
    *watch_paths* are ``[watch] paths``, expanded.
    """
    if raw is None:
        return (Account(name=DEFAULT_ACCOUNT, paths=tuple(watch_paths)),), []
    if not isinstance(raw, list) or not all(isinstance(item, Mapping) for item in raw):
        c.add("accounts: must be an array of tables ([[accounts]])")
        return (), []
    if not raw:
        c.add("accounts: at least one [[accounts]] table is needed when the key is given")
        return (), []
    accounts: list[Account] = []
    warnings: list[str] = []
    seen: set[str] = set()
    for index, table in enumerate(raw):
        account = _account(c, table, index=index, environ=environ, path_value=path_value,
                           warnings=warnings)
        if index == 0 and watch_paths:
            account = _with_paths(account, (*watch_paths, *account.paths))
        if account.name in seen:
            c.add(f"accounts[{index}].name: {account.name!r} is used by an earlier account: "
                  "give every account its own name")
        seen.add(account.name)
        if not account.paths:
            c.add(f"accounts[{index}].paths: the account holds no folder: list the folders "
                  "whose workouts go to it")
        accounts.append(account)
    for problem in nesting_problems(accounts):
        c.add(problem)
    return tuple(accounts), warnings


def nesting_problems(accounts: Sequence[Account]) -> list[str]:
    """A folder of one account inside a different folder of another account."""
    problems: list[str] = []
    for i, outer in enumerate(accounts):
        for inner in accounts:
            if inner is outer:
                continue
            for folder in inner.paths:
                for around in outer.paths:
                    a, b = Path(os.path.normpath(folder)), Path(os.path.normpath(around))
                    if a != b and a.is_relative_to(b):
                        problems.append(
                            f"accounts[{i}].paths: {b} ({outer.name}) holds {a}, a folder of "
                            f"{inner.name}: files there would go to both accounts; give each "
                            "account its own folders, or the very same folder to both")
    return problems


def _with_paths(account: Account, paths: Sequence[Path]) -> Account:
    unique = tuple(dict.fromkeys(Path(os.path.normpath(p)) for p in paths))
    return Account(name=account.name, service=account.service, paths=unique,
                   athlete_id=account.athlete_id, api_url=account.api_url,
                   api_key=account.api_key, api_key_source=account.api_key_source)


def _account(c: Problems, table: Mapping[str, Any], *, index: int,
             environ: Mapping[str, str], path_value: Callable[[str], Path],
             warnings: list[str]) -> Account:
    where = f"accounts[{index}]"
    name = table.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        c.add(f"{where}.name: must be 1 to 32 of a-z, 0-9, '_' and '-', got {name!r}")
        name = f"#{index}"
    service = table.get("service", "strava")
    if service not in SERVICES:
        c.add(f"{where}.service: must be one of {', '.join(SERVICES)}, got {service!r}")
        service = "strava"
    known = _INTERVALS_KEYS if service == "intervals" else _STRAVA_KEYS
    for key in table:
        if key not in known:
            hint = (" (only for service = \"intervals\")"
                    if key in _INTERVALS_KEYS - _STRAVA_KEYS else "")
            c.add(f"{where}.{key}: unknown key{hint} (known: {', '.join(sorted(known))})")
    paths: list[Path] = []
    raw_paths = table.get("paths", [])
    if not isinstance(raw_paths, list):
        c.add(f"{where}.paths: expected a list of folder paths, got {raw_paths!r}")
        raw_paths = []
    for j, item in enumerate(raw_paths):
        if not isinstance(item, str) or not item.strip():
            c.add(f"{where}.paths[{j}]: expected a folder path string, got {item!r}")
        else:
            paths.append(path_value(item))
    account = _with_paths(Account(name=name, service=service), paths)
    if service != "intervals":
        return account
    athlete = table.get("athlete_id", "0")
    if not isinstance(athlete, str) or not _ATHLETE.match(athlete):
        c.add(f"{where}.athlete_id: must be \"0\" (the key's athlete) or an id like "
              f"\"i12345\", got {athlete!r}")
        athlete = "0"
    raw_url = table.get("api_url", INTERVALS_API_URL)
    api_url = check_url(c, f"{where}.api_url", raw_url if isinstance(raw_url, str) else "")
    key, source = _api_key(c, table, where=where, name=name, environ=environ,
                           path_value=path_value, warnings=warnings)
    return Account(name=name, service="intervals", paths=account.paths, athlete_id=athlete,
                   api_url=api_url, api_key=key, api_key_source=source)


def _api_key(c: Problems, table: Mapping[str, Any], *, where: str, name: str,
             environ: Mapping[str, str], path_value: Callable[[str], Path],
             warnings: list[str]) -> tuple[str, str]:
    variable = key_variable(name)
    if environ.get(variable, "").strip():
        return environ[variable].strip(), "env"
    raw = table.get("api_key_file")
    if raw is None:
        c.add(f"{where}: an intervals.icu account needs its API key: set api_key_file, or "
              f"${variable} (intervals.icu → Settings → Developer → API key)")
        return "", "none"
    if not isinstance(raw, str) or not raw.strip():
        c.add(f"{where}.api_key_file: expected a file path string, got {raw!r}")
        return "", "none"
    path = path_value(raw)
    try:
        key = path.read_text(encoding="utf-8").strip()
        mode = path.stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        c.add(f"{where}.api_key_file: cannot read {path}: {reason or exc}")
        return "", "none"
    if not key:
        c.add(f"{where}.api_key_file: {path} is empty: paste the API key into it")
        return "", "none"
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        warnings.append(f"{path} holds {name}'s intervals.icu API key and is readable by "
                        f"other users: run `chmod 600 {path}`")
    return key, "file"
