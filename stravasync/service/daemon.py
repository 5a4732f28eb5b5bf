"""The daemon: watcher → ingest thread → engine, as a long-running service.

Owns what ``stravasync run`` is as a long-running service (the object graph itself is
built by :mod:`stravasync.stack`): the single-instance lock
on the state folder, the threads (watchdog's observer, one ingest thread that reads
and validates what the watcher hands over, the engine's dispatcher and workers), the
APScheduler jobs, signals and the systemd notifications. The watcher, its inbox and
the ingest thread (with its backlog and rechecks) are :mod:`stravasync.service.pickup`.

Scheduler jobs (a ``BackgroundScheduler``; each coalesced, one instance at a time):

- ``refresh_tokens`` (every 5 min): refresh the access token ahead of its expiry;
- ``resume`` (every minute): wake the engine for work a rate-limit pause or a backoff
  deferred, resume after ``stravasync auth`` fixed a dead sign-in, and follow up (a
  safety net for what no event announced, e.g. a file ``stravasync upload`` sent);
- ``rescan`` (hourly): a safety net for events the file system did not deliver;
- ``housekeeping`` (daily): prune rows of files that are gone and were never sent;
- ``watchdog`` / ``status`` (only under systemd): ``WATCHDOG=1`` while the threads
  are alive, and a one-line ``STATUS=``.

Idle, nothing runs more often than once a minute. The follow-up (files ``stravasync
retry`` asked for, the owner's notices (:mod:`stravasync.owner.attention`), moves
``upload.after`` still owes) runs on the main thread when there is news: SIGUSR1 (the
``retry`` command sends it, :func:`~stravasync.state.runlock.nudge`), or the engine
saying a workout finished or calls stopped. A file whose ingest failed is put back by a
timer when its backoff (up to 30 s) is over, and a copy that looked cut short when its
quiet minute is over. A daemon embedded in another program
(the demo, tests: it takes no signals) follows up every 2 s instead.

SIGTERM/SIGINT stop taking work, let in-flight requests finish (or stay recorded for
the next start) and return within about 5 s. SIGHUP re-reads the configuration and
restarts the watcher and engine with it; an invalid file is logged and ignored.
"""

from __future__ import annotations

import hashlib
import os
import queue
import signal
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import httpx

from stravasync.config.settings import Config, load_config
from stravasync.errors import StateError, StravaSyncError
from stravasync.household import Household, crossed_sign_in, open_household
from stravasync.logs import configure_logging, get_logger
from stravasync.service.pickup import Pickup
from stravasync.service.sdnotify import SystemdNotifier, watchdog_interval
from stravasync.state.pointer import remember_state_dir
from stravasync.state.runlock import NUDGE_SIGNAL, DaemonLock
from stravasync.upload.archive import carry_out_owed

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler

    from stravasync.owner.attention import Attention

__all__ = ["Daemon", "run_daemon"]

log = get_logger("stravasync.daemon")

EMBEDDED_FOLLOW_UP_SECONDS = 2.0
"""How often a daemon that takes no signals (embedded: the demo, tests) follows up."""
STOP_SECONDS = 4.0
"""How long in-flight calls may take to finish on shutdown (systemd allows 10 s)."""


