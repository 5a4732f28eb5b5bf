"""What Strava's answers mean for the store: one place that records every upload's end.

Owns the transitions that end an upload, each written before the effect that
depends on it: the activity id before ``upload.after`` touches the file; a
"duplicate" answer when an earlier POST of ours may have gone through
(``maybe_posted``) is our own activity (:func:`~stravasync.state.dedupe.is_own_upload`);
an upload still processing gets its next look (growing intervals, parked after
minutes). It also learns how long Strava takes, per format and size band
(:class:`~stravasync.upload.polling.Estimates`, kept in the store's meta), from every
upload followed to its end, whether by a poll, a list or the POST's own answer.

The POST (:mod:`stravasync.upload.transfer`), the polls and lists (:mod:`stravasync.upload.follow`)
and the updates all record through here; nothing here calls Strava.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from stravasync.logs import get_logger
from stravasync.state import State, Store, Workout
from stravasync.state.dedupe import is_own_upload
from stravasync.strava.wire import plain_text
from stravasync.upload.archive import carry_out_after
from stravasync.upload.polling import (
    Estimates,
    Pacing,
    first_poll_delay,
    load_estimates,
    next_poll_delay,
    save_estimates,
)

if TYPE_CHECKING:
    from stravasync.config.settings import Config
    from stravasync.intake.ingest import PayloadCache
    from stravasync.strava.client import Upload
    from stravasync.upload.gates import Gates

__all__ = ["Outcomes"]

log = get_logger(__name__)


class Outcomes:
    """Records what Strava said of uploads, for one engine (thread-safe)."""

    def __init__(
        self, *, config: Config, store: Store, clock: Callable[[], float], timing: Pacing,
        owner: str, gates: Gates, payloads: PayloadCache,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.timing = timing
        self.owner = owner
        self.gates = gates
        self.payloads = payloads
        self._lock = threading.Lock()
        self._estimates = load_estimates(store.get_meta, timing=timing)

    # -- how long Strava takes -------------------------------------------------------------

    def _kind(self, w: Workout) -> tuple[str, int]:
        """The estimate's key parts for ``w``: its format and the size of its file."""
        record = self.store.path_record(w.path)
        return (w.format or "fit"), (record.size if record is not None else 0)

    def expected(self, w: Workout) -> float:
        """Seconds Strava is expected to take with ``w`` (its format and size)."""
        data_type, size = self._kind(w)
        with self._lock:
            return self._estimates.for_file(data_type=data_type, size=size, timing=self.timing)

    @property
    def estimate(self) -> float:
        """The overall expected processing time (seconds), for status and tests."""
        with self._lock:
            overall = self._estimates.overall
        return overall if overall is not None else self.timing.initial_estimate_s

    def first_look_at(self, w: Workout, now: float) -> float:
        """When to look first at ``w`` just posted: after its expected processing time."""
        return now + first_poll_delay(self.expected(w), self.timing)

    def _learn(self, w: Workout, *, done_s: float) -> None:
        if w.posted_at is None:
            return
        data_type, size = self._kind(w)
        with self._lock:
            self._estimates = self._estimates.learned(
                data_type=data_type, size=size, done_at_first_poll=w.polls == 0,
                last_processing_s=w.last_processing_s, done_s=done_s, timing=self.timing)
            estimates = self._estimates
        save_estimates(self.store.set_meta, estimates)

    def slower(self, w: Workout, *, elapsed: float) -> None:
        """A look past the expected time found ``w`` still processing: expect more."""
        data_type, size = self._kind(w)
        with self._lock:
            before = self._estimates
            self._estimates = before.slower(data_type=data_type, size=size, elapsed=elapsed,
                                            timing=self.timing)
            estimates = self._estimates
        if estimates is not before:
            save_estimates(self.store.set_meta, estimates)

    @property
    def estimates(self) -> Estimates:
        """The learned estimates as they stand."""
        with self._lock:
            return self._estimates

    # -- answers ---------------------------------------------------------------------------

    def apply(self, w: Workout, upload: Upload, *, now: float, learn: bool) -> None:
        """Act on what Strava says of an upload (from a poll, or the POST's answer)."""
        elapsed = now - (w.posted_at if w.posted_at is not None else now)
        if upload.activity_id is not None:
            self.found(w, upload.activity_id, now=now, learn=learn, upload_id=upload.id)
            return
        duplicate = upload.duplicate_of()
        if duplicate is not None:
            if learn:
                self._learn(w, done_s=elapsed)
            self.finish_duplicate(w, duplicate, upload.error or "", at="poll",
                                  upload_id=upload.id)
            return
        if upload.processing:
            self.processing(w, now=now, seen_by="poll")
            return
        reason = upload.failed_reason or upload.status
        self.finish(w, State.REJECTED, error=reason, event="upload_rejected",
                    upload_id=upload.id, promote_copy=not upload.deleted)

    def found(
        self, w: Workout, activity_id: int, *, now: float, learn: bool,
        upload_id: str | None = None, via: str = "poll",
    ) -> None:
        """Strava made activity ``activity_id`` of ``w``'s upload."""
        if learn and not w.parked:
            self._learn(w, done_s=now - (w.posted_at or now))
        self.finish(w, State.UPLOADED, activity_id=activity_id, event="upload_done",
                    upload_id=upload_id, via=via)

    def processing(
        self, w: Workout, *, now: float, seen_by: str, delay: float | None = None,
        parked: bool | None = None,
    ) -> None:
        """``w`` is still processing: record the look and when to look again.

        A look past the expected time raises the estimates (a slow day), but an upload
        missing from a list (``seen_by="list"``) does so only at its first look: it may
        as well have ended in an error or as a duplicate, which lists never show, and
        each later miss would push its own overdue poll out again. That poll tells which.
        """
        elapsed = now - (w.posted_at if w.posted_at is not None else now)
        polls = w.polls + 1
        expected = self.expected(w)
        if elapsed > expected and not w.parked and (seen_by != "list" or w.polls == 0):
            self.slower(w, elapsed=elapsed)
            expected = self.expected(w)
        if delay is None or parked is None:
            delay, parked = next_poll_delay(elapsed=elapsed, polls=polls, estimate=expected,
                                            timing=self.timing)
        self.store.record_poll(w.sha256, owner=self.owner, last_processing_s=elapsed,
                               next_attempt_at=now + delay, parked=parked)
        log.info("upload_polled", path=w.path, sha256=w.sha256, upload_id=w.upload_id,
                 elapsed=round(elapsed, 3), polls=polls, next_in=round(delay, 3), by=seen_by)
        if parked and not w.parked:
            log.warning("upload_parked", path=w.path, sha256=w.sha256, upload_id=w.upload_id,
                        elapsed=round(elapsed, 1), next_attempt_at=now + delay)

    def finish_duplicate(
        self, w: Workout, activity_id: int | None, reason: str, *, at: str,
        upload_id: str | None = None,
    ) -> None:
        """Strava says the workout is already activity ``activity_id``."""
        if is_own_upload(maybe_posted=w.maybe_posted, activity_id=activity_id):
            # An earlier POST of ours may have gone through: this is our own activity.
            self.finish(w, State.UPLOADED, activity_id=activity_id, event="upload_done",
                        upload_id=upload_id, duplicate_answer=at)
            return
        # Stored and logged readable: Strava's HTML link only repeats ``activity_id``.
        self.finish(w, State.DUPLICATE, activity_id=activity_id,
                    error=plain_text(reason) or None, event="upload_duplicate",
                    upload_id=upload_id)

    def finish(
        self, w: Workout, state: State, *, event: str, activity_id: int | None = None,
        error: str | None = None, upload_id: str | None = None, promote_copy: bool = True,
        **extra: object,
    ) -> None:
        """Record the end of ``w``'s upload, then carry out ``upload.after``."""
        promoted = self.store.finish(w.sha256, owner=self.owner, state=state,
                                     activity_id=activity_id, error=error,
                                     promote_copy=promote_copy)
        log.info(event, path=w.path, sha256=w.sha256, upload_id=upload_id or w.upload_id,
                 activity_id=activity_id, error=error, attempts=w.attempts, **extra)
        self.payloads.take(w.sha256)
        if promoted is not None:
            log.info("upload_queued", path=promoted.path, sha256=promoted.sha256,
                     reason="the same workout in a richer format was rejected")
        if activity_id is not None and self.config.upload.after != "keep":
            done = self.store.workout(w.sha256)
            if done is not None and done.activity_id is not None:
                carry_out_after(self.config, self.store, done)
        self.gates.wake()
        self.gates.news()
