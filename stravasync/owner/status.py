"""What ``stravasync status`` and the demo show: gathered without changing anything.

Owns reading the daemon's lock and account, the state store, the token store and the
governor's state into SPEC's ``status --json`` object (:func:`gather_status`), and
the table a person reads (:func:`status_table`), whose first line says what matters
most: is it running, what does it watch, is anything waiting or wrong. Safe while
the daemon runs: the store is opened read-only, and whether a daemon runs is asked
of the lock itself, so a crashed one is never shown as running.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stravasync.errors import StateError
from stravasync.fsutil import legible, shown
from stravasync.intake.folders import folder_health
from stravasync.models import State
from stravasync.owner.accounts import AccountView, named_needs, read_account
from stravasync.owner.accounts_table import account_sign_in_lines, file_lines
from stravasync.owner.needs import needs_you
from stravasync.stack import open_governor
from stravasync.state import FINAL_STATES
from stravasync.state.accounts import ACCOUNTS_DIR, account_folders
from stravasync.state.runlock import lock_holder, read_info
from stravasync.strava.tokens import problem_text
from stravasync.upload.listing import mode_for_scope, read_follow_mode
from stravasync.upload.polling import next_attempt_at

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from stravasync.config.accounts import Account
    from stravasync.config.settings import Config
    from stravasync.state import FileStatus

__all__ = ["Status", "gather_status", "status_table"]

_LIST_LIMIT = 10
_SHOW_ALL_UP_TO = 30
_WAITING = frozenset({State.QUEUED, State.RETRYING, State.UPLOADING, State.UPDATING,
                      State.PENDING})
_PROBLEM_STATES = frozenset({State.REJECTED, State.RETRYING, State.INVALID, State.PENDING})
LIST_SCOPE = "activity:read_all"


@dataclass
class Status:
    """Everything ``status`` shows: the files, and SPEC's JSON object."""

    files: list[FileStatus]
    """Every known path, latest content only."""
    data: dict[str, Any]
    """SPEC's ``status --json`` object."""
    problems: list[str] = field(default_factory=list)
    """Problems that need the owner now (the daemon's account, the state folder)."""
    views: list[AccountView] = field(default_factory=list)
    """Each account shown, as read from its folder."""
    several: bool = False
    """Whether the configuration has several accounts (or one that is not Strava's)."""
    now: float = 0.0
    """When it was gathered."""


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def _clock_time(ts: float) -> str:
    return time.strftime("%H:%M", time.localtime(ts))


def state_dir_problem(state_dir: Any) -> str | None:
    """Why the state folder cannot be written now (full, read-only, …), or None.

    Asked only where this user may write there by its permissions: another user's
    ``status`` cannot tell what the daemon's user may do.
    """
    if state_dir.is_dir() and not os.access(state_dir, os.W_OK):
        return None
    probe = state_dir / f".status-probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileNotFoundError:
        return None  # nothing there yet: the daemon makes it
    except OSError as exc:
        return exc.strerror or str(exc)
    try:
        os.write(fd, b"x" * 4096)
        os.fsync(fd)
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(probe)
    with contextlib.suppress(OSError):
        if os.statvfs(state_dir).f_bavail == 0:
            return os.strerror(errno.ENOSPC)
    return None


