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
@click.option("--account", "account_name", metavar="NAME",
              help="Only for this account (default: every account the file goes to).")
@pass_context
def retry_command(obj: CliContext, *, paths: tuple[Path, ...], everything: bool,
                  account_name: str | None) -> None:
    """Read rejected/retrying files (or the named ones) again and queue them now.

    A named file in any state but uploaded or duplicate (invalid, skipped, pending
    too) is read again from disk and judged afresh. A running daemon is woken and
    takes the request up at once (within a minute if it cannot be signalled);
    `stravasync run --once` does too.
    """
    from stravasync.fsutil import legible
    from stravasync.state import DB_NAME, Store
    from stravasync.state.accounts import account_folders
    from stravasync.state.runlock import lock_holder, nudge

    if not paths and not everything:
        raise click.UsageError("name the files to retry, or pass --all")
    config = obj.config()
    folders = account_folders(config.state_dir, config.accounts)
    if account_name is not None and account_name not in folders:
        raise click.UsageError(f"no account named {account_name!r}: the configuration has "
                               f"{', '.join(folders)}")
    several = len(folders) > 1
    # Bytes-safe: a name that is not UTF-8 stays as the OS gave it (surrogateescape).
    named = None if everything and not paths else [os.path.realpath(p) for p in paths]
    done: list[str] = []
    asked: set[str] = set()
    reasons: dict[str, str] = {}
    for name, folder in folders.items():
        if (account_name is not None and name != account_name) or \
                not (folder / DB_NAME).exists():
            continue
        store = Store.open(folder)
        try:
            for path in store.request_retry(named):
                asked.add(path)
                done.append(f"{path} ({name})" if several else path)
            for path in set(named or ()) - asked:
                if store.path_record(path) is not None:  # the account that knows it says why
                    reasons[path] = _why_left(store, path)
        finally:
            store.close()
    left = {path: reasons.get(path) or _never_seen(path) for path in set(named or ()) - asked}
    for path in done:
        click.echo(f"queued again: {legible(path)}")
    for path, why in sorted(left.items()):
        click.echo(f"{why}: {legible(path)}")
    if not done:
        click.echo("nothing to retry")
    elif not nudge(config.state_dir) and lock_holder(config.state_dir) is None:
        click.echo("no daemon is running: `stravasync run --once` sends them now")
    click.get_current_context().exit(1 if left else 0)


def _never_seen(path: str) -> str:
    """Why ``retry`` left a path no account's store knows."""
    if not os.path.exists(path):
        return "not found, check the path"
    return ("never seen by stravasync (not in a watched folder?); "
            "`stravasync upload FILE` sends it now")


def _why_left(store: Store, path: str) -> str:
    """Why ``retry`` left a named path alone, and what to do instead."""
    from stravasync.models import State

    record = store.path_record(path)
    w = store.workout(record.sha256) if record is not None and record.sha256 else None
    if w is None:
        return _never_seen(path)
    if w.state in (State.UPLOADED, State.DUPLICATE):
        return (f"already on Strava ({w.state.value}), nothing to retry; "
                "`stravasync status` shows its activity")
    return f"being sent now ({w.state.value}), left as it is; `stravasync status` follows it"
