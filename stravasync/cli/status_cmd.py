"""``stravasync status`` (read-only, safe while the daemon runs) and ``stravasync retry``.

``status --json`` prints SPEC's object: ``files`` (one entry per known path),
``auth`` (the token store's status, null when signed out) and ``rate_limit`` (the
governor's snapshot, with ``paused_until``). The table shows counts per state, the
files still in progress, recent problems, the sign-in, rate-limit usage and any pause.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from stravasync.cli import CliContext, pass_context

if TYPE_CHECKING:
    from stravasync.config import Config
    from stravasync.state import FileStatus

__all__ = ["gather_status", "retry_command", "status_command", "status_table"]

_RECENT_PROBLEMS = 10
_SHOW_ALL_UP_TO = 30


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def gather_status(config: Config) -> tuple[list[FileStatus], dict[str, Any]]:
    """Read the state store, token store and governor state without writing anything."""
    from stravasync.errors import AuthError, StateError
    from stravasync.ratelimit import Governor
    from stravasync.state import DB_NAME, Store
    from stravasync.tokens import TokenStore

    files: list[FileStatus] = []
    if (config.state_dir / DB_NAME).exists():
        store = Store.open(config.state_dir, read_only=True)
        try:
            files = store.files()
        finally:
            store.close()
    auth: dict[str, Any] | None
    try:
        token_status = TokenStore(state_dir=config.state_dir).status()
        auth = token_status.as_json() if token_status is not None else None
    except (StateError, AuthError) as exc:  # a damaged or unreadable token file
        auth = {"athlete_id": None, "scope": None, "expires_at": None, "problem": exc.message}
    governor = Governor(state_file=config.state_dir / "ratelimit.json")
    data = {"files": [f.as_json() for f in files], "auth": auth,
            "rate_limit": governor.snapshot()}
    return files, data


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print SPEC's JSON object.")
@pass_context
def status_command(obj: CliContext, *, as_json: bool) -> None:
    """Show every file's state, the sign-in, rate-limit usage and any pause."""
    config = obj.config()
    files, data = gather_status(config)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for line in status_table(files, data):
        click.echo(line)


def status_table(files: list[FileStatus], data: dict[str, Any]) -> list[str]:
    from stravasync.state import FINAL_STATES, State

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
    from stravasync.tokens import problem_text

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


@click.command("retry")
@click.argument("paths", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--all", "everything", is_flag=True,
              help="Every rejected and retrying file.")
@pass_context
def retry_command(obj: CliContext, *, paths: tuple[Path, ...], everything: bool) -> None:
    """Put rejected/retrying files (or the named ones) back in the queue now.

    A named file that was invalid or skipped is forgotten, so the next scan reads it
    again. The daemon picks the files up within seconds; `stravasync run --once`
    sends them too.
    """
    from stravasync.state import Store

    if not paths and not everything:
        raise click.UsageError("name the files to retry, or pass --all")
    config = obj.config()
    store = Store.open(config.state_dir)
    try:
        named = None if everything and not paths else [os.path.realpath(p) for p in paths]
        done = store.retry(named)
    finally:
        store.close()
    for path in done:
        click.echo(f"queued again: {path}")
    left = sorted(set(named or ()) - set(done))
    for path in left:
        click.echo(f"left as it is (not rejected or retrying, or unknown): {path}")
    if not done:
        click.echo("nothing to retry")
    click.get_current_context().exit(1 if left else 0)