class Daemon:
    """``stravasync run``: watch, validate, upload, until told to stop."""

    def __init__(
        self,
        config: Config,
        *,
        transport: httpx.BaseTransport | None = None,
        notifier: SystemdNotifier | None = None,
        install_signals: bool = True,
        force_polling: Iterable[Path] = (),
    ) -> None:
        self.config = config
        self._transport = transport
        self._notifier = notifier or SystemdNotifier()
        self._install_signals = install_signals
        # Commands for the main loop: ("stop" | "reload" | "follow_up", signal name or
        # None). A SimpleQueue because its put() is reentrant: signal handlers only put
        # here, so a signal landing while the main thread holds a lock (a log line being
        # written) cannot deadlock it.
        self._control: queue.SimpleQueue[tuple[str, str | None]] = queue.SimpleQueue()
        self._ready = threading.Event()
        self._pickup = Pickup(news=self._news)
        self._house: Household | None = None
        self._scheduler: BackgroundScheduler | None = None
        self._tokens_seen: dict[str, str | None] = {}
        self._attention: Attention | None = None
        """The owner's notices of the app and the first account (folders, state, limits)."""
        self._attentions: dict[str, Attention] = {}
        """Each account's notices (its halts, its finished and owed files), by name."""
        self._force_polling = tuple(force_polling)
        self._takes_signals = False

    # -- control (any thread) ------------------------------------------------------------

    @property
    def household(self) -> Household | None:
        """The running accounts (router, governor, token stores), for tests and the demo."""
        return self._house

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
            while (command := self._next_command()) != "stop":
                if command == "reload":
                    self._do_reload()
                    continue
                try:
                    self._follow_up()
                except Exception:  # a bug here must not stop the daemon
                    log.exception("follow_up_crashed")
        finally:
            self._notifier.stopping()
            log.info("daemon_stopping")
            self._shutdown()
            self._restore(previous)
            lock.release()
            log.info("daemon_stopped")
        return 0

    def _next_command(self) -> str:
        """Wait for the next command(s); ``stop`` wins over ``reload``, which wins over
        ``follow_up`` (a burst of news is one follow-up)."""
        commands = [self._control.get()]
        while True:
            try:
                commands.append(self._control.get_nowait())
            except queue.Empty:
                break
        for _command, signame in commands:
            if signame is not None:
                log.info("signal_received", signal=signame)  # logged here, never in a handler
        given = {command for command, _ in commands}
        return next(c for c in ("stop", "reload", "follow_up") if c in given)

    def _news(self) -> None:
        """Something to follow up (any thread, a signal handler too): the main loop does."""
        self._control.put(("follow_up", None))

    # -- start and stop --------------------------------------------------------------------

    def _start(self) -> None:
        from stravasync.owner.attention import Attention
        from stravasync.owner.notices import Notices

        config = self.config
        if not config.watch.paths:
            log.warning("no_watch_paths", hint="set [watch] paths in the configuration")
        house = open_household(config, transport=self._transport)
        self._house = house
        remember_state_dir(config)  # `status` finds this folder if the file gets a typo
        # One ledger of notices for the daemon (pacing and "already told" per account).
        notices = Notices.from_settings(config.notify,
                                        state_path=config.state_dir / "notices.json")
        several = len(house.router.lanes) > 1
        for lane in house.router.lanes:
            self._attentions[lane.name] = Attention(
                notices=notices, state_dir=lane.store.path.parent,
                api_url=config.strava.api_url,
                wake_signal=NUDGE_SIGNAL.name if self._takes_signals else None,
                account=lane.name if several else None, service=lane.account.service)
            self._attentions[lane.name].publish()
        self._attention = self._attentions[house.router.lanes[0].name]
        router = house.router
        router.on_news(self._news)
        router.start()
        self._pickup.start(watch=config.watch, engine=router, attention=self._attention,
                           polling=self._force_polling)
        self._tokens_seen = self._tokens_fingerprints()
        self._scheduler = self._make_scheduler()
        self._scheduler.start()

    def _shutdown(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        self._pickup.stop(timeout=STOP_SECONDS)  # the watcher, then the ingest thread
        if self._house is not None:
            self._house.router.on_news(None)
            self._house.router.stop(timeout=STOP_SECONDS)
            self._house.close()
            self._house = None
        for attention in self._attentions.values():
            attention.close()  # closing the shared ledger twice is harmless
        self._attentions = {}
        self._attention = None

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

    def _make_scheduler(self) -> BackgroundScheduler:
        from apscheduler.schedulers.background import BackgroundScheduler

        scheduler = BackgroundScheduler(
            timezone="UTC",
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        )
        scheduler.add_job(self._refresh_tokens, "interval", minutes=5, id="refresh_tokens")
        scheduler.add_job(self._resume, "interval", minutes=1, id="resume")
        if not self._takes_signals:  # no SIGUSR1 from `retry`: look for its requests
            scheduler.add_job(self._news, "interval", seconds=EMBEDDED_FOLLOW_UP_SECONDS,
                              id="follow_up")
        scheduler.add_job(self._pickup.queue_scan, "interval", hours=1, id="rescan")
        scheduler.add_job(self._housekeeping, "interval", hours=24, id="housekeeping")
        interval = watchdog_interval()
        if self._notifier.enabled:
            if interval is not None:
                scheduler.add_job(self._watchdog, "interval", seconds=interval, id="watchdog")
            scheduler.add_job(self._status, "interval", seconds=30, id="status")
        return scheduler

    def _follow_up(self) -> None:
        """On news (and each minute): retries asked for, the owner's notices, owed moves."""
        house, first = self._house, self._attention
        if house is None or first is None:
            return
        self._pickup.due()
        for lane in house.router.lanes:
            attention = self._attentions[lane.name]
            try:
                for path in lane.store.take_retry_requests():
                    log.info("retry_requested", path=path, account=lane.name)
                    self._pickup.retry(Path(path))
                attention.finished(lane.store)
                if self.config.upload.after != "keep":
                    carry_out_owed(self.config, lane.store, now=time.time(),
                                   peers=house.router.peers(lane.name))
                    attention.owed_moves(lane.store)
            except StravaSyncError as error:
                log.debug("follow_up_deferred", error=str(error), account=lane.name)
            attention.halted(lane.engine.fatal)
        app = house.governor.active_pause("upload")
        for lane in house.strava_lanes:
            # The app's dead end is told once (the first account's notices); the athlete
            # cap refuses one athlete of a household, and is told for that account.
            own = house.clients[lane.name].athlete_pause()
            shown = own or (app if self._attentions[lane.name] is first else None)
            self._attentions[lane.name].dead_end(shown.reason if shown is not None else None)

    def _refresh_tokens(self) -> None:
        house = self._house
        if house is None:
            return
        for lane in house.strava_lanes:
            if lane.engine.fatal is not None:
                continue
            try:
                house.tokens[lane.name].access_token()  # refreshes when close to expiry
            except StravaSyncError as error:
                if error.needs_person:
                    # A dead sign-in, no client secret, a token file we cannot write: the
                    # engine says so once (engine_fatal) and makes no calls until then.
                    lane.engine.halt(error)
                else:  # another process is refreshing, Strava is unreachable: passes
                    log.warning("token_refresh_deferred", error=str(error), account=lane.name)

    def _tokens_fingerprints(self) -> dict[str, str | None]:
        """What identifies each Strava account's stored sign-in (see :meth:`_fingerprint`)."""
        house = self._house
        if house is None:
            return {}
        return {lane.name: self._fingerprint(lane.name) for lane in house.strava_lanes}

    def _fingerprint(self, name: str) -> str | None:
        """What identifies an account's stored sign-in: changes only at a new sign-in.

        Marking the tokens dead rewrites the file too, so its mtime would say "changed"
        after every dead end; the refresh token and athlete say "a new sign-in".
        """
        house = self._house
        if house is None:
            return None
        tokens = house.tokens[name]
        try:
            status = tokens.status()
            stored = tokens.stored_tokens()
        except StravaSyncError:
            return None
        if stored is None or status is None:
            return None
        digest = hashlib.sha256(stored.refresh_token.encode()).hexdigest()
        return f"{status.athlete_id}:{digest}"

    def _resume(self) -> None:
        house = self._house
        if house is None:
            return
        seen = self._tokens_fingerprints()
        for lane in house.strava_lanes:
            now_seen = seen.get(lane.name)
            if lane.engine.fatal is not None and now_seen is not None \
                    and now_seen != self._tokens_seen.get(lane.name):
                crossed = crossed_sign_in(self.config, lane.account, house.tokens[lane.name])
                if crossed is None:
                    log.info("auth_changed", account=lane.name,
                             hint="resuming uploads after a new sign-in")
                    lane.engine.clear_fatal()
                else:
                    lane.engine.halt(crossed)
        self._tokens_seen = seen
        # The dispatcher sleeps until the next due time on its own; this nudge makes
        # sure a clock jump (suspend/resume of a laptop) cannot leave work waiting.
        house.router.wake()
        self._news()

    def _housekeeping(self) -> None:
        house = self._house
        if house is None:
            return
        removed = 0
        for lane in house.router.lanes:
            try:
                removed += lane.store.prune_missing()
            except StateError as error:
                log.warning("housekeeping_failed", error=str(error), account=lane.name)
                return
        log.info("housekeeping_done", removed=removed)

    def _threads_alive(self) -> bool:
        return self._pickup.alive()

    def _watchdog(self) -> None:
        if self._threads_alive():
            self._notifier.watchdog()

    def _status(self) -> None:
        self._notifier.status(self._summary())

    def _summary(self) -> str:
        house = self._house
        if house is None:
            return "starting"
        counts: dict[str, int] = {}
        for lane in house.router.lanes:
            for state, n in lane.store.counts().items():
                counts[state.value] = counts.get(state.value, 0) + n
        parts = [f"{n} {state}" for state, n in sorted(counts.items()) if n]
        halted = house.router.halted()
        several = len(house.router.lanes) > 1
        for name, fatal in reversed(list(halted.items())):
            parts.insert(0, f"stopped{f' ({name})' if several else ''}: {fatal.title}")
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

        def follow_up(_signum: int, _frame: FrameType | None) -> None:
            self._control.put(("follow_up", NUDGE_SIGNAL.name))

        previous: dict[int, object] = {}
        for signum, handler in ((signal.SIGTERM, stop), (signal.SIGINT, stop),
                                (signal.SIGHUP, reload), (NUDGE_SIGNAL, follow_up)):
            previous[signum] = signal.signal(signum, handler)
        self._takes_signals = True
        return previous

    def _restore(self, previous: dict[int, object]) -> None:
        self._takes_signals = False
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]


def run_daemon(config: Config) -> int:
    """``stravasync run`` in the foreground (what the service runs)."""
    return Daemon(config).run()
