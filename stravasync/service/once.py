"""Owns ``run --once``: scan the watched folders, upload, wait, and the 0/75/1 exit policy.

Exits 0 when every file it saw is final, 75 (EX_TEMPFAIL) when work is left for later
(the rate limit, a backoff longer than a short wait, a file or folder it could not
read), and raises the fatal error (exit 1) when calls stopped, such as a dead sign-in.

It refuses to start while a daemon holds the state folder (exit 1, naming it): that
daemon already uploads what the folders hold, and the files it has claimed are its own
until it lets go, which a stopped or rate-limited daemon may not do for a long time.
"""

from __future__ import annotations

import os
import time

from stravasync.config.settings import Config
from stravasync.errors import AlreadyRunning
from stravasync.fsutil import shown
from stravasync.intake.watcher import Watcher
from stravasync.logs import get_logger
from stravasync.models import State
from stravasync.stack import open_engine, require_sign_in
from stravasync.state.runlock import lock_holder

__all__ = ["EXIT_DEFERRED", "describe_time", "refuse_beside_daemon", "run_once"]

log = get_logger("stravasync.run")

EXIT_DEFERRED = 75
"""``run --once``: work is left for later (EX_TEMPFAIL)."""


def describe_time(when: float | None) -> str | None:
    """A Unix time as text a person reads (UTC); None for None."""
    if when is None:
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(when))


def run_once(config: Config) -> int:
    """``run --once``: scan, process, wait; return the exit status.

    0 only when nothing it saw is left waiting: a file it could not read (``pending``
    with its reason) or a watched folder it could not list makes it 75, as work
    deferred by the rate limit or a backoff does. Files ``stravasync retry`` asked
    for are read again first. Raises AlreadyRunning while a daemon runs for this state.
    """
    refuse_beside_daemon(config)
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
    unusable = [h for h in watcher.health() if h.state == "unreadable"]
    status = {"done": 0, "deferred": EXIT_DEFERRED}.get(outcome.status, 1)
    if status == 0 and (pending or unusable):
        status = EXIT_DEFERRED
        log.warning("run_left_waiting", pending=[shown(p) for p in pending],
                    unreadable_folders=[shown(h.path) for h in unusable],
                    hint="fix the permissions; the daemon reads them as soon as it can")
    log.info("run_summary", outcome=outcome.status, exit_status=status, seen=report.seen,
             read=report.read, next_due=outcome.next_due,
             next_due_text=describe_time(outcome.next_due),
             seconds=round(time.monotonic() - started, 3), left_pending=len(pending),
             **outcome.counts)
    if outcome.fatal is not None:
        raise outcome.fatal
    return status


def refuse_beside_daemon(config: Config) -> None:
    """Raise AlreadyRunning, naming the daemon, when one holds ``config``'s state folder."""
    holder = lock_holder(config.state_dir)
    if holder is None:
        return
    who = f"pid {holder}" if holder else "another process"
    raise AlreadyRunning(
        f"stravasync is already running for {shown(config.state_dir)} ({who}) and uploads "
        "what the watched folders hold; `stravasync status` shows how far it got. "
        "`run --once` is for when no daemon runs: stop it first "
        "(`systemctl --user stop stravasync`) to run one"
    )
