"""Configuration: where the TOML file is, what it may say, and the frozen objects it becomes.

Owns the schema of SPEC.md's configuration. Reading never stops at the first
problem: unknown keys, wrong types, bad choices and out-of-range numbers are all
collected, each with its key path, and raised together as one :class:`ConfigError`.
User configuration is read-only here; machine state lives in ``state_dir``.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urlsplit

import platformdirs

from stravasync.errors import ConfigError
from stravasync.logs import register_secret

__all__ = [
    "APP_NAME",
    "Config",
    "LogConfig",
    "StravaConfig",
    "UploadConfig",
    "WatchConfig",
    "config_from_dict",
    "default_config_path",
    "default_state_dir",
    "example_config",
    "load_config",
    "resolve_config_path",
]

APP_NAME = "stravasync"
ENV_CONFIG = "STRAVASYNC_CONFIG"
ENV_SECRET = "STRAVASYNC_CLIENT_SECRET"  # noqa: S105 - a variable name, not a secret

AfterUpload = Literal["keep", "move", "delete"]
LogFormat = Literal["auto", "console", "json"]


@dataclass(frozen=True)
class StravaConfig:
    """The Strava application we act as, and where its API lives."""

    client_id: str
    """The application's numeric client id, as text."""
    client_secret: str = field(repr=False)
    """The application's client secret; empty when none was given."""
    api_url: str = "https://www.strava.com/api/v3"
    """Base of the REST API, without a trailing slash."""
    oauth_url: str = "https://www.strava.com/oauth"
    """Base of the OAuth endpoints, without a trailing slash."""
    client_secret_source: str = "none"  # noqa: S105 - a source name, not a secret
    """Where the secret came from: ``config``, ``file``, ``env`` or ``none``."""


@dataclass(frozen=True)
class WatchConfig:
    """Which folders are watched, and how patiently."""

    paths: tuple[Path, ...] = ()
    """Absolute folders to watch; they may not exist yet (an unplugged device)."""
    recursive: bool = True
    """Also watch sub-folders."""
    settle_seconds: float = 2.0
    """Quiet time before a file that does not prove itself complete is read."""
    max_age_days: int = 30
    """Skip workouts that started longer ago than this; 0 means no limit."""


@dataclass(frozen=True)
class UploadConfig:
    """How files are sent, and what happens to them afterwards."""

    gzip: bool = True
    """Send gzip-compressed data types (smaller uploads)."""
    after: AfterUpload = "keep"
    """What to do with a file once Strava has its activity."""
    archive_dir: Path | None = None
    """Where ``after = "move"`` puts files."""
    concurrency: int = 4
    """Uploads in flight at once."""


@dataclass(frozen=True)
class LogConfig:
    """How the program writes its log."""

    format: LogFormat = "auto"
    """``auto`` (console on a TTY, JSON lines otherwise), ``console`` or ``json``."""
    level: str = "info"
    """``debug``, ``info``, ``warning`` or ``error``."""


@dataclass(frozen=True)
class Config:
    """The whole effective configuration."""

    strava: StravaConfig
    watch: WatchConfig
    upload: UploadConfig
    state_dir: Path
    """Folder holding the SQLite state, tokens and locks."""
    log: LogConfig
    source: Path | None = None
    """The file this came from, if any."""
    warnings: tuple[str, ...] = ()
    """Things worth telling the user that do not stop us (e.g. a world-readable secret)."""

    def masked(self) -> dict[str, Any]:
        """The effective configuration as plain data, with the secret masked."""
        secret = self.strava.client_secret
        return {
            "strava": {
                "client_id": self.strava.client_id,
                "client_secret": ("***" if secret else "")
                + (f" (from {self.strava.client_secret_source})" if secret else ""),
                "api_url": self.strava.api_url,
                "oauth_url": self.strava.oauth_url,
            },
            "watch": {
                "paths": [str(p) for p in self.watch.paths],
                "recursive": self.watch.recursive,
                "settle_seconds": self.watch.settle_seconds,
                "max_age_days": self.watch.max_age_days,
            },
            "upload": {
                "gzip": self.upload.gzip,
                "after": self.upload.after,
                "archive_dir": str(self.upload.archive_dir) if self.upload.archive_dir else "",
                "concurrency": self.upload.concurrency,
            },
            "state": {"dir": str(self.state_dir)},
            "log": {"format": self.log.format, "level": self.log.level},
        }


def default_config_path() -> Path:
    """``<user config dir>/stravasync/config.toml``."""
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def example_config() -> str:
    """The documented example configuration shipped with the package."""
    from importlib.resources import files

    return files("stravasync").joinpath("config.example.toml").read_text(encoding="utf-8")


def default_state_dir() -> Path:
    """``<user state dir>/stravasync``."""
    return Path(platformdirs.user_state_dir(APP_NAME))


