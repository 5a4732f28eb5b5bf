"""The lines of ``stravasync status`` that differ when several accounts are configured.

Owns showing, at a glance, where each file stands with every account it goes to: one
line per file, its state per account (``jane: uploaded (activity 123)   jane-icu:
retrying in 4 min — HTTP 503``), so a file on Strava but not yet on intervals.icu, and
why, reads from one line; an account whose folders hold a file it has not recorded yet
says ``not seen yet``. Then each account's sign-in (Strava) or key (intervals.icu), by
name. Lines are plain text; the caller escapes them for the terminal.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from stravasync.config.accounts import routes_for
from stravasync.fsutil import shown
from stravasync.models import State
from stravasync.state import FINAL_STATES

if TYPE_CHECKING:
    from stravasync.owner.accounts import AccountView
    from stravasync.state import FileStatus

__all__ = ["account_sign_in_lines", "file_lines", "for_person"]

_SERVICE = {"strava": "Strava", "intervals": "intervals.icu"}
_ERROR_CUT = 80
_SHOW_ALL_UP_TO = 30
_WITH_ACTIVITY = frozenset({State.UPLOADED, State.DUPLICATE, State.UPDATING})


def _in(seconds: float) -> str:
    """``in 4 min``: how long until a time, for people."""
    if seconds < 60:
        return "in under a minute" if seconds > 0 else "now"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"in {minutes} min"
    return f"in {minutes // 60} h {minutes % 60} min"


def _cut(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _ERROR_CUT else flat[: _ERROR_CUT - 1] + "…"


def for_person(f: FileStatus, *, due: float | None, now: float,
               service: str = "strava") -> str:
    """One account's state of one file: ``uploaded (activity 123)``, ``retrying in 4 min —
    HTTP 503``; an intervals.icu activity by the id it shows there (``i123``)."""
    text = f.state.value
    if f.state in _WITH_ACTIVITY and f.activity_id is not None:
        text += f" (activity {'i' if service == 'intervals' else ''}{f.activity_id})"
    elif f.state is State.UPLOADING and f.upload_id is not None:
        text += f" (upload {f.upload_id})"
    elif f.state is State.RETRYING and due is not None:
        text += f" {_in(due - now)}"
    if f.error and f.state not in _WITH_ACTIVITY:
        text += f" — {_cut(f.error)}"
    return text


def file_lines(views: list[AccountView], data: dict[str, Any], *, now: float,
               show_all: bool) -> list[str]:
    """``Files:`` with counts per account, then one line per file: its state per account."""
    rows: dict[str, dict[str, FileStatus]] = {}
    for view in views:
        for f in view.files:
            rows.setdefault(f.path, {})[view.account.name] = f
    due = {(e["account"], e["path"]): e.get("next_attempt_at") for e in data["files"]}
    counts = []
    for view in views:
        seen: dict[str, int] = {}
        for f in view.files:
            seen[f.state.value] = seen.get(f.state.value, 0) + 1
        summary = ", ".join(f"{seen[s.value]} {s.value}" for s in State if s.value in seen)
        counts.append(f"{view.account.name}: {summary or 'none'}")
    lines = ["", f"Files: {len(rows)} ({'; '.join(counts)})"]
    accounts = [v.account for v in views]
    listed = 0
    for path, by_account in rows.items():
        goes_to = [a.name for a in routes_for(accounts, path)]
        names = [v.account.name for v in views
                 if v.account.name in by_account or v.account.name in goes_to]
        done = all(n in by_account and by_account[n].state in FINAL_STATES for n in names)
        if done and not show_all and len(rows) > _SHOW_ALL_UP_TO:
            continue
        listed += 1
        parts = [shown(path)]
        services = {v.account.name: v.account.service for v in views}
        for name in names:
            row = by_account.get(name)
            parts.append(f"{name}: not seen yet" if row is None else f"{name}: " + for_person(
                row, due=due.get((name, row.shown_path)), now=now, service=services[name]))
        lines.append("   ".join(parts))
    if listed < len(rows):
        lines.append(f"({len(rows) - listed} finished files not listed; "
                     "`stravasync status --all` lists every file)")
    return lines


def account_sign_in_lines(views: list[AccountView]) -> list[str]:
    """``Accounts:``: each one's service and sign-in (or key), never a secret."""
    lines = ["Accounts:"]
    for view in views:
        name, auth = view.account.name, view.auth or {}
        head = f"  {name} ({_SERVICE.get(view.account.service, view.account.service)}): "
        if view.account.service == "intervals":
            key = {"env": "key from the environment", "file": "key from its file"}.get(
                str(auth.get("key_source")), "no key configured")
            athlete = auth.get("athlete_id")
            text = head + key + (f", athlete {athlete}" if athlete else
                                 f", athlete not checked yet (run `stravasync auth "
                                 f"--account {name}`)")
            if auth.get("key_refused"):
                text += "; REFUSED by intervals.icu (see Needs you)"
            lines.append(text)
        elif view.auth is None:
            lines.append(head + f"not signed in (run `stravasync auth --account {name}`)")
        else:
            who = auth.get("athlete_name") or f"athlete {auth.get('athlete_id')}"
            expires = auth.get("expires_at")
            until = ("-" if expires is None else
                     time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(float(expires))))
            text = (f"{who} (id {auth.get('athlete_id')}), scope {auth.get('scope')}, "
                    f"access token until {until}")
            if auth.get("problem"):
                text += f"; UNUSABLE (run `stravasync auth --account {name}`)"
            lines.append(head + text)
    return lines
