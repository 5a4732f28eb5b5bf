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

from stravasync.errors import AuthError, StateError
from stravasync.fsutil import legible, shown
from stravasync.intake.folders import folder_health
from stravasync.models import State
from stravasync.owner.needs import needs_you
from stravasync.stack import open_governor, open_tokens
from stravasync.state import DB_NAME, FINAL_STATES, Store
from stravasync.state.runlock import lock_holder, read_info
from stravasync.strava.tokens import problem_text
from stravasync.upload.listing import FOLLOW_MODE_KEY, mode_for_scope, read_follow_mode
from stravasync.upload.outcomes import FOREIGN_ANSWER
from stravasync.upload.polling import next_attempt_at

if TYPE_CHECKING:
    from collections.abc import Callable

    from stravasync.config.settings import Config
    from stravasync.state import FileStatus, Workout

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
) -> Status:
    """Read the daemon's lock and account, the stores and the governor state.

    ``config_error``: the configuration file is invalid (``config`` is then the last
    good one's state folder with defaults): said first, and as ``config_error``.
    """
    from stravasync import __version__

    now = clock()
    files: list[FileStatus] = []
    follow_raw: str | None = None
    foreign: list[Workout] = []
    owed: list[Workout] = []
    if (config.state_dir / DB_NAME).exists():
        store = Store.open(config.state_dir, read_only=True)
        try:
            files = store.files()
            follow_raw = store.get_meta(FOLLOW_MODE_KEY)
            # Strava kept answering about another file: only the owner can sort it out.
            foreign = [w for w in store.workouts(states=(State.REJECTED,))
                       if w.reason_code == FOREIGN_ANSWER]
            owed = store.owed_moves()
        finally:
            store.close()
    auth: dict[str, Any] | None
    try:
        token_status = open_tokens(config).status()
        auth = token_status.as_json() if token_status is not None else None
    except (StateError, AuthError) as exc:  # a damaged or unreadable token file
        auth = {"athlete_id": None, "scope": None, "expires_at": None, "problem": exc.message}
    rate = open_governor(config).snapshot(now=now)

    pid = lock_holder(config.state_dir)
    info = read_info(config.state_dir) if pid is not None else None
    if info is not None and info.get("pid") not in (pid, 0) and pid:
        info = None  # an account left by an earlier daemon
    daemon = {"running": pid is not None, "pid": pid or None,
              "since": info.get("since") if info else None,
              "version": info.get("version") if info else __version__}
    watch = (info or {}).get("watch") or [
        folder_health(p, recursive=config.watch.recursive).to_json()
        for p in config.watch.paths]
    unwritable = state_dir_problem(config.state_dir)
    needs = needs_you(
        problems=(info or {}).get("problems") or {},
        since=(info or {}).get("problems_since") or {}, files=files,
        state_dir=config.state_dir, owed=owed, refused=foreign,
        account=config.accounts[0].name, config_error=config_error,
        state_problem=None if unwritable is None else (
            f"the state folder {shown(config.state_dir)} cannot be written: "
            f"{unwritable}; files are read again once it can"))
    problems = [entry["message"] for entry in needs]

    paused = rate.get("paused_until")
    account = config.accounts[0]  # one account until the routing of several lands
    entries = []
    for f in files:
        entry = f.as_json()
        entry["account"] = account.name
        if f.state in _WAITING and f.state is not State.PENDING and daemon["running"]:
            entry["next_attempt_at"] = next_attempt_at(
                f.next_attempt_at, paused_until=float(str(paused or 0.0)), now=now)
        entries.append(entry)
    # The daemon's own account of how it follows uploads; else what the sign-in allows.
    granted = (auth or {}).get("scope")
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
            "name": account.name, "service": account.service, "auth": auth,
            "counts": _counts(files),
            "problems": [e["message"] for e in needs
                         if e.get("account", account.name) == account.name],
        }],
    }
    if config_error is not None:
        data["config_error"] = config_error
    return Status(files=files, data=data, problems=problems)


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
    waiting = sum(1 for f in files if f.state in _WAITING)
    refused = sum(1 for f in files if f.state in (State.REJECTED, State.INVALID))
    if not files:
        parts.append("no files seen yet")
    elif waiting:
        paused = data["rate_limit"].get("paused_until")
        text = f"{waiting} of {len(files)} files waiting"
        if paused:
            text += f", paused until {_clock_time(paused)} (rate limit)"
        parts.append(text)
    else:
        parts.append(f"all {len(files)} files done")
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