def resolve_config_path(
    explicit: Path | str | None = None, *, env: Mapping[str, str] | None = None
) -> Path:
    """``--config`` wins, then ``$STRAVASYNC_CONFIG``, then the user config dir."""
    environ = os.environ if env is None else env
    if explicit:
        return _expand(str(explicit), environ).absolute()
    if environ.get(ENV_CONFIG):
        return _expand(environ[ENV_CONFIG], environ).absolute()
    return default_config_path()


def load_config(
    path: Path | str | None = None, *, env: Mapping[str, str] | None = None
) -> Config:
    """Read and check the configuration file; raise one ConfigError listing every problem."""
    environ = os.environ if env is None else env
    location = resolve_config_path(path, env=environ)
    try:
        raw = location.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"no configuration file at {location}: create it with "
            f"`stravasync config --example > {location}` (or pass --config PATH), "
            "then set strava.client_id"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{location} is a folder, not a configuration file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {location}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{location} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{location} is not valid TOML: {exc}") from None
    config = config_from_dict(data, env=environ, source=location)
    from_file = config.strava.client_secret_source == "config"  # noqa: S105 - a source name
    if from_file and _readable_by_others(location):
        warning = (
            f"{location} holds the client secret and is readable by other users: "
            f"run `chmod 600 {location}`"
        )
        config = _with_warning(config, warning)
    return config


def _readable_by_others(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH))
    except OSError:
        return False


def _with_warning(config: Config, warning: str) -> Config:
    return Config(
        strava=config.strava,
        watch=config.watch,
        upload=config.upload,
        state_dir=config.state_dir,
        log=config.log,
        source=config.source,
        warnings=(*config.warnings, warning),
    )


def _expand(value: str, env: Mapping[str, str]) -> Path:
    """Expand ``$VAR``/``${VAR}`` (from *env*) and a leading ``~`` in a path."""
    expanded = re.sub(
        r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))",
        lambda m: env.get(m.group(1) or m.group(2), ""),
        value,
    )
    if expanded == "~" or expanded.startswith("~/"):
        expanded = (env.get("HOME") or str(Path.home())) + expanded[1:]
    elif expanded.startswith("~"):
        expanded = os.path.expanduser(expanded)
    return Path(expanded)


