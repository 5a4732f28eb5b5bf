"""Owns how a file reaches the daemon's engine: the watcher, the inbox and the ingest thread.

The watcher hands over each file that looks complete (:class:`FileReady`); a rescan
(:class:`Rescan`) reconciles the watched folders with the state store. One ingest
thread reads the inbox and hands each item to the engine, one at a time. Nothing that
reached the daemon is dropped because a step failed: it waits in the :class:`Backlog`
and a timer puts it back when its backoff (up to 30 s) is over. A copy that looked cut
short waits in :class:`Rechecks` until its quiet minute is over.

:class:`~stravasync.service.daemon.Daemon` starts a :class:`Pickup` with each run's
engine and owner's notices, stops it before the engine, and calls :meth:`Pickup.due`
on each follow-up.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stravasync.errors import StateError, StravaSyncError
from stravasync.logs import get_logger
from stravasync.models import State

if TYPE_CHECKING:
    from stravasync.config.settings import WatchConfig
    from stravasync.intake.watcher import Watcher
    from stravasync.owner.attention import Attention
    from stravasync.upload.router import Router

__all__ = ["Backlog", "FileReady", "InboxItem", "Pickup", "Rechecks", "Rescan", "StopIngest"]

log = get_logger("stravasync.daemon")

_OWNER_HEARS = frozenset({State.INVALID, State.DUPLICATE})
"""What a file read may end in that the follow-up tells or settles (never sent, so no
upload's end announces it)."""


@dataclass(frozen=True)
class FileReady:
    """Inbox message: a file looks complete (or a person asked to read it again)."""

    path: Path
    retry: bool = False
    """``stravasync retry`` asked: read it again and judge it afresh."""


@dataclass(frozen=True)
class Rescan:
    """Inbox message: reconcile the watched folders with the state store."""


@dataclass(frozen=True)
class StopIngest:
    """Inbox message: the ingest thread ends."""


InboxItem = FileReady | Rescan | StopIngest


class Backlog:
    """What failed to be read and recorded, and when to try again (backoff to 30 s).

    Nothing that reached the daemon is dropped because a step failed: a state folder
    that is full or read-only, a bug on one odd file. Thread-safe.
    """

    CAP_S = 30.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[FileReady | Rescan, tuple[int, float]] = {}

    def failed(self, item: FileReady | Rescan, *, now: float) -> float:
        """Keep ``item`` for later; the seconds until it is tried again."""
        with self._lock:
            failures = self._items.get(item, (0, 0.0))[0] + 1
            delay = min(self.CAP_S, 2.0 ** failures)
            self._items[item] = (failures, now + delay)
        return delay

    def done(self, item: FileReady | Rescan) -> None:
        """``item`` went through: forget it."""
        with self._lock:
            self._items.pop(item, None)

    def due(self, *, now: float) -> list[FileReady | Rescan]:
        """The items whose time has come (they stay kept until :meth:`done`)."""
        with self._lock:
            ready = [item for item, (_n, at) in self._items.items() if at <= now]
            for item in ready:
                failures, _at = self._items[item]
                self._items[item] = (failures, now + min(self.CAP_S, 2.0 ** failures))
            return ready

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def clear(self) -> None:
        """Forget everything (a reload scans the folders again anyway)."""
        with self._lock:
            self._items.clear()


class Rechecks:
    """Files to read again at a time (wall clock): a copy that looked cut short. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._at: dict[Path, float] = {}

    def add(self, path: Path, at: float) -> None:
        """Read ``path`` again at ``at`` (Unix seconds)."""
        with self._lock:
            self._at[path] = at

    def due(self, *, now: float) -> list[Path]:
        """The paths whose time has come (forgotten once returned)."""
        with self._lock:
            ready = [p for p, at in self._at.items() if at <= now]
            for path in ready:
                del self._at[path]
        return ready


class Pickup:
    """Watcher → inbox → ingest thread → engine, for one daemon across its reloads.

    The backlog is cleared on each stop (a reload scans the folders again); the
    rechecks and whether the state folder is known to be unwritable outlive a reload.
    """

    def __init__(self, *, news: Callable[[], None]) -> None:
        self.inbox: queue.Queue[InboxItem] = queue.Queue()
        """What the ingest thread reads (a fresh queue after each stop)."""
        self._news = news
        self._backlog = Backlog()
        self._rechecks = Rechecks()
        self._state_problem: str | None = None
        self._engine: Router | None = None
        self._attention: Attention | None = None
        self._watcher: Watcher | None = None
        self._thread: threading.Thread | None = None

    def start(self, *, watch: WatchConfig, engine: Router, attention: Attention,
              polling: Collection[Path] = ()) -> None:
        """Start the ingest thread, then the watcher; queue a scan for what came meanwhile."""
        from stravasync.intake.watcher import Watcher

        self._engine = engine
        self._attention = attention
        self._thread = threading.Thread(target=self._ingest_loop, name="stravasync-ingest",
                                        daemon=True)
        self._thread.start()
        watcher = Watcher(
            paths=watch.paths,
            recursive=watch.recursive,
            settle_seconds=watch.settle_seconds,
            on_ready=self._file_ready,
            on_health=attention.folder,
            ignore=watch.ignore,
            poll_interval=watch.poll_interval,
            polling=polling,
        )
        watcher.start()
        self._watcher = watcher
        self.queue_scan()  # files that arrived while we were down

    def stop(self, *, timeout: float) -> None:
        """Stop the watcher, then the ingest thread (waiting up to ``timeout`` seconds)."""
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        if self._thread is not None:
            self.inbox.put(StopIngest())
            self._thread.join(timeout)
            self._thread = None
        self._engine = None
        self._attention = None
        self.inbox = queue.Queue()
        self._backlog.clear()

    def alive(self) -> bool:
        """Whether the ingest thread runs (systemd's watchdog asks)."""
        return self._thread is not None and self._thread.is_alive()

    def queue_scan(self) -> None:
        """Reconcile the watched folders with the store (at start, and hourly)."""
        self.inbox.put(Rescan())

    def retry(self, path: Path) -> None:
        """``stravasync retry`` asked for ``path``: read it again and judge it afresh."""
        self.inbox.put(FileReady(path, retry=True))

    def due(self) -> None:
        """Put back what failed and whose backoff is over, then the copies to read again."""
        self._backlog_due()
        self._rechecks_due()

    # -- the ingest thread ---------------------------------------------------------------

    def _ingest_loop(self) -> None:
        """Reads and validates what the watcher hands over, one file at a time.

        Whatever fails (a state folder that is full or read-only, a bug) is kept in
        the backlog and tried again with backoff, never dropped.
        """
        inbox = self.inbox
        while True:
            item = inbox.get()
            engine = self._engine
            if isinstance(item, StopIngest) or engine is None:
                return
            news = True  # a scan may have judged files invalid: the owner hears at once
            try:
                if isinstance(item, FileReady):
                    watcher = self._watcher
                    closed = watcher is not None and watcher.closes.still_closed(str(item.path))
                    judged = engine.submit(item.path, retry=item.retry, writer_done=closed)
                    if judged.recheck_at is not None:
                        self._recheck_later(item.path, judged.recheck_at)
                    news = not judged.known and judged.state in _OWNER_HEARS
                else:
                    watcher = self._watcher
                    if watcher is not None:
                        report = engine.scan(watcher.scan())
                        for path, at in report.recheck.items():
                            self._recheck_later(Path(path), at)
            except Exception as error:  # noqa: BLE001 - kept and retried, never lost
                self._ingest_failed(item, error)
            else:
                self._ingest_done(item)
                if news:
                    self._news()

    def _ingest_failed(self, item: FileReady | Rescan, error: Exception) -> None:
        what = str(item.path) if isinstance(item, FileReady) else "(rescan)"
        words = (error.message if isinstance(error, StravaSyncError)
                 else f"{type(error).__name__}: {error}")
        delay = self._backlog.failed(item, now=time.monotonic())
        timer = threading.Timer(delay, self._backlog_due)
        timer.daemon = True
        timer.start()
        if isinstance(error, StateError | OSError):
            first = self._state_problem is None
            self._state_problem = words
            if first:
                log.warning("state_unwritable", error=words, path=what, retry_in=delay)
                if self._attention is not None:
                    self._attention.state_unwritable(words)
            else:
                log.debug("ingest_deferred", path=what, error=words, retry_in=delay)
        else:  # a bug: say so loudly, with the traceback, and still keep the file
            log.exception("ingest_crashed", path=what, retry_in=delay)

    def _ingest_done(self, item: FileReady | Rescan) -> None:
        self._backlog.done(item)
        if self._state_problem is not None and isinstance(item, FileReady | Rescan):
            self._state_problem = None
            log.info("state_writable_again")
            if self._attention is not None:
                self._attention.state_unwritable(None)

    # -- timers (any thread) -------------------------------------------------------------

    def _backlog_due(self) -> None:
        """A backoff is over: put what is due back in the inbox (a timer thread)."""
        if self._engine is None:
            return
        for item in self._backlog.due(now=time.monotonic()):
            self.inbox.put(item)

    def _recheck_later(self, path: Path, at: float) -> None:
        """A copy that looked cut short: read it again once it has been quiet (a timer)."""
        self._rechecks.add(path, at)
        timer = threading.Timer(max(0.0, at - time.time()), self._rechecks_due)
        timer.daemon = True
        timer.start()

    def _rechecks_due(self) -> None:
        """Put the copies whose quiet minute is over back in the inbox (any thread)."""
        if self._engine is None:
            return
        for again in self._rechecks.due(now=time.time()):
            self.inbox.put(FileReady(again))

    def _file_ready(self, path: Path) -> None:
        self.inbox.put(FileReady(path))
