"""What ``stravasync status`` and the demo show: gathered without writing anything.

Owns reading the state store, the token store and the governor's state into SPEC's
``status --json`` object (:func:`gather_status`), and the table a person reads
(:func:`status_table`). Safe while the daemon runs: the store is opened read-only.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from stravasync.errors import AuthError, StateError
from stravasync.models import State
from stravasync.stack import open_governor, open_tokens
from stravasync.state import DB_NAME, FINAL_STATES, Store
from stravasync.tokens import problem_text

if TYPE_CHECKING:
    from stravasync.config import Config
    from stravasync.state import FileStatus

__all__ = ["gather_status", "status_table"]

_RECENT_PROBLEMS = 10
_SHOW_ALL_UP_TO = 30


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def gather_status(config: Config) -> tuple[list[FileStatus], dict[str, Any]]:
    """Read the state store, token store and governor state without writing anything."""

    files: list[FileStatus] = []
    if (config.state_dir / DB_NAME).exists():
        store = Store.open(config.state_dir, read_only=True)
        try:
            files = store.files()
        finally:
            store.close()
    auth: dict[str, Any] | None
    try:
        token_status = open_tokens(config).status()
        auth = token_status.as_json() if token_status is not None else None
    except (StateError, AuthError) as exc:  # a damaged or unreadable token file
        auth = {"athlete_id": None, "scope": None, "expires_at": None, "problem": exc.message}
    governor = open_governor(config)
    data = {"files": [f.as_json() for f in files], "auth": auth,
            "rate_limit": governor.snapshot()}
    return files, data


def status_table(files: list[FileStatus], data: dict[str, Any]) -> list[str]:
    """The lines of ``stravasync status`` for a person."""
    lines: list[str] = []
    counts = {s: sum(1 for f in files if f.state is s) for s in State}
    summary = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
    lines.append(f"Files: {len(files)}" + (f" ({summary})" if summary else ""))
    shown = files if len(files) <= _SHOW_ALL_UP_TO else [
        f for f in files if f.state not in FINAL_STATES]
    if shown:
        lines.append("")
        lines.append(f"{'STATE':<10} {'ACTIVITY':<12} {'NEXT ATTEMPT':<21} PATH")
        for f in shown:
            activity = str(f.activity_id) if f.activity_id is not None else "-"
            next_at = _when(f.next_attempt_at) if f.next_attempt_at else "-"
            lines.append(f"{f.state.value:<10} {activity:<12} {next_at:<21} {f.path}")
        if len(shown) < len(files):
            lines.append(f"({len(files) - len(shown)} finished files not listed; "
                         "`stravasync status --json` lists every file)")
    problems = sorted(
        (f for f in files if f.error and f.state in (State.REJECTED, State.RETRYING,
                                                      State.INVALID, State.PENDING)),
        key=lambda f: f.updated_at or 0.0, reverse=True)[:_RECENT_PROBLEMS]
    if problems:
        lines.append("")
        lines.append("Recent problems:")
        lines.extend(f"  {f.state.value}: {f.path}: {f.error}" for f in problems)
    skipped = [f for f in files if f.state is State.SKIPPED]
    if skipped:
        lines.append("")
        lines.append("Skipped (not sent; `stravasync upload FILE` sends a workout anyway):")
        lines.extend(f"  {f.path}: {f.error or 'no reason recorded'}"
                     for f in skipped[:_RECENT_PROBLEMS])
        if len(skipped) > _RECENT_PROBLEMS:
            lines.append(f"  ... and {len(skipped) - _RECENT_PROBLEMS} more")
    lines.append("")
    lines.append(_auth_line(data["auth"]))
    lines.extend(_rate_lines(data["rate_limit"]))
    return lines


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
        lines.append(f"Paused until {_when(rate['paused_until'])}"
                     + (f" ({reason})" if reason else ""))
    return lines
