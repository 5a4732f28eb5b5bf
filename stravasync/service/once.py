"""Owns ``run --once``: scan the watched folders, upload, wait, and the 0/75/1 exit policy.

Exits 0 when every file it saw is final, 75 (EX_TEMPFAIL) when work is left for later
(the rate limit, a backoff longer than a short wait, a file or folder it could not
read), and raises the fatal error (exit 1) when calls stopped, such as a dead sign-in.

Beside another live process that holds some of the files (a running daemon, an
``upload``), it never waits on those: they are that process's to finish, which a
stopped or rate-limited daemon may not do for a long time. It does what is free, then
leaves them to their holder and exits 75, naming the holder and the files.
"""

from __future__ import annotations

import os
import time

from stravasync.config.settings import Config
from stravasync.fsutil import shown
from stravasync.household import open_accounts
from stravasync.intake.watcher import Watcher
from stravasync.logs import get_logger
from stravasync.models import State
from stravasync.stack import require_sign_in
from stravasync.state.owners import owner_pid
from stravasync.state.runlock import lock_holder

__all__ = ["EXIT_DEFERRED", "describe_time", "run_once"]

log = get_logger("stravasync.run")

EXIT_DEFERRED = 75
"""``run --once``: work is left for later (EX_TEMPFAIL)."""

_DAEMON_HOLDS = ("the daemon is sending these and finishes them; "
                 "`stravasync status` shows how far it got")
_OTHER_HOLDS = ("another stravasync process is sending these and finishes them; "
                "`stravasync status` shows how far it got")


def describe_time(when: float | None) -> str | None:
    """A Unix time as text a person reads (UTC); None for None."""
    if when is None:
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(when))


def run_once(config: Config) -> int:
    """``run --once``: scan, process, wait; return the exit status.

    0 only when nothing it saw is left waiting: a file it could not read (``pending``
    with its reason), a watched folder it could not list or an archive move that
    failed (tried again at the next run) makes it 75, as work deferred by the rate
    limit or a backoff does. Files ``stravasync retry`` asked
    for are read again first. Files another live process holds are left to it (75).
    """
    require_sign_in(config)
    started = time.monotonic()
    watcher = Watcher(paths=config.watch.paths, recursive=config.watch.recursive,
                      settle_seconds=config.watch.settle_seconds, on_ready=lambda _path: None,
                      ignore=config.watch.ignore)
    with open_accounts(config) as house:
        router = house.router
        paths = watcher.scan()
        report = router.scan(paths)
        for lane in router.lanes:
            for path in lane.store.take_retry_requests():
                log.info("retry_requested", path=shown(path), account=lane.name)
                router.submit(path, retry=True)
        router.start()
        outcome = router.wait_idle(leave_held=True)
        router.stop(timeout=30.0)
        seen = {os.path.realpath(p) for p in paths}
        pending = sorted({f.path for lane in router.lanes for f in lane.store.files()
                          if f.state is State.PENDING and f.path in seen})
        owed = [w.path for lane in router.lanes for w in lane.store.owed_moves()]
    unusable = [h for h in watcher.health() if h.state == "unreadable"]
    status = {"done": 0, "deferred": EXIT_DEFERRED}.get(outcome.status, 1)
    if outcome.held:
        say_left_to_holders(config, outcome.held)
    if status == 0 and (pending or unusable or owed):
        status = EXIT_DEFERRED
        log.warning("run_left_waiting", pending=[shown(p) for p in pending],
                    unreadable_folders=[shown(h.path) for h in unusable],
                    archive_moves_owed=[shown(p) for p in owed],
                    hint="fix the permissions; the daemon reads them as soon as it can")
    log.info("run_summary", outcome=outcome.status, exit_status=status, seen=report.seen,
             read=report.read, next_due=outcome.next_due,
             next_due_text=describe_time(outcome.next_due),
             seconds=round(time.monotonic() - started, 3), left_pending=len(pending),
             **outcome.counts)
    if outcome.fatal is not None:
        raise outcome.fatal
    return status


def say_left_to_holders(config: Config, held: dict[str, str]) -> None:
    """Log which files were left to which other live process, the daemon named as such."""
    pids = sorted({pid for pid in map(owner_pid, held.values()) if pid is not None})
    daemon = lock_holder(config.state_dir)
    ours = daemon in pids
    log.warning("run_left_to_holder", pids=pids, daemon_pid=daemon if ours else None,
                files=sorted(shown(path) for path in held),
                hint=_DAEMON_HOLDS if ours else _OTHER_HOLDS)
