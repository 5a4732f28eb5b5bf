"""The "needs you" list: what only the owner can fix, as it stands now.

Owns turning the daemon's open problems (``daemon.json``, by cause), the store's files
and the moves ``upload.after`` still owes into ``status --json``'s ``needs_you``
entries, ``{"kind", "path" or "account", "message", "since"}``, first things first: the
configuration, the state folder, the sign-in, folders, files, archive moves.

A problem leaves the list the moment its cause is gone, whatever an older
``daemon.json`` says: a file's problem stands only while the store still shows that
content, refused or invalid, at one of its paths (a path shows its latest content
only, so a replaced or finished copy, or a ``retry``, ends it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from stravasync.fsutil import shown
from stravasync.models import State
from stravasync.state import FileStatus, Workout

__all__ = ["ACCOUNT", "FILE_PROBLEM_STATES", "account_problem", "needs_you", "open_file_problems",
           "ranked"]

ACCOUNT = "me"
"""The one account of a config without ``[[accounts]]`` (SPEC); a named one is passed in."""
FILE_PROBLEM_STATES = frozenset({State.REJECTED, State.INVALID})
"""A file in one of these states waits for the owner (Strava refused it, or it is bad)."""
_ORDER = ("config", "state", "auth", "engine", "folder", "file", "archive")
CAP_PAGE = "https://www.strava.com/settings/api"
"""Where a Strava app's owner raises its athlete cap."""
_ACCOUNT_PROBLEMS: dict[str, tuple[str, str]] = {
    "auth:signed_out": ("Strava sign-in needed",
                        "signed out of Strava — run `stravasync auth --account {name}`"),
    "auth:scope_missing": (
        "Strava permission missing",
        "the Strava sign-in lacks permission to upload — run `stravasync auth --account "
        "{name}` and leave 'Upload your activities' ticked"),
    "auth:athlete_limit": (
        "Strava athlete cap reached",
        "the Strava app's athlete cap is reached — the app's owner raises the cap in the "
        f"app's settings on {CAP_PAGE} (up to 10 athletes), then run "
        "`stravasync auth --account {name}`"),
    "auth:key_refused": (
        "intervals.icu key refused",
        "intervals.icu refused the API key — make a new key at intervals.icu → Settings → "
        "Developer Settings, then run `stravasync auth --account {name}`"),
}


def account_problem(cause: str, *, account: str) -> tuple[str, str] | None:
    """The title and words of an account's problem *cause*, naming how ``account`` mends
    it (``auth --account``), or None for a cause without words of its own."""
    known = _ACCOUNT_PROBLEMS.get(cause)
    return None if known is None else (known[0], known[1].format(name=account))


def ranked(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``needs_you`` entries first things first (stable within a kind)."""
    rank = {kind: n for n, kind in enumerate(_ORDER)}
    return sorted(entries, key=lambda e: rank.get(e["kind"], len(_ORDER)))


def open_file_problems(files: Iterable[FileStatus]) -> dict[str, FileStatus]:
    """The contents that still need the owner, by sha256, each with the path it shows at."""
    found: dict[str, FileStatus] = {}
    for f in files:
        if f.sha256 is not None and f.state in FILE_PROBLEM_STATES:
            found.setdefault(f.sha256, f)
    return found


def _entry(kind: str, where: dict[str, str], message: str,
           since: float | None) -> dict[str, Any]:
    return {"kind": kind, **where, "message": message, "since": since}


def needs_you(
    *,
    problems: Mapping[str, str],
    since: Mapping[str, float],
    files: Iterable[FileStatus],
    state_dir: Path,
    owed: Iterable[Workout] = (),
    refused: Iterable[Workout] = (),
    account: str = ACCOUNT,
    config_error: str | None = None,
    state_problem: str | None = None,
) -> list[dict[str, Any]]:
    """``status --json``'s ``needs_you``: every open problem, its cause checked now.

    ``problems``/``since``: the daemon's open problems and when each began, by cause
    (``folder:/abs``, ``file:<sha256>``, ``auth:…``, ``state:…``); ``owed``: workouts
    whose ``upload.after`` move failed and is still owed; ``refused``: workouts given up
    on the store's word alone (Strava kept answering about another file), listed
    whether or not a daemon runs.
    """
    entries: list[dict[str, Any]] = []
    if config_error is not None:
        entries.append(_entry("config", {"account": account}, config_error, None))
    if state_problem is not None:
        entries.append(_entry("state", {"path": shown(state_dir)}, state_problem, None))
    standing = open_file_problems(files)
    for cause, message in problems.items():
        kind, _, key = cause.partition(":")
        when = since.get(cause)
        if kind == "file":
            f = standing.get(key)
            if f is not None:
                entries.append(_entry("file", {"path": shown(f.path)}, message,
                                      when if when is not None else f.updated_at))
        elif kind == "folder":
            entries.append(_entry(kind, {"path": shown(key)}, message, when))
        elif kind == "state":
            if state_problem is None:
                entries.append(_entry(kind, {"path": shown(state_dir)}, message, when))
        elif kind != "archive":  # archive moves are read from the store below
            entries.append(_entry(kind, {"account": account}, message, when))
    entries.extend(_refused_entries(refused, listed={e.get("path") for e in entries}))
    for w in owed:
        if w.after_error is not None:
            entries.append(_entry("archive", {"path": shown(w.path)}, owed_text(w),
                                  w.after_failed_at))
    return ranked(entries)


def _refused_entries(refused: Iterable[Workout], *, listed: set[Any]) -> list[dict[str, Any]]:
    """Files given up on the store's word alone, unless the daemon listed them already."""
    return [_entry("file", {"path": shown(w.path)}, f"{shown(w.path)}: {w.error}", w.updated_at)
            for w in refused if shown(w.path) not in listed and w.error]


def owed_text(w: Workout) -> str:
    """What a failed ``upload.after`` move says to the owner."""
    return (f"{shown(Path(w.path).name)} is on Strava but could not be moved to the "
            f"archive: {w.after_error}; it stays where it is and is tried again")
