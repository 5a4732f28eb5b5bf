"""The daemon: watcher → ingest thread → engine, as a long-running service.

Owns what ``stravasync run`` is as a long-running service (the object graph itself is
built by :mod:`stravasync.stack`): the single-instance lock
on the state folder, the threads (watchdog's observer, one ingest thread that reads
and validates what the watcher hands over, the engine's dispatcher and workers), the
APScheduler jobs, signals and the systemd notifications.

Scheduler jobs (a ``BackgroundScheduler``; each coalesced, one instance at a time):

- ``refresh_tokens`` (every 5 min): refresh the access token ahead of its expiry;
- ``resume`` (every minute): wake the engine for work a rate-limit pause or a backoff
  deferred, and resume after ``stravasync auth`` fixed a dead sign-in;
- ``rescan`` (hourly): a safety net for events the file system did not deliver;
- ``housekeeping`` (daily): prune rows of files that are gone and were never sent;
- ``watchdog`` / ``status`` (only under systemd): ``WATCHDOG=1`` while the threads
  are alive, and a one-line ``STATUS=``.

SIGTERM/SIGINT stop taking work, let in-flight requests finish (or stay recorded for
the next start) and return within about 5 s. SIGHUP re-reads the configuration and
restarts the watcher and engine with it; an invalid file is logged and ignored.
"""

from __future__ import annotations

import fcntl
import os
import queue
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import httpx

from stravasync.config import Config, load_config
from stravasync.errors import AlreadyRunning, StateError, StravaSyncError
from stravasync.fsutil import ensure_private_dir
from stravasync.logs import configure_logging, get_logger
from stravasync.notify import SystemdNotifier, watchdog_interval
from stravasync.stack import Stack, open_stack

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler

    from stravasync.watcher import Watcher

__all__ = ["Daemon", "DaemonLock", "run_daemon"]

log = get_logger("stravasync.daemon")

LOCK_NAME = "daemon.lock"
STOP_SECONDS = 4.0
"""How long in-flight calls may take to finish on shutdown (systemd allows 10 s)."""


