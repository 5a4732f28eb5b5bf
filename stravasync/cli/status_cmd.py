"""``stravasync status`` (read-only, safe while the daemon runs) and ``stravasync retry``.

``status --json`` prints SPEC's object (:mod:`stravasync.owner.status` gathers it):
``daemon``, ``watch``, ``files`` (one entry per path, its latest content), ``auth``
and ``rate_limit`` (with ``paused_until``). The table starts with one line that says
whether it runs, what it watches and whether anything waits or needs the owner.

A configuration file with a mistake does not hide the running daemon (which keeps its
last good configuration): ``status`` reports from the state folder that daemon used
(:mod:`stravasync.state.pointer`), the problem on its first line and in
``config_error``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from stravasync.cli.context import CliContext, pass_context

__all__ = ["retry_command", "status_command"]

@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print SPEC's JSON object.")
@click.option("--all", "show_all", is_flag=True, help="List every file, finished ones too.")
@pass_context
def status_command(obj: CliContext, *, as_json: bool, show_all: bool) -> None:
    """Whether it runs, the watched folders, every file's state, sign-in and rate limit."""
    from stravasync.config.settings import resolve_config_path
    from stravasync.errors import ConfigError
    from stravasync.owner.status import gather_status, status_table
    from stravasync.state.pointer import stand_in_config

    try:
        status = gather_status(obj.config())
        broken = None
    except ConfigError as error:
        source = resolve_config_path(obj.config_path)
        broken = (f"the configuration {source} has a mistake, so a running daemon keeps "
                  f"its last good one: {error.message.splitlines()[0].rstrip(':')}; "
                  "`stravasync config` lists every problem")
        status = gather_status(stand_in_config(source), config_error=error.message)
    if as_json:
        click.echo(json.dumps(status.data, indent=2))
        return
    lines = status_table(status, show_all=show_all)
    for line in [broken, *lines] if broken else lines:
        click.echo(line)


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
    from stravasync.fsutil import shown
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
    finally:
        store.close()
    for path in done:
        click.echo(f"queued again: {shown(path)}")
    left = sorted(set(named or ()) - set(done))
    for path in left:
        click.echo(f"left as it is (uploaded, duplicate, being sent, or unknown): {shown(path)}")
    if not done:
        click.echo("nothing to retry")
    elif not nudge(config.state_dir) and lock_holder(config.state_dir) is None:
        click.echo("no daemon is running: `stravasync run --once` sends them now")
    click.get_current_context().exit(1 if left else 0)
