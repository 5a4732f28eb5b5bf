"""``stravasync run``: the daemon in the foreground, or ``--once``: scan, upload, wait, exit.

Both are :mod:`stravasync.service`'s (``daemon`` and ``once``, with its exit policy);
this parses the option and hands back the exit status.
"""

from __future__ import annotations

import click

from stravasync.cli.context import CliContext, pass_context

__all__ = ["run_command"]


@click.command("run")
@click.option("--once", is_flag=True,
              help="Scan the watched folders, upload everything, wait for it, exit.")
@pass_context
def run_command(obj: CliContext, *, once: bool) -> None:
    """Run the daemon in the foreground (what the service runs).

    With --once: exit 0 when all is done, 75 when work is left for later (rate limit,
    backoff, a file it could not read), 1 on a fatal error (e.g. the sign-in must be
    renewed).
    """
    config = obj.config(human=False)
    ctx = click.get_current_context()
    # Imported here so `--help` stays fast.
    if not once:
        from stravasync.service.daemon import run_daemon

        ctx.exit(int(run_daemon(config) or 0))
    from stravasync.service.once import run_once

    ctx.exit(run_once(config))
