"""``stravasync retry``: put rejected or retrying files (or the named ones) back in the queue.

A running daemon takes the request up within seconds; without one, ``run --once``
does. Exit 1 when a named file was left as it is.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from stravasync.cli.context import CliContext, pass_context

if TYPE_CHECKING:
    from stravasync.state import Store

__all__ = ["retry_command"]


@click.command("retry")
@click.argument("paths", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--all", "everything", is_flag=True,
              help="Every rejected and retrying file.")
@pass_context
def retry_command(obj: CliContext, *, paths: tuple[Path, ...], everything: bool) -> None:
    """Read rejected/retrying files (or the named ones) again and queue them now.

    A named file in any state but uploaded or duplicate (invalid, skipped, pending
    too) is read again from disk and judged afresh. A running daemon is woken and
    takes the request up at once (within a minute if it cannot be signalled);
    `stravasync run --once` does too.
    """
    from stravasync.fsutil import legible
    from stravasync.state import Store
    from stravasync.state.runlock import lock_holder, nudge

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
    elif not nudge(config.state_dir) and lock_holder(config.state_dir) is None:
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
