"""Configuration: where the TOML file is, what it may say, and the frozen objects it becomes.

Owns the schema of SPEC.md's configuration. Each table is a frozen dataclass, and
its keys and defaults are read from the dataclass fields (:class:`_Table`), one
function per table. Reading never stops at the first problem: unknown keys,
wrong types, bad choices, out-of-range or non-finite numbers and unsafe places
(a system folder watched, an archive inside a watched folder) are all collected,
each with its key path, and raised together as one :class:`ConfigError`.
User configuration is read-only here; machine state lives in ``state_dir``.
``[[rules]]`` are read by :mod:`stravasync.config.rules`; only the check that a rule's
folder lies inside a watched path is made here.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal, get_args

import platformdirs

from stravasync.config.accounts import DEFAULT_ACCOUNT, Account, accounts_from_toml
from stravasync.config.places import place_problems, rule_folder_problems
from stravasync.config.rules import Rule, rule_warnings, rules_from_toml
from stravasync.config.schema import Problems, Table, as_toml, check_url
from stravasync.errors import ConfigError
from stravasync.logs import register_secret

__all__ = [
    "APP_NAME",
    "DEFAULT_POLL_INTERVAL",
    "MAX_AGE_DAYS_LIMIT",
    "NOTICE_KINDS",
    "Config",
    "LogConfig",
    "NotifyConfig",
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
LogLevel = Literal["debug", "info", "warning", "error"]
NoticeKind = Literal["problem", "uploaded", "recovered"]
NOTICE_KINDS: tuple[str, ...] = get_args(NoticeKind)

#: Seconds between looks at a polled folder when ``watch.poll_interval = 0``.
DEFAULT_POLL_INTERVAL = 10.0
#: The largest ``watch.max_age_days`` that still means something: 50 years.
MAX_AGE_DAYS_LIMIT = 18262


@dataclass(frozen=True)
class StravaConfig:
    """The Strava application we act as, and where its API lives."""

    client_id: str
    """The application's numeric client id, as text."""
    client_secret: str = field(default="", repr=False)
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
    ignore: tuple[str, ...] = ("inProgressActivity.fit",)
    """File-name globs never read (Zwift rewrites ``inProgressActivity.fit`` mid-ride)."""
    poll_interval: float = DEFAULT_POLL_INTERVAL
    """Seconds between looks at folders without change events (0 in the file: the default)."""

    def is_ignored(self, name: str) -> bool:
        """Whether a file name matches one of the ``ignore`` globs (case-insensitive)."""
        folded = name.lower()
        return any(fnmatchcase(folded, glob.lower()) for glob in self.ignore)


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
    delete_outside_home: bool = False
    """Confirms ``after = "delete"`` for watched folders outside the home folder."""


@dataclass(frozen=True)
class _StateTable:
    """``[state]`` as written; Config keeps only the folder (``Config.state_dir``)."""

    dir: str = ""
    """The state folder; empty means the user state dir."""


@dataclass(frozen=True)
class LogConfig:
    """How the program writes its log."""

    format: LogFormat = "auto"
    """``auto`` (console on a TTY, JSON lines otherwise), ``console`` or ``json``."""
    level: LogLevel = "info"
    """``debug``, ``info``, ``warning`` or ``error``."""


@dataclass(frozen=True)
class NotifyConfig:
    """How the owner is told when something needs them (nothing set: no notices)."""

    url: str | None = None
    """An http(s) URL to POST a one-line text notice to (ntfy-style)."""
    command: tuple[str, ...] = ()
    """An argv run per notice, the message appended as its last argument."""
    on: frozenset[str] = frozenset({"problem"})
    """Which notices: a subset of :data:`NOTICE_KINDS`."""