def gather_status(
    config: Config, *, clock: Callable[[], float] = time.time, config_error: str | None = None,
    account: str | None = None,
) -> Status:
    """Read the daemon's lock and account, the stores and the governor state.

    ``config_error``: the configuration file is invalid (``config`` is then the last
    good one's state folder with defaults): said first, and as ``config_error``.
    ``account``: only that account's files, entry and problems (a configured name).
    """
    from stravasync import __version__

    now = clock()
    accounts = config.accounts
    several = len(accounts) > 1 or accounts[0].service != "strava"
    pid = lock_holder(config.state_dir)
    info = read_info(config.state_dir) if pid is not None else None
    if info is not None and info.get("pid") not in (pid, 0) and pid:
        info = None  # an account left by an earlier daemon
    daemon = {"running": pid is not None, "pid": pid or None,
              "since": info.get("since") if info else None,
              "version": info.get("version") if info else __version__}
    folders, folder_problem = _folders(config, several=several)
    views = [read_account(a, folders[a.name], daemon_pid=pid) for a in accounts]
    rate = open_governor(config).snapshot(now=now)

    watch = (info or {}).get("watch") or [
        folder_health(p, recursive=config.watch.recursive).to_json()
        for p in config.watch.paths]
    if several and info is not None:  # each account's daemon.json tells of its folders
        listed = {w.get("path") for w in watch}
        for w in (w for v in views for w in v.watch):
            if w.get("path") not in listed:
                listed.add(w.get("path"))
                watch.append(w)
    unwritable = state_dir_problem(config.state_dir)
    state_problem = folder_problem or (None if unwritable is None else (
        f"the state folder {shown(config.state_dir)} cannot be written: "
        f"{unwritable}; files are read again once it can"))
    if several:
        needs = named_needs(views, shared=needs_you(
            problems={}, since={}, files=[], state_dir=config.state_dir,
            config_error=config_error, state_problem=state_problem))
    else:
        view = views[0]
        needs = needs_you(
            problems=view.problems, since=view.since, files=view.files,
            state_dir=config.state_dir, owed=view.owed, refused=view.foreign,
            account=view.account.name, config_error=config_error,
            state_problem=state_problem)
    # The top-level auth and follow mode stay the first Strava account's (0.2 scripts).
    strava = next((v for v in views if v.account.service == "strava"), None)
    if account is not None:
        views = [v for v in views if v.account.name == account]
        needs = [e for e in needs if _concerns(e, views[0].account)]
    problems = [entry["message"] for entry in needs]

    paused = rate.get("paused_until")
    entries = []
    for view in views:
        for f in view.files:
            entry = f.as_json()
            entry["account"] = view.account.name
            if f.state in _WAITING and f.state is not State.PENDING and daemon["running"]:
                held = paused if view.account.service == "strava" else None
                entry["next_attempt_at"] = next_attempt_at(
                    f.next_attempt_at, paused_until=float(str(held or 0.0)), now=now)
            entries.append(entry)
    auth = strava.auth if strava is not None else None
    # The daemon's own account of how it follows uploads; else what the sign-in allows.
    granted = (auth or {}).get("scope")
    follow_raw = strava.follow_raw if strava is not None else None
    follow = (read_follow_mode(follow_raw) if daemon["running"] else None) or mode_for_scope(
        granted if isinstance(granted, str) else None)
    data: dict[str, Any] = {
        "daemon": daemon,
        "watch": watch,
        "files": entries,
        "auth": auth,
        "rate_limit": rate,
        "follow_mode": follow.mode,
        "follow_reason": follow.why,
        "needs_you": needs,
        "accounts": [{
            "name": v.account.name, "service": v.account.service, "auth": v.auth,
            "counts": _counts(v.files),
            "problems": [e["message"] for e in needs
                         if e.get("account", v.account.name) == v.account.name
                         and (not several or "account" in e)],
        } for v in views],
    }
    if config_error is not None:
        data["config_error"] = config_error
    return Status(files=[f for v in views for f in v.files], data=data, problems=problems,
                  views=views, several=several, now=now)


def _folders(config: Config, *, several: bool) -> tuple[dict[str, Path], str | None]:
    """Each account's state folder, and why the pinned ones cannot be told (else None)."""
    accounts = config.accounts
    if not several:
        return {accounts[0].name: config.state_dir}, None
    try:
        return account_folders(config.state_dir, accounts), None
    except StateError as exc:  # the root pinned to an account no longer configured
        first = accounts[0].name
        return ({a.name: config.state_dir if a.name == first
                 else config.state_dir / ACCOUNTS_DIR / a.name for a in accounts},
                exc.message)


def _concerns(entry: dict[str, Any], account: Account) -> bool:
    """Whether a ``needs_you`` entry is shown under ``status --account``."""
    if entry["kind"] == "folder":
        return any(entry.get("path") == shown(p) for p in account.paths)
    return entry.get("account", account.name) == account.name or entry["kind"] in (
        "config", "state")


