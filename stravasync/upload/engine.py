"""The upload engine: dispatches the work that gets each valid workout to Strava once.

Owns dispatch: taking files in (:meth:`Engine.submit` and :meth:`Engine.scan` hand
them to :mod:`stravasync.intake.ingest`), the queue (fresh workouts first, then the
backlog, oldest first in each; at most ``upload.concurrency`` in flight), which due
job runs now (a POST, a poll, a batch look, an update) on a dispatcher thread and a
worker pool, and when work is next due (:meth:`Engine.next_due`, :meth:`Engine.wait_idle`).
At start it frees the rows of dead processes and finishes an ``upload.after`` a crash
interrupted. A job that fails is backed off, a state folder that cannot be written
closes the gates for a while.

The jobs themselves are its parts': the POST and its claim-before-send are
:mod:`~stravasync.upload.transfer`'s; polls, batch lists and updates are
:mod:`~stravasync.upload.follow`'s, paced by :mod:`~stravasync.upload.polling`; what
each answer means for the store (and ``upload.after``, :mod:`~stravasync.upload.archive`)
is :mod:`~stravasync.upload.outcomes`'; the gates and the halt are
:mod:`~stravasync.upload.gates`'. Every transition they make is written to the
:class:`~stravasync.state.Store` *before* the effect that depends on it, so the
process can die at any line.

API for the daemon (all methods thread-safe)::

    engine = build_engine(config=config, store=store, client=client, governor=governor,
                          clock=time.time, validator=None, timing=Pacing())  # (stack)
    engine.scan(paths)             # startup reconciliation; returns a ScanReport
    engine.submit(path)            # a file looks complete (watcher callback); Submitted
    engine.start()                 # dispatcher thread + worker pool
    engine.next_due()              # Unix time of the next piece of work, or None
    engine.retry(paths or None)    # rejected/retrying (or named) files back in the queue
    engine.wake()                  # look at the store again now
    engine.on_news(listener)       # called when a workout finished or calls stopped
    engine.fatal                   # the error that stopped all calls (needs a person), or None
    engine.clear_fatal()           # after the person signed in again
    engine.wait_idle(timeout)      # WaitResult: done / deferred (next_due, held) / fatal / timeout
    engine.stop(timeout)           # no new work; in-flight calls finish or stay recorded

Without ``start()``, :meth:`Engine.tick` runs due work in the calling thread (tests
drive it with an injected clock). Nothing sleeps on the request path: the governor's
"not before T" and every backoff become a time in the store or a gate in memory.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from structlog.contextvars import bound_contextvars

from stravasync.errors import StateError, StravaSyncError
from stravasync.intake.ingest import (
    PayloadCache,
    Submitted,
    Validator,
    default_validator,
    ingest_path,
)
from stravasync.logs import get_logger
from stravasync.models import ReasonCode
from stravasync.state import State, Store
from stravasync.state.dedupe import SAME_WORKOUT_TOLERANCE_S, SIBLING_HOLD_S
from stravasync.state.owners import owner_alive
from stravasync.state.rows import status_at
from stravasync.upload.archive import Peers, carry_out_after
from stravasync.upload.gates import Gates
from stravasync.upload.learning import ProcessingTimes
from stravasync.upload.mishaps import Mishaps
from stravasync.upload.outcomes import Outcomes
from stravasync.upload.polling import Pacing
from stravasync.upload.reports import ScanReport, WaitResult, next_times, state_counts
from stravasync.upload.slots import SlotArbiter, seat_for

if TYPE_CHECKING:
    from stravasync.config.settings import Config
    from stravasync.upload.ports import FollowStep, PostStep

__all__ = ["Engine", "EngineParts", "ScanReport", "WaitResult"]

_FOLLOW = "(follow)"
"""The running-set key of the one batch look (it concerns many workouts)."""

log = get_logger(__name__)


@dataclass(frozen=True)
class EngineParts:
    """The pieces of one engine, each built with the parts it uses.

    Wired by the composition root (:func:`stravasync.stack.build_engine`); the engine
    dispatches to them and shares their gates and payload cache.
    """

    owner: str
    """This process's tag on the rows it works on (:func:`~stravasync.state.owners.owner_tag`)."""
    gates: Gates
    """The gates, the halt and the wake-up, shared by every piece."""
    payloads: PayloadCache
    """Workout bytes read at ingest, kept for their POST."""
    times: ProcessingTimes
    """The learned processing times."""
    outcomes: Outcomes
    """What Strava's answers mean for the store."""
    follower: FollowStep
    """Polls, lists and updates (nothing, for intervals.icu)."""
    transfer: PostStep
    """The POST (Strava's, or intervals.icu's)."""


