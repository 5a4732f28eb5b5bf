"""``stravasync status`` (read-only, safe while the daemon runs) and ``stravasync retry``.

``status --json`` prints SPEC's object (:mod:`stravasync.owner.status` gathers it):
``daemon``, ``watch``, ``files`` (one entry per path, its latest content), ``auth``
and ``rate_limit`` (with ``paused_until``). The table starts with one line that says
whether it runs, what it watches and whether anything waits or needs the owner.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from stravasync.cli.context import CliContext, pass_context

if TYPE_CHECKING:
    from stravasync.state import Store

__all__ = ["retry_command", "status_command"]

@click.command("status")
@click.option("--json", "as_json", is_flag=True,
              help="Print it all as one JSON object, for scripts: the daemon, the watched "
                   "folders, every file, sign-in and rate limit.")
@click.option("--all", "show_all", is_flag=True, help="List every file, finished ones too.")
@pass_context
def status_command(obj: CliContext, *, as_json: bool, show_all: bool) -> None:
    """Whether it runs, the watched folders, every file's state, sign-in and rate limit."""
    from stravasync.owner.status import gather_status, status_table

    config = obj.config()
    status = gather_status(config)
    if as_json:
        click.echo(json.dumps(status.data, indent=2))
        return
    for line in status_table(status, show_all=show_all):
        click.echo(line)


@click.command("retry")
@click.argument("paths", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--all", "everything", is_flag=True,
              help="Every rejected and retrying file.")
@pass_context
def retry_command(obj: CliContext, *, paths: tuple[Path, ...], everything: bool) -> None:
    """Read rejected/retrying files (or the named ones) again and queue them now.

    A named file in any state but uploaded or duplicate (invalid, skipped, pending
    too) is read again from disk and judged afresh. A running daemon takes the
    request up within seconds, no signal needed; `stravasync run --once` does too.
    """
    from stravasync.fsutil import legible
    from stravasync.state import Store
    from stravasync.state.runlock import lock_holder

    if not paths and not everything:
        raise click.UsageError("name the files to retry, or pass --all")
    config = obj.config()
    store = Store.open(config.state_dir)
    try:
        # Bytes-safe: a name that is not UTF-8 stays as the OS gave it (surrogateescape).
        named = None if everything and not paths else [os.path.realpath(p) for p in paths]
        done = store.request_retry(named)
        left = {path: _why_left(store, path) for path in set(named or ()) - set(done)}
    finally:
        store.close()
    for path in done:
        click.echo(f"queued again: {legible(path)}")
    for path, why in sorted(left.items()):
        click.echo(f"{why}: {legible(path)}")
    if not done:
        click.echo("nothing to retry")
    elif lock_holder(config.state_dir) is None:
        click.echo("no daemon is running: `stravasync run --once` sends them now")
    click.get_current_context().exit(1 if left else 0)


def _why_left(store: Store, path: str) -> str:
    """Why ``retry`` left a named path alone, and what to do instead."""
    from stravasync.models import State

    record = store.path_record(path)
    w = store.workout(record.sha256) if record is not None and record.sha256 else None
    if w is None:
        if not os.path.exists(path):
            return "not found, check the path"
        return ("never seen by stravasync (not in a watched folder?); "
                "`stravasync upload FILE` sends it now")
    if w.state in (State.UPLOADED, State.DUPLICATE):
        return (f"already on Strava ({w.state.value}), nothing to retry; "
                "`stravasync status` shows its activity")
    return f"being sent now ({w.state.value}), left as it is; `stravasync status` follows it"