def _counts(files: list[FileStatus]) -> dict[str, int]:
    """How many files are in each state (SPEC's ``accounts[].counts``)."""
    counts: dict[str, int] = {}
    for f in files:
        counts[f.state.value] = counts.get(f.state.value, 0) + 1
    return counts


def _headline(status: Status) -> str:
    """The one line a person reads first."""
    data = status.data
    daemon = data["daemon"]
    if daemon["running"]:
        since = f" since {_clock_time(daemon['since'])}" if daemon.get("since") else ""
        parts = [f"Running (pid {daemon['pid']}){since}"]
    else:
        parts = ["Not running (start it: `stravasync run`, or `stravasync service install`)"]
    watch = data["watch"]
    bad = [w for w in watch if w["state"] != "ok"]
    folders = f"watching {len(watch)} folder{'s' if len(watch) != 1 else ''}"
    if bad:
        folders += " (" + "; ".join(f"{w['state']}: {w['path']}" for w in bad) + ")"
    parts.append(folders)
    files = status.files
    # Several accounts: a file counts once, waiting while any account still waits for it.
    by_path: dict[str, set[State]] = {}
    for f in files:
        by_path.setdefault(f.path, set()).add(f.state)
    states = list(by_path.values()) if status.several else [{f.state} for f in files]
    waiting = sum(1 for held in states if held & _WAITING)
    refused = sum(1 for held in states if held & {State.REJECTED, State.INVALID})
    if not files:
        parts.append("no files seen yet")
    elif waiting:
        paused = data["rate_limit"].get("paused_until")
        text = f"{waiting} of {len(states)} files waiting"
        if paused:
            text += f", paused until {_clock_time(paused)} (rate limit)"
        parts.append(text)
    else:
        parts.append(f"all {len(states)} files done")
    if refused:
        parts.append(f"{refused} refused")
    if status.problems:
        many = len(status.problems) > 1
        parts.append(f"{len(status.problems)} problem{'s need' if many else ' needs'} you")
    return " — ".join(parts)


def _listed(title: str, lines: list[str], *, limit: int, hint: str) -> list[str]:
    if not lines:
        return []
    out = ["", title, *lines[:limit]]
    if len(lines) > limit:
        out.append(f"  ... and {len(lines) - limit} more ({hint})")
    return out


def status_table(status: Status, *, show_all: bool = False) -> list[str]:
    """The lines of ``stravasync status`` for a person (``show_all``: every file)."""
    files = status.files
    lines = [_headline(status)]
    lines.extend(_listed("Needs you:", [f"  {p}" for p in status.problems],
                         limit=len(status.problems), hint=""))
    # A folder already named under "Needs you" is not repeated; one that is polled, or
    # missing without being a problem (a device unplugged), is worth a line of its own.
    folders = [f"  {w['path']}: {w['state']}, {w['mode']}"
               + (f" — {w['error']}" if w.get("error") else "")
               for w in status.data["watch"]
               if w["mode"] != "events" or (
                   w["state"] != "ok" and not any(w["path"] in p for p in status.problems))]
    lines.extend(_listed("Folders:", folders, limit=len(folders), hint=""))
    if status.several:
        lines.extend(_several_lines(status, show_all=show_all))
        return [legible(line) for line in lines]
    counts = _counts(files)
    summary = ", ".join(f"{counts[s.value]} {s.value}" for s in State if s.value in counts)
    lines.append("")
    lines.append(f"Files: {len(files)}" + (f" ({summary})" if summary else ""))
    listed = files if show_all or len(files) <= _SHOW_ALL_UP_TO else [
        f for f in files if f.state not in FINAL_STATES]
    due = {e["path"]: e.get("next_attempt_at") for e in status.data["files"]}
    if listed:
        lines.append(f"{'STATE':<10} {'ACTIVITY':<12} {'NEXT ATTEMPT':<21} PATH")
        for f in listed:
            activity = str(f.activity_id) if f.activity_id is not None else "-"
            next_at = due.get(shown(f.path))
            when = _when(next_at) if next_at and f.state in _WAITING else "-"
            lines.append(f"{f.state.value:<10} {activity:<12} {when:<21} {shown(f.path)}")
    if len(listed) < len(files):
        lines.append(f"({len(files) - len(listed)} finished files not listed; "
                     "`stravasync status --all` lists every file)")
    problems = sorted((f for f in files if f.error and f.state in _PROBLEM_STATES),
                      key=lambda f: f.updated_at or 0.0, reverse=True)
    lines.extend(_listed("Recent problems:",
                         [f"  {f.state.value}: {shown(f.path)}: {f.error}" for f in problems],
                         limit=_LIST_LIMIT, hint="`stravasync status --json` lists them all"))
    noted = [f for f in files if f.warning]
    lines.extend(_listed("Notes:", [f"  {f.state.value}: {shown(f.path)}: {f.warning}"
                                    for f in noted],
                         limit=_LIST_LIMIT, hint="`stravasync status --json` lists them all"))
    skipped = [f for f in files if f.state is State.SKIPPED]
    lines.extend(_listed(
        "Skipped (not sent; `stravasync upload FILE` sends a workout anyway):",
        [f"  {shown(f.path)}: {f.error or 'no reason recorded'}" for f in skipped],
        limit=_LIST_LIMIT, hint="`stravasync status --all`"))
    lines.append("")
    lines.append(_auth_line(status.data["auth"]))
    lines.append(_mode_line(status.data["follow_mode"], status.data.get("follow_reason")))
    lines.extend(_rate_lines(status.data["rate_limit"]))
    # A name (or an error quoting one) may hold ESC or a newline: it never steers the
    # terminal nor forges a line of this table (`status --json` keeps it exact).
    return [legible(line) for line in lines]