class _Checker:
    """Collects problems while reading one table after another."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def table(self, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, Mapping):
            self.problems.append(f"{key}: must be a table ([{key}]), not {_kind(value)}")
            return {}
        return value

    def unknown(self, data: Mapping[str, Any], prefix: str, known: set[str]) -> None:
        for key in data:
            if key not in known:
                where = f"{prefix}.{key}" if prefix else key
                hint = f" (known: {', '.join(sorted(known))})"
                self.problems.append(f"{where}: unknown key{hint}")

    def get(
        self,
        table: Mapping[str, Any],
        *,
        path: str,
        types: tuple[type, ...],
        default: Any,
    ) -> Any:
        key = path.rsplit(".", 1)[-1]
        if key not in table:
            return default
        value = table[key]
        # TOML booleans are ints to Python; a count must not accept `true`.
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok:
            expected = " or ".join(_TYPE_NAMES[t] for t in types)
            self.problems.append(f"{path}: expected {expected}, got {_kind(value)} {value!r}")
            return default
        return value


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true/false",
               list: "a list"}


def _kind(value: object) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list",
            dict: "table"}.get(type(value), type(value).__name__)


def _check_url(checker: _Checker, path: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        checker.problems.append(f"{path}: must be an http(s) URL, got {url!r}")
    return url.rstrip("/")


def config_from_dict(  # noqa: PLR0912, PLR0915 - one linear pass over the schema reads best
    data: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    source: Path | None = None,
) -> Config:
    """Build a Config from parsed TOML; raise one ConfigError listing every problem."""
    environ = os.environ if env is None else env
    base_dir = source.parent if source is not None else Path.cwd()
    c = _Checker()
    c.unknown(data, "", {"strava", "watch", "upload", "state", "log"})

    def path_value(raw: str) -> Path:
        p = _expand(raw, environ)
        return p if p.is_absolute() else (base_dir / p)

    # [strava]
    st = c.table(data, "strava")
    c.unknown(st, "strava", {"client_id", "client_secret", "client_secret_file", "api_url",
                             "oauth_url"})
    client_id_raw = c.get(st, path="strava.client_id", types=(str, int), default=None)
    client_id = "" if client_id_raw is None else str(client_id_raw).strip()
    if client_id_raw is None and "client_id" not in st:
        c.problems.append(
            "strava.client_id: missing (the number shown at strava.com/settings/api)"
        )
    elif client_id_raw is not None and not client_id.isdigit():
        c.problems.append(f"strava.client_id: must be a number, got {client_id_raw!r}")
    secret_inline = c.get(st, path="strava.client_secret", types=(str,), default="")
    secret_file = c.get(st, path="strava.client_secret_file", types=(str,), default="")
    secret, secret_source = "", "none"
    if secret_inline and secret_file:
        c.problems.append(
            "strava.client_secret_file: give either client_secret or client_secret_file, "
            "not both"
        )
    if environ.get(ENV_SECRET):
        secret, secret_source = environ[ENV_SECRET].strip(), "env"
    elif secret_file:
        secret_path = path_value(secret_file)
        try:
            secret = secret_path.read_text(encoding="utf-8").strip()
            secret_source = "file"  # noqa: S105 - a source name
        except OSError as exc:
            c.problems.append(
                f"strava.client_secret_file: cannot read {secret_path}: "
                f"{exc.strerror or exc}"
            )
    elif secret_inline:
        secret, secret_source = secret_inline.strip(), "config"
    api_url = _check_url(
        c, "strava.api_url",
        c.get(st, path="strava.api_url", types=(str,), default=StravaConfig.api_url),
    )
    oauth_url = _check_url(
        c, "strava.oauth_url",
        c.get(st, path="strava.oauth_url", types=(str,), default=StravaConfig.oauth_url),
    )

    # [watch]
    wt = c.table(data, "watch")
    c.unknown(wt, "watch", {"paths", "recursive", "settle_seconds", "max_age_days"})
    raw_paths = c.get(wt, path="watch.paths", types=(list,), default=[])
    paths: list[Path] = []
    for i, item in enumerate(raw_paths):
        if not isinstance(item, str) or not item.strip():
            c.problems.append(f"watch.paths[{i}]: expected a folder path string, got {item!r}")
            continue
        paths.append(path_value(item))
    recursive = c.get(wt, path="watch.recursive", types=(bool,), default=True)
    settle = c.get(wt, path="watch.settle_seconds", types=(int, float), default=2.0)
    if settle < 0 or settle > 3600:
        c.problems.append(f"watch.settle_seconds: must be between 0 and 3600, got {settle}")
    max_age = c.get(wt, path="watch.max_age_days", types=(int,), default=30)
    if max_age < 0:
        c.problems.append(f"watch.max_age_days: must be 0 (no limit) or more, got {max_age}")

    # [upload]
    up = c.table(data, "upload")
    c.unknown(up, "upload", {"gzip", "after", "archive_dir", "concurrency"})
    gzip = c.get(up, path="upload.gzip", types=(bool,), default=True)
    after = c.get(up, path="upload.after", types=(str,), default="keep")
    if after not in ("keep", "move", "delete"):
        c.problems.append(f"upload.after: must be keep, move or delete, got {after!r}")
        after = "keep"
    archive_raw = c.get(up, path="upload.archive_dir", types=(str,), default="")
    archive_dir = path_value(archive_raw) if archive_raw.strip() else None
    if after == "move" and archive_dir is None:
        c.problems.append('upload.archive_dir: required when upload.after = "move"')
    concurrency = c.get(up, path="upload.concurrency", types=(int,), default=4)
    if not 1 <= concurrency <= 32:
        c.problems.append(f"upload.concurrency: must be between 1 and 32, got {concurrency}")

    # [state]
    sd = c.table(data, "state")
    c.unknown(sd, "state", {"dir"})
    state_raw = c.get(sd, path="state.dir", types=(str,), default="")
    state_dir = path_value(state_raw) if state_raw.strip() else default_state_dir()

    # [log]
    lg = c.table(data, "log")
    c.unknown(lg, "log", {"format", "level"})
    fmt = c.get(lg, path="log.format", types=(str,), default="auto")
    if fmt not in ("auto", "console", "json"):
        c.problems.append(f"log.format: must be auto, console or json, got {fmt!r}")
        fmt = "auto"
    level = c.get(lg, path="log.level", types=(str,), default="info")
    if level.lower() not in ("debug", "info", "warning", "error"):
        c.problems.append(f"log.level: must be debug, info, warning or error, got {level!r}")
        level = "info"

    if c.problems:
        where = f" in {source}" if source is not None else ""
        count = len(c.problems)
        raise ConfigError(
            f"{count} problem{'s' if count != 1 else ''} in the configuration{where}:",
            problems=c.problems,
        )

    register_secret(secret)
    return Config(
        strava=StravaConfig(
            client_id=client_id,
            client_secret=secret,
            api_url=api_url,
            oauth_url=oauth_url,
            client_secret_source=secret_source,
        ),
        watch=WatchConfig(
            paths=tuple(paths),
            recursive=recursive,
            settle_seconds=float(settle),
            max_age_days=max_age,
        ),
        upload=UploadConfig(
            gzip=gzip,
            after=cast(AfterUpload, after),
            archive_dir=archive_dir,
            concurrency=concurrency,
        ),
        state_dir=state_dir,
        log=LogConfig(format=cast(LogFormat, fmt), level=level.lower()),
        source=source,
    )
