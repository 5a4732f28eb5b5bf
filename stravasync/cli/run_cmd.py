"""``stravasync run``: the daemon in the foreground, or ``--once``: scan, upload, wait, exit.

``--once`` exits 0 when every file it saw is final, 75 (EX_TEMPFAIL) when work is
left for later (the rate limit, a backoff longer than a short wait, a file or folder
it could not read), and 1 on a fatal error such as a dead sign-in.
The foreground daemon is ``stravasync.service.daemon``'s.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from stravasync.cli.context import CliContext, pass_context

if TYPE_CHECKING:
    from stravasync.config.settings import Config
    from stravasync.upload.engine import Outcome

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

    With --once: exit 0 when all is done, 75 when work is left for later (rate limit,
    backoff, a file it could not read), 1 on a fatal error (e.g. the sign-in must be
    renewed).
    """
    config = obj.config(human=False)
    ctx = click.get_current_context()
    if not once:
        # Imported here so `--help` stays fast.
        from stravasync.service.daemon import run_daemon

        ctx.exit(int(run_daemon(config) or 0))
    ctx.exit(run_once(config))


def run_once(config: Config) -> int:
    """``run --once``: scan, process, wait; return the exit status.

    0 only when nothing it saw is left waiting: a file it could not read (``pending``
    with its reason), a watched folder it could not list or an archive move that
    failed (tried again at the next run) makes it 75, as work
    deferred by the rate limit or a backoff does. Files ``stravasync retry`` asked
    for are read again first.
    """
    import os

    from stravasync.fsutil import shown
    from stravasync.intake.watcher import Watcher
    from stravasync.logs import get_logger
    from stravasync.models import State
    from stravasync.stack import open_engine, require_sign_in

    log = get_logger("stravasync.run")
    require_sign_in(config)
    started = time.monotonic()
    watcher = Watcher(paths=config.watch.paths, recursive=config.watch.recursive,
                      settle_seconds=config.watch.settle_seconds, on_ready=lambda _path: None,
                      ignore=config.watch.ignore)
    with open_engine(config) as engine:
        paths = watcher.scan()
        report = engine.scan(paths)
        for path in engine.store.take_retry_requests():
            log.info("retry_requested", path=shown(path))
            engine.submit(path, retry=True)
        engine.start()
        outcome = engine.wait_idle()
        engine.stop(timeout=30.0)
        seen = {os.path.realpath(p) for p in paths}
        pending = [f.path for f in engine.store.files()
                   if f.state is State.PENDING and f.path in seen]
        owed = [w.path for w in engine.store.owed_moves()]
    unusable = [h for h in watcher.health() if h.state == "unreadable"]
    status = {"done": 0, "deferred": EXIT_DEFERRED}.get(outcome.status, 1)
    if status == 0 and (pending or unusable or owed):
        status = EXIT_DEFERRED
        log.warning("run_left_waiting", pending=[shown(p) for p in pending],
                    unreadable_folders=[shown(h.path) for h in unusable],
                    archive_moves_owed=[shown(p) for p in owed],
                    hint="fix the permissions; the daemon reads them as soon as it can")
    log.info("run_summary", outcome=outcome.status, exit_status=status, seen=report.seen,
             read=report.read, next_due=outcome.next_due, next_due_text=describe_next(outcome),
             seconds=round(time.monotonic() - started, 3), left_pending=len(pending),
             **outcome.counts)
    if outcome.fatal is not None:
        raise outcome.fatal
    return status
