"""One upload's steps: the POST, the polls, and what each answer means for the store.

Owns the translation of Strava's answers into state transitions, each written before
the effect that depends on it: claim (``uploading`` + ``external_id``) before the
POST, the upload id as soon as it is known, the activity id before ``upload.after``
touches the file. A "duplicate" answer when an earlier POST of ours may have gone
through (``maybe_posted``) is our own activity: ``uploaded``. Waits are never slept:
rate limits and dead ends close the :class:`~stravasync.gates.Gates` the engine
dispatches by, an error that needs a person halts them, and transient failures become
a ``next_attempt_at`` with jittered backoff. Also learns the expected
processing time from every upload followed to its end (kept in the store's meta).
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from stravasync.archive import carry_out_after
from stravasync.dedupe import is_own_upload
from stravasync.errors import (
    ApiError,
    DuplicateActivity,
    StravaSyncError,
    UploadRejected,
)
from stravasync.ingest import Payload, PayloadCache, Validator, load_payload
from stravasync.logs import get_logger
from stravasync.polling import (
    Pacing,
    backoff_delay,
    first_poll_delay,
    learn_processing_time,
    next_poll_delay,
)
from stravasync.rules import settings_for
from stravasync.state import State, Store, Workout
from stravasync.wire import plain_text

if TYPE_CHECKING:
    from stravasync.config import Config
    from stravasync.gates import Gates
    from stravasync.ratelimit import RequestKind
    from stravasync.strava import Upload

__all__ = ["ESTIMATE_KEY", "RateGovernor", "Transfer", "UploadClient"]

log = get_logger(__name__)

ESTIMATE_KEY = "processing_estimate_s"


class UploadClient(Protocol):
    """What the engine needs of :class:`stravasync.strava.StravaClient`."""

    def create_upload(
        self, *, data: bytes, data_type: str, external_id: str, name: str | None = None,
        description: str | None = None, trainer: bool = False, commute: bool = False,
        reserve: int = 0,
    ) -> Upload:
        """POST /uploads."""
        ...

    def get_upload(self, upload_id: str) -> Upload:
        """GET /uploads/{id}."""
        ...


class RateGovernor(Protocol):
    """What the engine needs of :class:`stravasync.ratelimit.Governor`."""

    def decide(
        self, kind: RequestKind, *, now: float | None = None, reserve: int = 0
    ) -> float | None:
        """None = go now; else the time before which not to send."""
        ...


class Transfer:
    """The POST and poll steps of uploads, for one engine."""

    def __init__(
        self, *, config: Config, store: Store, client: UploadClient, governor: RateGovernor,
        clock: Callable[[], float], validator: Validator, timing: Pacing,
        rng: random.Random, owner: str, gates: Gates, payloads: PayloadCache,
    ) -> None:
        self._config = config
        self._store = store
        self._client = client
        self._governor = governor
        self._clock = clock
        self._validator = validator
        self._timing = timing
        self._rng = rng
        self._owner = owner
        self._gates = gates
        self._payloads = payloads
        self._estimate = self._load_estimate()

    @property
    def estimate(self) -> float:
        """The learned expected processing time (seconds) the first poll waits for."""
        return self._estimate

    def _backoff(self, failures: int) -> float:
        return self._clock() + backoff_delay(failures, self._timing, self._rng)

    def _claim(self, sha: str) -> tuple[Workout, Payload, int] | None:
        """Claim a due workout for its POST: (claimed row, its bytes, uploads in flight).

        None when it is not due, the rate limit says wait, its file is gone or changed,
        or another process took it.
        """
        w = self._store.workout(sha)
        if w is None or not (w.state in (State.QUEUED, State.RETRYING) or (
            w.state is State.UPLOADING and w.upload_id is None
        )):
            return None
        in_flight = max(0, self._store.in_flight() - (w.state is State.UPLOADING))
        wait = self._governor.decide("upload", now=self._clock(), reserve=in_flight)
        if wait is not None:
            self._gates.close("upload", wait, sha=sha, why="rate_limit")
            return None
        payload = self._payloads.take(sha) or load_payload(self._store, w, self._validator)
        if payload.data is None or payload.format is None:
            self._payload_missing(w, payload)
            return None
        claimed = self._store.claim_post(sha, owner=self._owner,
                                         external_id=f"stravasync-{sha[:20]}")
        return None if claimed is None else (claimed, payload, in_flight)

    def post(self, sha: str) -> None:
        """POST one due workout (claimed first, answer recorded at once)."""
        taken = self._claim(sha)
        if taken is None:
            return
        claimed, payload, in_flight = taken
        w = claimed
        assert payload.data is not None
        assert payload.format is not None
        data, data_type = payload.data, payload.format
        if self._config.upload.gzip:
            data, data_type = gzip.compress(data, mtime=0), data_type + ".gz"
        settings = settings_for(self._config.rules, path=Path(w.path), facts=payload.facts)
        log.info("upload_started", path=w.path, sha256=sha, attempt=claimed.attempts,
                 external_id=claimed.external_id, data_type=data_type,
                 rules=list(settings.matched) or None)
        try:
            upload = self._client.create_upload(
                data=data, data_type=data_type, external_id=claimed.external_id or "",
                reserve=in_flight, **settings.post_fields())
        except DuplicateActivity as exc:
            self._finish_duplicate(claimed, exc.activity_id, exc.reason, at="post")
        except UploadRejected as exc:
            self._finish(claimed, State.REJECTED, error=exc.reason, event="upload_rejected")
        except StravaSyncError as exc:
            self._post_failed(claimed, exc)
        else:
            self._posted(claimed, upload)

    def _post_failed(self, w: Workout, exc: StravaSyncError) -> None:
        """A POST that got no answer about the file: wait, halt, or back off."""
        if self._gates.met(exc, kind="upload", sha=w.sha256):
            # A wait or a halt is decided before sending (the governor, the token
            # store), or is Strava refusing every call: the file was not taken.
            self._release_post(w, State.QUEUED, sent=False)
        elif isinstance(exc, ApiError):
            self._retry_post(w, exc)  # a transient failure: the outcome is unknown
        else:
            self._retry_post(w, exc, sent=False)  # failed before sending (tokens busy)

    def _payload_missing(self, w: Workout, payload: Payload) -> None:
        if payload.problem == "changed":
            error = "the file changed before it was uploaded; its new content is handled on its own"
            self._store.reschedule(w.sha256, state=State.SKIPPED, next_attempt_at=None,
                                   error=error, reason_code="changed")
            log.info("file_skipped", path=w.path, sha256=w.sha256, error=error,
                     reason="changed")
            return
        failures = w.failures + 1
        error = "the file is not there now (device unplugged?); it will be looked for again"
        at = self._backoff(failures)
        self._store.reschedule(w.sha256, state=State.RETRYING, next_attempt_at=at,
                               error=error, failures=failures)
        log.warning("upload_retrying", path=w.path, sha256=w.sha256, error=error,
                    next_attempt_at=at)

    def _release_post(self, w: Workout, state: State, *, sent: bool | None) -> None:
        self._store.release_post(w.sha256, owner=self._owner, state=state, sent=sent,
                                 next_attempt_at=None, error=w.error)

    def _retry_post(
        self, w: Workout, exc: StravaSyncError, *, sent: bool | None = None
    ) -> None:
        failures = w.failures + 1
        at = self._backoff(failures)
        self._store.release_post(w.sha256, owner=self._owner, state=State.RETRYING, sent=sent,
                                 next_attempt_at=at, error=exc.message, failures=failures)
        log.warning("upload_retrying", path=w.path, sha256=w.sha256, error=exc.message,
                    attempt=w.attempts, next_attempt_at=at)

    def _posted(self, w: Workout, upload: Upload) -> None:
        now = self._clock()
        self._store.record_upload(w.sha256, owner=self._owner, upload_id=upload.id,
                                  posted_at=now,
                                  next_attempt_at=now + first_poll_delay(self._estimate,
                                                                         self._timing))
        log.info("upload_created", path=w.path, sha256=w.sha256, upload_id=upload.id)
        if not upload.processing:
            fresh = self._store.workout(w.sha256)
            if fresh is not None:
                self._apply(fresh, upload, now=now, learn=False)

    def poll(self, sha: str) -> None:
        """Look at one due upload and act on what Strava says."""
        w = self._store.workout(sha)
        if w is None or w.state is not State.UPLOADING or w.upload_id is None:
            return
        wait = self._governor.decide("read", now=self._clock())
        if wait is not None:
            self._gates.close("read", wait, sha=sha, why="rate_limit")
            return
        if not self._store.claim_poll(sha, owner=self._owner):
            return
        try:
            upload = self._client.get_upload(w.upload_id)
        except StravaSyncError as exc:
            if isinstance(exc, ApiError) and exc.status_code == 404:
                self._store.forget_upload(sha, owner=self._owner, error=exc.message)
                log.warning("upload_lost", path=w.path, sha256=sha, upload_id=w.upload_id,
                            error=exc.message)
            elif not self._gates.met(exc, kind="read", sha=sha):
                self._poll_failed(w, exc)
        else:
            self._apply(w, upload, now=self._clock(), learn=not w.parked)

    def _poll_failed(self, w: Workout, exc: StravaSyncError) -> None:
        """A poll that may work later: look again after a backoff."""
        failures = w.failures + 1
        at = self._backoff(failures)
        self._store.record_poll(w.sha256, owner=self._owner, last_processing_s=None,
                                next_attempt_at=at, parked=w.parked, failures=failures,
                                error=exc.message, counted=False)
        log.warning("upload_poll_failed", path=w.path, sha256=w.sha256, upload_id=w.upload_id,
                    error=exc.message, next_attempt_at=at)

    def _apply(self, w: Workout, upload: Upload, *, now: float, learn: bool) -> None:
        """Act on what Strava says of an upload (from a poll, or the POST's answer)."""
        elapsed = now - (w.posted_at if w.posted_at is not None else now)
        if upload.activity_id is not None:
            self._learn(w, elapsed, learn=learn)
            self._finish(w, State.UPLOADED, activity_id=upload.activity_id, event="upload_done",
                         upload_id=upload.id)
            return
        duplicate = upload.duplicate_of()
        if duplicate is not None:
            self._learn(w, elapsed, learn=learn)
            self._finish_duplicate(w, duplicate, upload.error or "", at="poll",
                                   upload_id=upload.id)
            return
        if upload.processing:
            polls = w.polls + 1
            delay, parked = next_poll_delay(elapsed=elapsed, polls=polls,
                                            estimate=self._estimate, timing=self._timing)
            self._store.record_poll(w.sha256, owner=self._owner, last_processing_s=elapsed,
                                    next_attempt_at=now + delay, parked=parked)
            log.info("upload_polled", path=w.path, sha256=w.sha256, upload_id=upload.id,
                     elapsed=round(elapsed, 3), polls=polls, next_in=round(delay, 3))
            if parked and not w.parked:
                log.warning("upload_parked", path=w.path, sha256=w.sha256,
                            upload_id=upload.id, elapsed=round(elapsed, 1),
                            next_attempt_at=now + delay)
            return
        reason = upload.failed_reason or upload.status
        self._finish(w, State.REJECTED, error=reason, event="upload_rejected",
                     upload_id=upload.id, promote_copy=not upload.deleted)

    def _learn(self, w: Workout, elapsed: float, *, learn: bool) -> None:
        if not learn or w.posted_at is None:
            return
        new = learn_processing_time(
            self._estimate, done_at_first_poll=w.polls == 0,
            last_processing_s=w.last_processing_s, done_s=elapsed, timing=self._timing)
        self._estimate = new
        self._store.set_meta(ESTIMATE_KEY, f"{new:.3f}")

    def _load_estimate(self) -> float:
        raw = self._store.get_meta(ESTIMATE_KEY)
        try:
            value = float(raw) if raw is not None else self._timing.initial_estimate_s
        except ValueError:
            value = self._timing.initial_estimate_s
        return min(self._timing.max_estimate_s, max(self._timing.min_estimate_s, value))

    def _finish_duplicate(
        self, w: Workout, activity_id: int | None, reason: str, *, at: str,
        upload_id: str | None = None,
    ) -> None:
        if is_own_upload(maybe_posted=w.maybe_posted, activity_id=activity_id):
            # An earlier POST of ours may have gone through: this is our own activity.
            self._finish(w, State.UPLOADED, activity_id=activity_id, event="upload_done",
                         upload_id=upload_id, duplicate_answer=at)
            return
        # Stored and logged readable: Strava's HTML link only repeats ``activity_id``.
        self._finish(w, State.DUPLICATE, activity_id=activity_id,
                     error=plain_text(reason) or None, event="upload_duplicate",
                     upload_id=upload_id)

    def _finish(
        self, w: Workout, state: State, *, event: str, activity_id: int | None = None,
        error: str | None = None, upload_id: str | None = None, promote_copy: bool = True,
        **extra: object,
    ) -> None:
        promoted = self._store.finish(w.sha256, owner=self._owner, state=state,
                                      activity_id=activity_id, error=error,
                                      promote_copy=promote_copy)
        log.info(event, path=w.path, sha256=w.sha256, upload_id=upload_id or w.upload_id,
                 activity_id=activity_id, error=error, attempts=w.attempts, **extra)
        self._payloads.take(w.sha256)
        if promoted is not None:
            log.info("upload_queued", path=promoted.path, sha256=promoted.sha256,
                     reason="the same workout in a richer format was rejected")
        if activity_id is not None and self._config.upload.after != "keep":
            done = self._store.workout(w.sha256)
            if done is not None and done.activity_id is not None:
                carry_out_after(self._config, self._store, done)
        self._gates.wake()
