"""``stravasync status``: read-only, safe while the daemon runs.

``status --json`` prints SPEC's object (:mod:`stravasync.owner.status` gathers it):
``daemon``, ``watch``, ``files`` (one entry per path, its latest content), ``auth``
and ``rate_limit`` (with ``paused_until``). The table starts with one line that says
whether it runs, what it watches and whether anything waits or needs the owner.

With several accounts, ``accounts`` lists each one's sign-in, counts and problems, every
file names its ``account``, and the table gives one line per file with its state per
account; ``--account NAME`` shows that account alone.

A configuration file with a mistake does not hide the running daemon (which keeps its
last good configuration): ``status`` reports from the state folder that daemon used
(:mod:`stravasync.state.pointer`), the problem on its first line and in
``config_error``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from stravasync.cli.context import CliContext, pass_context

if TYPE_CHECKING:
    from stravasync.config.settings import Config

__all__ = ["status_command"]

@click.command("status")
@click.option("--json", "as_json", is_flag=True,
              help="Print it all as one JSON object, for scripts: the daemon, the watched "
                   "folders, every file, sign-in and rate limit.")
@click.option("--all", "show_all", is_flag=True, help="List every file, finished ones too.")
@click.option("--account", "account_name", metavar="NAME",
              help="Only this [[accounts]] entry: its files, sign-in and problems.")
@pass_context
def status_command(obj: CliContext, *, as_json: bool, show_all: bool,
                   account_name: str | None) -> None:
    """Whether it runs, the watched folders, every file's state, sign-in and rate limit."""
    from stravasync.config.settings import resolve_config_path
    from stravasync.errors import ConfigError
    from stravasync.owner.status import gather_status, status_table
    from stravasync.state.pointer import stand_in_config

    try:
        config = obj.config()
        _known(config, account_name)
        status = gather_status(config, account=account_name)
        broken = None
    except ConfigError as error:
        source = resolve_config_path(obj.config_path)
        broken = (f"the configuration {source} has a mistake, so a running daemon keeps "
                  f"its last good one: {error.message.splitlines()[0].rstrip(':')}; "
                  "`stravasync config` lists every problem")
        config = stand_in_config(source)
        # The stand-in knows no [[accounts]]: a name the broken file gives shows everything.
        known = account_name in [a.name for a in config.accounts]
        status = gather_status(config, config_error=error.message,
                               account=account_name if known else None)
    if as_json:
        click.echo(json.dumps(status.data, indent=2))
        return
    lines = status_table(status, show_all=show_all)
    for line in [broken, *lines] if broken else lines:
        click.echo(line)


def _known(config: Config, name: str | None) -> None:
    """A usage error (exit 2) naming the configured accounts when ``name`` is none of them."""
    names = [a.name for a in config.accounts]
    if name is not None and name not in names:
        raise click.UsageError(f"no account is named {name!r} (accounts: {', '.join(names)})")
