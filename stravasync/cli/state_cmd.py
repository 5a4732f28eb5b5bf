"""``stravasync state reset``: move a damaged state database aside and start afresh.

Refuses while a daemon holds this state folder (the ``daemon.lock`` flock that
:class:`stravasync.service.daemon.DaemonLock` takes), and holds that lock itself while it
moves the files, so no daemon starts meanwhile. The files are kept, never deleted.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

import click

from stravasync.cli.context import CliContext, pass_context
from stravasync.errors import AlreadyRunning

__all__ = ["state_group"]

#: The daemon's lock file in the state folder (``stravasync.service.daemon.LOCK_NAME``).
_LOCK_NAME = "daemon.lock"


@contextlib.contextmanager
def _no_daemon(state_dir: Path) -> Iterator[None]:
    """Hold the daemon lock of ``state_dir``; AlreadyRunning when a daemon has it."""
    fd = os.open(state_dir / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
            raise AlreadyRunning(
                f"stravasync is running for {state_dir} (pid {holder}); stop it first "
                "(`systemctl --user stop stravasync`), then run `stravasync state reset` "
                "again"
            ) from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@click.group("state")
def state_group() -> None:
    """Look after the state database (what stravasync knows of every file)."""


@state_group.command("reset")
@click.option("--force", is_flag=True,
              help="Set the database aside even when it reads well.")
@pass_context
def reset_command(obj: CliContext, *, force: bool) -> None:
    """Move a damaged state database aside (kept, never deleted) and start afresh.

    Files already on Strava are not uploaded again: Strava answers that it has them
    as duplicates, and stravasync links them to their activities again.
    """
    from stravasync.state import DB_NAME
    from stravasync.state.reset import damage, set_aside

    state_dir = obj.config().state_dir
    if not (state_dir / DB_NAME).exists():
        click.echo(f"No state database in {state_dir}: nothing to reset.")
        return
    with _no_daemon(state_dir):
        if not force and damage(state_dir) is None:
            raise click.ClickException(
                f"The state database in {state_dir} reads well; nothing was moved. "
                "Pass --force to set it aside anyway.")
        moved = set_aside(state_dir, now=time.time())
    names = ", ".join(m.target.name for m in moved)
    click.echo(f"Moved the state database aside in {state_dir} (kept, not deleted): {names}.")
    click.echo("The next start begins with an empty state. Files already on Strava come "
               "back as Strava's duplicates and are linked again: nothing uploads twice.")