def _several_lines(status: Status, *, show_all: bool) -> list[str]:
    """The files by account, their problems, and each account's sign-in."""
    lines = file_lines(status.views, status.data, now=status.now, show_all=show_all)
    problems = sorted(((v.account.name, f) for v in status.views for f in v.files
                       if f.error and f.state in _PROBLEM_STATES),
                      key=lambda pair: pair[1].updated_at or 0.0, reverse=True)
    lines.extend(_listed(
        "Recent problems:",
        [f"  {name}: {f.state.value}: {shown(f.path)}: {f.error}" for name, f in problems],
        limit=_LIST_LIMIT, hint="`stravasync status --json` lists them all"))
    lines.append("")
    lines.extend(account_sign_in_lines(status.views))
    if any(v.account.service == "strava" for v in status.views):
        lines.append(_mode_line(status.data["follow_mode"], status.data.get("follow_reason")))
        lines.extend(_rate_lines(status.data["rate_limit"]))
    return lines


def _mode_line(mode: str, why: str | None) -> str:
    way = "activity lists" if mode == "list" else "one poll per upload"
    return f"Following uploads: {way}" + (f" ({why})" if why else "")


def _auth_line(auth: dict[str, Any] | None) -> str:
    if auth is None:
        return "Sign-in: not signed in (run `stravasync auth`)"
    who = auth.get("athlete_name") or f"athlete {auth.get('athlete_id')}"
    problem = auth.get("problem")
    text = (f"Sign-in: {who} (id {auth.get('athlete_id')}), scope {auth.get('scope')}, "
            f"access token until {_when(auth.get('expires_at'))}")
    if problem:
        words = problem_text(str(problem))
        if "stravasync auth" not in words:
            words += " (run `stravasync auth`)"
        text += f"; UNUSABLE: {words}"
    return text


def _rate_lines(rate: dict[str, Any]) -> list[str]:
    lines = [
        f"Rate limit: {rate.get('usage_15')}/{rate.get('limit_15')} per 15 min, "
        f"{rate.get('usage_day')}/{rate.get('limit_day')} per day; reads "
        f"{rate.get('read_usage_15')}/{rate.get('read_limit_15')} per 15 min, "
        f"{rate.get('read_usage_day')}/{rate.get('read_limit_day')} per day"
    ]
    if rate.get("paused_until"):
        reason = rate.get("pause_reason")
        lines.append(f"Uploads paused until {_when(rate['paused_until'])}"
                     + (f" ({reason})" if reason else ""))
    elif rate.get("read_paused_until"):
        lines.append(f"Polls paused until {_when(rate['read_paused_until'])}")
    return lines