class DaemonLock:
    """An exclusive ``flock`` on ``state_dir/daemon.lock``: one daemon per state folder."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise AlreadyRunning naming the holder's pid."""
        ensure_private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise AlreadyRunning(
                f"stravasync is already running for {self.path.parent} (pid {holder}); "
                "stop it first, or give this one another [state] dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        """Let go of the lock (closing the descriptor releases it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass(frozen=True)
class FileReady:
    """Inbox message: the watcher found a file that looks complete."""

    path: Path


@dataclass(frozen=True)
class Rescan:
    """Inbox message: reconcile the watched folders with the state store."""


@dataclass(frozen=True)
class StopIngest:
    """Inbox message: the ingest thread ends."""


InboxItem = FileReady | Rescan | StopIngest


class Daemon:
    """``stravasync run``: watch, validate, upload, until told to stop."""

    def __init__(
        self,
        config: Config,
        *,
        transport: httpx.BaseTransport | None = None,
        notifier: SystemdNotifier | None = None,
        install_signals: bool = True,
    ) -> None:
        self.config = config
        self._transport = transport
        self._notifier = notifier or SystemdNotifier()
        self._install_signals = install_signals
        # Commands for the main loop: ("stop" | "reload", signal name or None). A
        # SimpleQueue because its put() is reentrant: signal handlers only put here, so a
        # signal landing while the main thread holds a lock (a log line being written)
        # cannot deadlock it.
        self._control: queue.SimpleQueue[tuple[str, str | None]] = queue.SimpleQueue()
        self._ready = threading.Event()
        self._inbox: queue.Queue[InboxItem] = queue.Queue()
        self._stack: Stack | None = None
        self._watcher: Watcher | None = None
        self._scheduler: BackgroundScheduler | None = None
        self._ingest: threading.Thread | None = None
        self._tokens_seen: float | None = None

    # -- control (any thread) ------------------------------------------------------------

    @property
    def stack(self) -> Stack | None:
        """The running store/client/engine, for tests and the demo."""
        return self._stack

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the daemon watches its folders (True) or ``timeout`` passed."""
        return self._ready.wait(timeout)

    def request_stop(self) -> None:
        """Ask :meth:`run` to shut down."""
        self._control.put(("stop", None))

    def request_reload(self) -> None:
        """Ask :meth:`run` to re-read the configuration file."""
        self._control.put(("reload", None))

    # -- the main loop ---------------------------------------------------------------------

    def run(self) -> int:
        """Run until SIGTERM/SIGINT (or :meth:`request_stop`); return the exit status."""
        lock = DaemonLock(self.config.state_dir)
        lock.acquire()
        previous = self._signals()
        try:
            self._start()
            self._notifier.ready(self._summary())
            log.info(
                "daemon_started",
                paths=[str(p) for p in self.config.watch.paths],
                state_dir=str(self.config.state_dir),
                pid=os.getpid(),
            )
            self._ready.set()
            while self._next_command() == "reload":
                self._do_reload()
        finally:
            self._notifier.stopping()
            log.info("daemon_stopping")
            self._shutdown()
            self._restore(previous)
            lock.release()
            log.info("daemon_stopped")
        return 0

    def _next_command(self) -> str:
        """Wait for the next command(s); ``stop`` wins over ``reload`` if both came."""
        commands = [self._control.get()]
        while True:
            try:
                commands.append(self._control.get_nowait())
            except queue.Empty:
                break
        for _command, signame in commands:
            if signame is not None:
                log.info("signal_received", signal=signame)  # logged here, never in a handler
        return "stop" if any(command == "stop" for command, _ in commands) else "reload"

    # -- start and stop --------------------------------------------------------------------

    def _start(self) -> None:
        from stravasync.watcher import Watcher

        config = self.config
        if not config.watch.paths:
            log.warning("no_watch_paths", hint="set [watch] paths in the configuration")
        stack = open_stack(config, transport=self._transport)
        self._stack = stack
        stack.engine.start()
        self._ingest = threading.Thread(target=self._ingest_loop, name="stravasync-ingest",
                                        daemon=True)
        self._ingest.start()
        watcher = Watcher(
            paths=config.watch.paths,
            recursive=config.watch.recursive,
            settle_seconds=config.watch.settle_seconds,
            on_ready=self._file_ready,
        )
        watcher.start()
        self._watcher = watcher
        self._queue_scan()  # files that arrived while we were down
        self._tokens_seen = self._tokens_mtime()
        self._scheduler = self._make_scheduler()
        self._scheduler.start()

    def _shutdown(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        if self._ingest is not None:
            self._inbox.put(StopIngest())
            self._ingest.join(STOP_SECONDS)
            self._ingest = None
        if self._stack is not None:
            self._stack.engine.stop(timeout=STOP_SECONDS)
            self._stack.close()
            self._stack = None
        self._inbox = queue.Queue()

    def _do_reload(self) -> None:
        source = self.config.source
        try:
            config = load_config(source)
        except StravaSyncError as error:
            log.error("config_reload_failed", path=str(source), error=str(error))
            return
        configure_logging(fmt=config.log.format, level=config.log.level)
        self._notifier.notify(RELOADING=1, MONOTONIC_USEC=time.monotonic_ns() // 1000)
        self._shutdown()
        self.config = config
        self._start()
        self._notifier.ready(self._summary())
        log.info("config_reloaded", path=str(source))

    # -- threads and jobs ------------------------------------------------------------------

    def _ingest_loop(self) -> None:
        """Reads and validates what the watcher hands over, one file at a time."""
        inbox = self._inbox
        while True:
            item = inbox.get()
            stack = self._stack
            if isinstance(item, StopIngest) or stack is None:
                return
            what = str(item.path) if isinstance(item, FileReady) else "(rescan)"
            try:
                if isinstance(item, FileReady):
                    stack.engine.submit(item.path)
                else:
                    watcher = self._watcher
                    if watcher is not None:
                        stack.engine.scan(watcher.scan())
            except StravaSyncError as error:
                log.error("ingest_failed", path=what, error=str(error))
            except Exception:  # a bug must not kill the thread: log it, go on
                log.exception("ingest_crashed", path=what)

    def _file_ready(self, path: Path) -> None:
        self._inbox.put(FileReady(path))

    def _queue_scan(self) -> None:
        self._inbox.put(Rescan())

    def _make_scheduler(self) -> BackgroundScheduler:
        from apscheduler.schedulers.background import BackgroundScheduler

        scheduler = BackgroundScheduler(
            timezone="UTC",
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        )
        scheduler.add_job(self._refresh_tokens, "interval", minutes=5, id="refresh_tokens")
        scheduler.add_job(self._resume, "interval", minutes=1, id="resume")
        scheduler.add_job(self._queue_scan, "interval", hours=1, id="rescan")
        scheduler.add_job(self._housekeeping, "interval", hours=24, id="housekeeping")
        interval = watchdog_interval()
        if self._notifier.enabled:
            if interval is not None:
                scheduler.add_job(self._watchdog, "interval", seconds=interval, id="watchdog")
            scheduler.add_job(self._status, "interval", seconds=30, id="status")
        return scheduler

    def _refresh_tokens(self) -> None:
        stack = self._stack
        if stack is None or stack.engine.fatal is not None:
            return
        try:
            stack.tokens.access_token()  # refreshes when close to expiry
        except StravaSyncError as error:
            if error.needs_person:
                # A dead sign-in, no client secret, a token file we cannot write: the
                # engine says so once (engine_fatal) and makes no calls until then.
                stack.engine.halt(error)
            else:  # another process is refreshing, Strava is unreachable: passes
                log.warning("token_refresh_deferred", error=str(error))

    def _tokens_mtime(self) -> float | None:
        stack = self._stack
        if stack is None:
            return None
        try:
            return stack.tokens.path.stat().st_mtime
        except OSError:
            return None

    def _resume(self) -> None:
        stack = self._stack
        if stack is None:
            return
        mtime = self._tokens_mtime()
        if stack.engine.fatal is not None and mtime != self._tokens_seen:
            log.info("auth_changed", hint="resuming uploads after a new sign-in")
            stack.engine.clear_fatal()
        self._tokens_seen = mtime
        # The dispatcher sleeps until the next due time on its own; this nudge makes
        # sure a clock jump (suspend/resume of a laptop) cannot leave work waiting.
        stack.engine.wake()

    def _housekeeping(self) -> None:
        stack = self._stack
        if stack is None:
            return
        try:
            removed = stack.store.prune_missing()
        except StateError as error:
            log.warning("housekeeping_failed", error=str(error))
            return
        log.info("housekeeping_done", removed=removed)

    def _threads_alive(self) -> bool:
        return self._ingest is not None and self._ingest.is_alive()

    def _watchdog(self) -> None:
        if self._threads_alive():
            self._notifier.watchdog()

    def _status(self) -> None:
        self._notifier.status(self._summary())

    def _summary(self) -> str:
        stack = self._stack
        if stack is None:
            return "starting"
        counts = stack.store.counts()
        parts = [f"{n} {state}" for state, n in sorted(counts.items()) if n]
        fatal = stack.engine.fatal
        if fatal is not None:
            parts.insert(0, f"stopped: {fatal.title}")
        return ", ".join(parts) or "watching, nothing seen yet"

    # -- signals -----------------------------------------------------------------------------

    def _signals(self) -> dict[int, object]:
        if not self._install_signals or threading.current_thread() is not threading.main_thread():
            return {}

        # Handlers run in the main thread between two bytecodes, maybe while it holds the
        # log stream's lock: they must not log or take a lock, only put a command.
        def stop(signum: int, _frame: FrameType | None) -> None:
            self._control.put(("stop", signal.Signals(signum).name))

        def reload(_signum: int, _frame: FrameType | None) -> None:
            self._control.put(("reload", "SIGHUP"))

        previous: dict[int, object] = {}
        for signum, handler in ((signal.SIGTERM, stop), (signal.SIGINT, stop),
                                (signal.SIGHUP, reload)):
            previous[signum] = signal.signal(signum, handler)
        return previous

    @staticmethod
    def _restore(previous: dict[int, object]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]


def run_daemon(config: Config) -> int:
    """``stravasync run`` in the foreground (what the service runs)."""
    return Daemon(config).run()