@dataclass(frozen=True)
class Config:
    """The whole effective configuration."""

    strava: StravaConfig
    watch: WatchConfig
    upload: UploadConfig
    state_dir: Path
    """Folder holding the SQLite state, tokens and locks."""
    log: LogConfig
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    """``[notify]``: where notices go, and which."""
    accounts: tuple[Account, ...] = ()
    """``[[accounts]]`` in file order; without them, the one Strava account ``me`` whose
    folders are ``[watch] paths`` (see :mod:`stravasync.config.accounts`)."""
    rules: tuple[Rule, ...] = ()
    """``[[rules]]`` in file order (see :func:`stravasync.config.rules.settings_for`)."""
    source: Path | None = None
    """The file this came from, if any."""
    warnings: tuple[str, ...] = ()
    """Things worth telling the user that do not stop us (e.g. a world-readable secret)."""

    def masked(self) -> dict[str, dict[str, Any]]:
        """The effective configuration as plain TOML-shaped tables, with the secret masked.

        ``[[rules]]`` are not in here (they are not a table): see :meth:`masked_rules`.
        """
        strava = as_toml(self.strava, omit=("client_secret_source",))
        secret = self.strava.client_secret
        strava["client_secret"] = (
            f"*** (from {self.strava.client_secret_source})" if secret else ""
        )
        notify = as_toml(self.notify)
        notify["url"] = _mask_url(self.notify.url or "")
        return {
            "strava": strava,
            "watch": as_toml(self.watch),
            "upload": as_toml(self.upload),
            "state": {"dir": str(self.state_dir)},
            "log": as_toml(self.log),
            "notify": notify,
        }

    def __post_init__(self) -> None:
        if not self.accounts:  # built by hand (tests, the demo): the 0.2 shape
            object.__setattr__(self, "accounts",
                               (Account(name=DEFAULT_ACCOUNT, paths=self.watch.paths),))

    def masked_accounts(self) -> list[dict[str, Any]]:
        """Each account as plain data, its API key masked (intervals.icu keys only)."""
        out: list[dict[str, Any]] = []
        for account in self.accounts:
            data: dict[str, Any] = {"name": account.name, "service": account.service,
                                    "paths": [str(p) for p in account.paths]}
            if account.service == "intervals":
                data["athlete_id"] = account.athlete_id
                data["api_url"] = account.api_url
                data["api_key"] = (f"*** (from {account.api_key_source})"
                                   if account.api_key else "")
            out.append(data)
        return out

    def masked_rules(self) -> list[dict[str, Any]]:
        """Each ``[[rules]]`` as plain data: its conditions, and ``set`` as a sub-table."""
        out = []
        for rule in self.rules:
            data = as_toml(rule, omit=("index", "settings"))
            data = {key: value for key, value in data.items() if value != ""}
            settings = as_toml(rule.settings, omit=("matched",))
            data["set"] = {key: value for key, value in settings.items() if value != ""}
            out.append(data)
        return out
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
        # The hint must work as typed on a fresh machine, where the folder is missing too.
        folder = location.parent
        make = "" if folder.is_dir() else f"mkdir -p {shlex.quote(str(folder))} && "
        raise ConfigError(
            f"no configuration file at {location}: create it with "
            f"`{make}stravasync config --example > {shlex.quote(str(location))}` "
            "(or pass --config PATH), then set strava.client_id"
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
    return dataclasses.replace(config, warnings=(*config.warnings, warning))


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


def _mask_url(url: str) -> str:
    """Hide a password in ``user:password@host`` (the rest of the URL is shown)."""
    return re.sub(r"(//[^/@:]*:)[^/@]*@", r"\1***@", url)


def config_from_dict(
    data: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    source: Path | None = None,
) -> Config:
    """Build a Config from parsed TOML; raise one ConfigError listing every problem."""
    environ = os.environ if env is None else env
    base_dir = source.parent if source is not None else Path.cwd()

    def path_value(raw: str) -> Path:
        p = _expand(raw, environ)
        return p if p.is_absolute() else (base_dir / p)

    c = Problems()
    c.unknown(data, "", {"strava", "watch", "upload", "state", "log", "notify", "rules",
                         "accounts"})
    strava = _strava(c, data, environ=environ, path_value=path_value)
    watch, indexed_paths = _watch(c, data, path_value=path_value)
    accounts, account_warnings = accounts_from_toml(
        c, data.get("accounts"), watch_paths=watch.paths, environ=environ,
        path_value=path_value)
    # The watcher watches every account's folders; each keeps the key path it came from.
    watched = [(f"watch.paths[{i}]", path) for i, path in indexed_paths]
    if "accounts" in data:
        watched += [(f"accounts[{i}].paths", path) for i, account in enumerate(accounts)
                    for path in account.paths if path not in watch.paths]
        watch = dataclasses.replace(
            watch, paths=tuple(dict.fromkeys(p for a in accounts for p in a.paths)))
    upload = _upload(c, data, path_value=path_value)
    state_dir = _state(c, data, path_value=path_value)
    log = _log(c, data)
    notify = _notify(c, data)
    rules: tuple[Rule, ...] = ()
    if "rules" in data:
        rules, rule_problems = rules_from_toml(
            data["rules"], folder_path=path_value,
            account_names=tuple(account.name for account in accounts))
        for problem in rule_problems:
            c.add(problem)
    home = Path(environ.get("HOME") or Path.home())
    for problem in place_problems(
        watched=watched, state_dir=state_dir, after=upload.after,
        archive_dir=upload.archive_dir, delete_outside_home=upload.delete_outside_home,
        home=home,
    ):
        c.add(problem)
    for problem in rule_folder_problems(
        ((rule.index, rule.folder) for rule in rules if rule.folder is not None),
        watched=watch.paths,
    ):
        c.add(problem)

    if c.problems:
        where = f" in {source}" if source is not None else ""
        count = len(c.problems)
        raise ConfigError(
            f"{count} problem{'s' if count != 1 else ''} in the configuration{where}:",
            problems=c.problems,
        )
    register_secret(strava.client_secret)
    for account in accounts:
        register_secret(account.api_key)
    return Config(strava=strava, watch=watch, upload=upload, state_dir=state_dir, log=log,
                  notify=notify, accounts=accounts, rules=rules, source=source,
                  warnings=(*account_warnings, *rule_warnings(rules)))


def _strava(c: Problems, data: Mapping[str, Any], *, environ: Mapping[str, str],
            path_value: Callable[[str], Path]) -> StravaConfig:
    t = Table(c, data, "strava", StravaConfig, extra={"client_secret_file": ""},
              internal=("client_secret_source",))
    client_id_raw = t.get("client_id", types=(str, int))
    client_id = "" if client_id_raw is None else str(client_id_raw).strip()
    if client_id_raw is None and "client_id" not in t.values:
        c.add("strava.client_id: missing (the number shown at strava.com/settings/api)")
    elif client_id_raw is not None and not client_id.isdigit():
        c.add(f"strava.client_id: must be a number, got {client_id_raw!r}")
    secret_inline = t.get("client_secret")
    secret_file = t.get("client_secret_file")
    secret, secret_source = "", "none"
    if secret_inline and secret_file:
        c.add(
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
            c.add(
                f"strava.client_secret_file: cannot read {secret_path}: "
                f"{exc.strerror or exc}"
            )
    elif secret_inline:
        secret, secret_source = secret_inline.strip(), "config"
    return StravaConfig(
        client_id=client_id,
        client_secret=secret,
        api_url=check_url(c, t.path("api_url"), t.get("api_url")),
        oauth_url=check_url(c, t.path("oauth_url"), t.get("oauth_url")),
        client_secret_source=secret_source,
    )


def _watch(c: Problems, data: Mapping[str, Any], *,
           path_value: Callable[[str], Path]) -> tuple[WatchConfig, list[tuple[int, Path]]]:
    """The [watch] table, and each good path with its index (for later key paths)."""
    t = Table(c, data, "watch", WatchConfig)
    indexed: list[tuple[int, Path]] = []
    for i, item in enumerate(t.get("paths")):
        if not isinstance(item, str) or not item.strip():
            c.add(f"watch.paths[{i}]: expected a folder path string, got {item!r}")
        else:
            indexed.append((i, path_value(item)))
    recursive = t.get("recursive")
    settle = t.get("settle_seconds")
    c.in_range(t.path("settle_seconds"), settle, low=0, high=3600)
    max_age = t.get("max_age_days")
    c.in_range(t.path("max_age_days"), max_age, low=0, high=MAX_AGE_DAYS_LIMIT,
               low_note=" (no limit)", high_note=" (50 years)")
    ignore = t.strings("ignore", check=_file_name_glob)
    poll = t.get("poll_interval")
    if poll != 0:
        c.in_range(t.path("poll_interval"), poll, low=1, high=3600,
                   low_note=" (or 0 for the default)")
    watch = WatchConfig(
        paths=tuple(path for _, path in indexed),
        recursive=recursive,
        settle_seconds=float(settle),
        max_age_days=max_age,
        ignore=tuple(ignore),
        poll_interval=float(poll) or DEFAULT_POLL_INTERVAL,
    )
    return watch, indexed


def _file_name_glob(glob: str) -> str | None:
    return f"a file-name glob cannot hold '/', got {glob!r}" if "/" in glob else None


def _upload(c: Problems, data: Mapping[str, Any], *,
            path_value: Callable[[str], Path]) -> UploadConfig:
    t = Table(c, data, "upload", UploadConfig)
    gzip = t.get("gzip")
    after = t.get("after", choices=get_args(AfterUpload))
    archive_raw = t.get("archive_dir")
    archive_dir = path_value(archive_raw) if archive_raw.strip() else None
    if after == "move" and archive_dir is None:
        c.add('upload.archive_dir: required when upload.after = "move"')
    concurrency = t.get("concurrency")
    c.in_range(t.path("concurrency"), concurrency, low=1, high=32)
    return UploadConfig(
        gzip=gzip,
        after=after,
        archive_dir=archive_dir,
        concurrency=concurrency,
        delete_outside_home=t.get("delete_outside_home"),
    )


def _state(c: Problems, data: Mapping[str, Any], *,
           path_value: Callable[[str], Path]) -> Path:
    folder: str = Table(c, data, "state", _StateTable).get("dir")
    return path_value(folder) if folder.strip() else default_state_dir()


def _log(c: Problems, data: Mapping[str, Any]) -> LogConfig:
    t = Table(c, data, "log", LogConfig)
    return LogConfig(
        format=t.get("format", choices=get_args(LogFormat)),
        level=t.get("level", choices=get_args(LogLevel)),
    )


def _notify(c: Problems, data: Mapping[str, Any]) -> NotifyConfig:
    t = Table(c, data, "notify", NotifyConfig)
    url: str = t.get("url").strip()
    if url:
        url = check_url(c, t.path("url"), url)
    return NotifyConfig(
        url=url or None,
        command=tuple(t.strings("command")),
        on=frozenset(t.strings("on", choices=NOTICE_KINDS)),
    )