class Engine:
    """The upload engine (see the module docstring for its API and guarantees)."""

    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        parts: EngineParts,
        clock: Callable[[], float] = time.time,
        validator: Validator = default_validator,
        timing: Pacing,
        rng: random.Random,
        account: str = "me",
        peers: Peers | None = None,
        slots: SlotArbiter | None = None,
    ) -> None:
        self._config = config
        self.account = account
        """The account this engine sends to (its store and sign-in are that account's)."""
        self.account_in_logs = False
        """Whether its log lines name the account (set by the router of several)."""
        self._peers = peers
        self._store = store
        self._clock = clock
        self._validator = validator
        self._timing = timing
        self._rng = rng
        self._owner = parts.owner
        self._gates = parts.gates
        self._cond = self._gates.cond  # one lock and wake-up for the engine and its gates
        self._lock = self._cond
        self._running: set[str] = set()
        self._unclaimed: set[str] = set()
        self._payloads = parts.payloads
        self._times = parts.times
        self._outcomes = parts.outcomes
        self._follower = parts.follower
        self._transfer = parts.transfer
        self._seat = seat_for(slots, account, wake=self.wake)  # the app's upload slots
        self._batching = False
        self._mishaps = Mishaps(store=store, gates=self._gates, clock=clock, timing=timing,
                                rng=rng)
        self._last_recheck = float("-inf")
        self._stopping = False
        self._focus: frozenset[str] | None = None
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.files_read = 0
        """Files read and hashed by this engine (a rescan of known files reads none)."""

    # -- public API -----------------------------------------------------------------------

    @property
    def fatal(self) -> StravaSyncError | None:
        """The dead-end condition that stopped every call (sign in again), or None."""
        return self._gates.halted

    @property
    def store(self) -> Store:
        """The state store this engine works from."""
        return self._store

    @property
    def processing_estimate(self) -> float:
        """The learned expected processing time (seconds) the first poll waits for."""
        return self._times.estimate

    def halt(self, exc: StravaSyncError) -> None:
        """Stop every call until :meth:`clear_fatal` (a dead end met outside an upload)."""
        self._gates.halt(exc)

    def clear_fatal(self) -> None:
        """Forget the fatal condition (the person signed in again) and resume."""
        self._gates.resume()

    def wake(self) -> None:
        """Look at the store again now (after a clock jump, or a change by another process)."""
        self._gates.wake()

    def on_news(self, listener: Callable[[], None] | None) -> None:
        """Call ``listener`` when a workout finished, or calls stopped (halt, dead end)."""
        self._gates.on_news = listener

    def submit(
        self, path: Path | str, *, ignore_age: bool = False, retry: bool = False,
        writer_done: bool = False,
    ) -> Submitted:
        """Take a file that looks complete: validate it unless path+size+mtime are known.

        ``ignore_age`` (``stravasync upload``) sends workouts older than
        ``watch.max_age_days`` too. ``retry`` (``stravasync retry``): read it again
        whatever is known, and judge a known content that was not sent afresh.
        ``writer_done``: its writer closed it, or a person named it: a file that looks
        cut short is judged at once (else it is ``pending`` while recently written, and
        ``Submitted.recheck_at`` says when to submit it again).
        """
        real = os.path.realpath(path)
        try:
            st = os.stat(real)
        except OSError as exc:
            log.warning("file_unreadable", path=real, error=exc.strerror or str(exc))
            return Submitted(path=real, sha256=None, state=State.PENDING, known=False,
                             error=exc.strerror or str(exc))
        record = None if retry else self._store.path_record(real)
        if record is not None and record.sha256 is not None and (
            (record.size, record.mtime_ns) == (st.st_size, st.st_mtime_ns)
        ):
            workout = self._store.workout(record.sha256)
            if workout is not None and not (
                ignore_age and workout.reason_code == ReasonCode.TOO_OLD
            ):
                entry = status_at(workout, real)
                return Submitted(path=real, sha256=workout.sha256, state=entry.state,
                                 known=True, error=entry.error)
            # Too old for the daemon, wanted now: read it again without the age rule; the
            # store revives the known row in place (no path that shares it is lost).
        return self._ingest(real, ignore_age=ignore_age, retry=retry, writer_done=writer_done)

    def scan(self, paths: Iterable[Path | str]) -> ScanReport:
        """Startup reconciliation: submit every path not already known as it is on disk.

        Known files are recognised by path, size and mtime alone (one index query, one
        stat per file: nothing is read). Then leftovers of a crash are picked up.
        """
        index = self._store.path_index()
        seen = known = read = 0
        looked: set[str] = set()
        recheck: dict[str, float] = {}
        for path in paths:
            real = os.path.realpath(path)
            looked.add(real)
            seen += 1
            record = index.get(real)
            if record is not None and record.sha256 is not None:
                try:
                    st = os.stat(real)
                except OSError:
                    continue
                if (record.size, record.mtime_ns) == (st.st_size, st.st_mtime_ns):
                    known += 1
                    continue
            before = self.files_read
            done = self.submit(real)
            read += self.files_read - before
            if done.recheck_at is not None:
                recheck[real] = done.recheck_at
        for real, record in index.items():
            if record.sha256 is None and real not in looked and os.path.exists(real):
                self.submit(real)  # pending from before a restart
        self.recover()
        log.info("scan_done", seen=seen, known=known, read=read)
        return ScanReport(seen=seen, known=known, read=read, recheck=recheck)

    def recover(self) -> None:
        """Free rows of dead processes; finish ``upload.after`` a crash interrupted."""
        self._store.release_dead_owners(owner_alive)
        if self._config.upload.after == "keep":
            return
        for w in self._store.workouts(states=(State.UPLOADED, State.DUPLICATE)):
            if w.activity_id is not None and not w.after_done and (
                w.reason_code != ReasonCode.SAME_WORKOUT
            ):
                carry_out_after(self._config, self._store, w, peers=self._peers)

    def retry(self, paths: Collection[str] | None = None) -> list[str]:
        """Put rejected/retrying files (all, or the named ones) back in the queue now."""
        named = None if paths is None else [os.path.realpath(p) for p in paths]
        done = self._store.retry(named)
        for path in done:
            log.info("upload_queued", path=path, reason="retry")
        self._gates.wake()
        return done

    def next_due(self) -> float | None:
        """Unix time of the earliest work (now or later); None when nothing is left."""
        return self._next_due(others=True)

    def _next_due(self, *, others: bool) -> float | None:
        """:meth:`next_due`; ``others``: counting the rows other processes hold."""
        if self.fatal is not None:
            return None
        now = self._clock()
        focus = self._focus
        if focus is None:
            poll, post, held = self._store.next_times(owner=self._owner)
        else:
            poll, post, held = next_times(self._store.unfinished(focus), owner=self._owner)
        times: list[float] = []
        if poll is not None:
            hold = self._follower.next_look_at if self._batching else 0.0
            times.append(max(poll, self._gates.open_at("read"), hold))
        if post is not None and self._slots_held() < self._config.upload.concurrency:
            times.append(max(post, self._gates.open_at("upload"), self._seat.not_before))
        if others and held is not None:
            times.append(max(held, now + 1.0))
        return min(times) if times else None

    def tick(self) -> float | None:
        """Run every piece of work due now, in this thread; return :meth:`next_due`."""
        done: set[tuple[str, str]] = set()
        while True:
            scheduled = self._schedule(self._clock())
            fresh = [job for job in scheduled if job not in done]
            for _kind, sha in (job for job in scheduled if job in done):
                self._release(sha)
            if not fresh:
                break
            for job in fresh:
                done.add(job)
                self._run(job)
        return self.next_due()

    def focus(self, sha256s: Collection[str] | None) -> None:
        """Work only on these workouts (``stravasync upload``); None = on everything."""
        with self._lock:
            self._focus = None if sha256s is None else frozenset(sha256s)

    def start(self) -> None:
        """Start the dispatcher thread and the worker pool."""
        if self._thread is not None:
            return
        self.recover()
        self._stopping = False
        self._pool = ThreadPoolExecutor(max_workers=self._config.upload.concurrency + 1,
                                        thread_name_prefix="stravasync-upload")
        self._thread = threading.Thread(target=self._loop, name="stravasync-engine",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Take no new work; let in-flight calls finish (up to ``timeout``) or stay recorded."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._running and time.monotonic() < deadline:
                self._cond.wait(max(0.01, deadline - time.monotonic()))
            busy = set(self._running)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._store.release_owner(self._owner, keep=busy)
        self._seat.leave()
        self._thread = None
        self._pool = None

    def wait_idle(
        self, timeout: float | None = None, *, only: Collection[str] | None = None,
        leave_held: bool = False,
    ) -> WaitResult:
        """Wait until the work (of the ``only`` sha256s, if given) is final or deferred.

        ``deferred``: nothing runs and the earliest work is due later than
        ``Pacing.short_wait_s`` from now (rate limit, backoff, a parked upload).
        ``leave_held``: workouts another live process holds are its own to finish (it
        may be stopped or paused for long): they are not waited for, and when only
        they are left the answer is ``deferred`` naming them (:attr:`WaitResult.held`).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._thread is None:
                self.tick()
            active = self._store.unfinished(only)
            counts = state_counts(self._store, only)
            fatal = self.fatal
            if fatal is not None:
                return WaitResult("fatal", fatal=fatal, counts=counts)
            held: dict[str, str] = {}
            theirs: set[str] = set()
            if leave_held:
                theirs = {w.sha256 for w in active if w.owner is not None
                          and w.owner != self._owner and owner_alive(w.owner)}
                held = {w.path: w.owner for w in active if w.sha256 in theirs and w.owner}
                active = [w for w in active if w.sha256 not in theirs]
            if not active:
                if held:
                    return WaitResult("deferred", counts=counts, held=held)
                return WaitResult("done", counts=counts)
            due = self._next_due(others=not leave_held)
            now = self._clock()
            with self._cond:
                busy = bool(self._running)
            if not busy and (due is None or due > now + self._timing.short_wait_s):
                # A job that ended after `active` was read left it stale (its row final,
                # nothing due): only a second look that agrees makes the work deferred.
                again = {w.sha256 for w in self._store.unfinished(only)} - theirs
                if again == {w.sha256 for w in active} and (
                        self._next_due(others=not leave_held) is None) == (due is None):
                    return WaitResult("deferred", next_due=due, counts=counts, held=held)
                continue
            if deadline is not None and time.monotonic() >= deadline:
                return WaitResult("timeout", next_due=due, counts=counts, held=held)
            pause = 0.5 if due is None else min(1.0, max(0.02, due - now))
            if deadline is not None:
                pause = min(pause, max(0.0, deadline - time.monotonic()))
            with self._cond:
                self._cond.wait(pause)

    # -- dispatch -------------------------------------------------------------------------

    def _schedule(self, now: float) -> list[tuple[str, str]]:
        """Pick the jobs due at ``now`` and mark them running."""
        if self.fatal is not None or self._stopping:
            return []
        if now - self._last_recheck >= self._timing.recheck_s:
            self._last_recheck = now
            self._store.release_dead_owners(owner_alive)
        jobs: list[tuple[str, str]] = []
        with self._lock:
            focus = self._focus
            if self._gates.is_open("read", now):
                jobs.extend(self._read_jobs(now, focus))
            if self._gates.is_open("upload", now):
                slots = (self._config.upload.concurrency - self._slots_held()
                         - len(self._unclaimed))
                limit = self._config.upload.concurrency * 4 + 16
                if focus is not None:
                    limit += len(focus) + self._store.in_flight()
                for w in self._store.due_posts(now=now, owner=self._owner, limit=limit):
                    if w.sha256 in self._running or (focus is not None and w.sha256 not in focus):
                        continue
                    if w.state is not State.UPLOADING and slots <= 0:
                        continue
                    if not self._seat.may_post(w, now=now):
                        break  # another account's POST goes first
                    if w.state is not State.UPLOADING:
                        slots -= 1
                        self._unclaimed.add(w.sha256)
                    jobs.append(("post", w.sha256))
            self._running.update(sha for _kind, sha in jobs)
        self._seat.settle(now=now)  # not under the lock: it may wake other engines
        return jobs

    def _read_jobs(self, now: float, focus: frozenset[str] | None) -> list[tuple[str, str]]:
        """Polls due now, or one batch look instead of them; and updates due now."""
        jobs: list[tuple[str, str]] = []
        due = [w for w in self._store.due_polls(now=now, owner=self._owner)
               if w.sha256 not in self._running and (focus is None or w.sha256 in focus)]
        self._batching = bool(due) and self._follower.batching()
        if self._batching:
            if now >= self._follower.next_look_at and _FOLLOW not in self._running:
                jobs.append(("follow", _FOLLOW))
        else:
            jobs.extend(("poll", w.sha256) for w in due)
        updates = self._store.due_updates(now=now, owner=self._owner)
        jobs.extend(("update", w.sha256) for w in updates
                    if w.sha256 not in self._running and (focus is None or w.sha256 in focus))
        return jobs

    def _slots_held(self) -> int:
        """Uploads in flight holding a slot: not parked, nor (in a backlog) waiting for a list."""
        return self._store.in_flight(parked=False) - self._follower.waiting_for_list()

    def _release(self, sha: str) -> None:
        with self._cond:
            self._running.discard(sha)
            self._unclaimed.discard(sha)
        self._gates.wake()

    def _run(self, job: tuple[str, str]) -> None:
        with bound_contextvars(**self.log_context()):
            self._run_job(job)

    def log_context(self) -> dict[str, str]:
        """``account=NAME`` for the log lines of an engine among several, else nothing."""
        return {"account": self.account} if self.account_in_logs else {}

    def _run_job(self, job: tuple[str, str]) -> None:
        kind, sha = job
        try:
            if kind == "post":
                sent: bool | None = False
                try:
                    sent = self._transfer.post(sha)
                finally:
                    with self._lock:
                        self._unclaimed.discard(sha)
                    self._seat.ended(sent=bool(sent), gate=self._gates.open_at("upload"),
                                     now=self._clock())
            elif kind == "follow":
                self._follower.follow()
            elif kind == "update":
                self._follower.update(sha)
            else:
                self._follower.poll(sha)
            self._mishaps.went_well()
        except StateError as exc:
            if exc.needs_person:
                self._gates.halt(exc)
            else:
                self._mishaps.store_unwritable(exc, kind=kind, sha=sha)
        except Exception as exc:  # one bad job must not stop the engine
            log.exception("engine_job_failed", sha256=sha, job=kind)
            self._mishaps.job_failed(sha, kind, exc)
        finally:
            self._release(sha)

    def _loop(self) -> None:
        with bound_contextvars(**self.log_context()):
            self._dispatch()

    def _dispatch(self) -> None:
        idle_spins = 0
        while True:
            with self._cond:
                if self._stopping:
                    return
            self._gates.take_wake()
            try:
                jobs = self._schedule(self._clock())
                for job in jobs:
                    assert self._pool is not None
                    self._pool.submit(self._run, job)
                due = self.next_due()
            except Exception:  # keep the dispatcher alive
                log.exception("engine_dispatch_failed")
                jobs, due = [], None
            now = self._clock()
            wait = self._timing.recheck_s if due is None else due - now
            with self._cond:
                if self._stopping:
                    return
                if self._gates.take_wake():
                    continue
                if due is not None and due <= now and not jobs:
                    if self._running:
                        wait = self._timing.recheck_s  # due work is running: its end wakes us
                    else:
                        # Became due since scheduling: go round again (never a hot loop).
                        idle_spins += 1
                        wait = 0.02 if idle_spins < 50 else 1.0
                else:
                    idle_spins = 0
                self._cond.wait(min(self._timing.recheck_s, max(0.01, wait)))

    # -- ingest ---------------------------------------------------------------------------

    def _ingest(
        self, real: str, *, ignore_age: bool, retry: bool = False, writer_done: bool = False
    ) -> Submitted:
        max_age = 0 if ignore_age else self._config.watch.max_age_days
        read = ingest_path(real, store=self._store, validator=self._validator,
                           now=self._clock(), max_age_days=max_age,
                           tolerance_s=SAME_WORKOUT_TOLERANCE_S, retry=retry,
                           writer_done=writer_done, hold_s=self._sibling_hold())
        if read.was_read:
            self.files_read += 1
        if read.payload is not None and read.submitted.sha256 is not None:
            self._payloads.put(read.submitted.sha256, read.payload)
        for other in read.displaced:
            self._payloads.take(other)
        self._gates.wake()
        return read.submitted

    def _sibling_hold(self) -> float:
        """How long a fresh GPX/TCX waits before its first POST (``SIBLING_HOLD_S``).

        Only while the dispatcher runs: it could send the first-read copy of a workout
        before its siblings are read. Files submitted before ``start()`` (``upload``,
        ``run --once``) are all read before any is sent, so they wait for nothing; nor
        does a FIT (``dedupe.may_be_outranked``).
        """
        return SIBLING_HOLD_S if self._thread is not None else 0.0
