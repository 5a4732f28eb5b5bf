"""``stravasync status``: read-only, safe while the daemon runs.

``status --json`` prints SPEC's object (:mod:`stravasync.owner.status` gathers it):
``daemon``, ``watch``, ``files`` (one entry per path, its latest content), ``auth``
and ``rate_limit`` (with ``paused_until``). The table starts with one line that says
whether it runs, what it watches and whether anything waits or needs the owner.
"""

from __future__ import annotations

import json

import click

from stravasync.cli.context import CliContext, pass_context

__all__ = ["status_command"]

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
