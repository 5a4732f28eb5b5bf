"""``stravasync run``: the daemon in the foreground, or ``--once``: scan, upload, wait, exit.

``--once`` exits 0 when every file is final, 75 (EX_TEMPFAIL) when work is left
deferred by the rate limit or a backoff longer than a short wait, and 1 on a fatal
error such as a dead sign-in. The foreground daemon is ``stravasync.daemon``'s.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from stravasync.cli.context import CliContext, pass_context

if TYPE_CHECKING:
    from stravasync.config import Config
    from stravasync.engine import Outcome

__all__ = ["EXIT_DEFERRED", "describe_next", "run_command"]

EXIT_DEFERRED = 75
"""``run --once``: work is left for later (EX_TEMPFAIL)."""


def describe_next(outcome: Outcome) -> str | None:
    """When deferred work is due, as text (UTC)."""
    if outcome.next_due is None:
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(outcome.next_due))


@click.command("run")
@click.option("--once", is_flag=True,
              help="Scan the watched folders, upload everything, wait for it, exit.")
@pass_context
def run_command(obj: CliContext, *, once: bool) -> None:
    """Run the daemon in the foreground (what the service runs).

    With --once: exit 0 when all is done, 75 when work is deferred (rate limit,
    backoff), 1 on a fatal error (e.g. the sign-in must be renewed).
    """
    config = obj.config(human=False)
    ctx = click.get_current_context()
    if not once:
        # Imported here so `--help` stays fast.
        from stravasync.daemon import run_daemon

        ctx.exit(int(run_daemon(config) or 0))
    ctx.exit(run_once(config))


def run_once(config: Config) -> int:
    """``run --once``: scan, process, wait; return the exit status."""
    from stravasync.logs import get_logger
    from stravasync.stack import open_engine, require_sign_in
    from stravasync.watcher import Watcher

    log = get_logger("stravasync.run")
    require_sign_in(config)
    started = time.monotonic()
    watcher = Watcher(paths=config.watch.paths, recursive=config.watch.recursive,
                      settle_seconds=config.watch.settle_seconds, on_ready=lambda _path: None)
    with open_engine(config) as engine:
        report = engine.scan(watcher.scan())
        engine.start()
        outcome = engine.wait_idle()
        engine.stop(timeout=30.0)
    status = {"done": 0, "deferred": EXIT_DEFERRED}.get(outcome.status, 1)
    log.info("run_summary", outcome=outcome.status, exit_status=status, seen=report.seen,
             read=report.read, next_due=outcome.next_due, next_due_text=describe_next(outcome),
             seconds=round(time.monotonic() - started, 3), **outcome.counts)
    if outcome.fatal is not None:
        raise outcome.fatal
    return status
