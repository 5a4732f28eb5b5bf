"""Owns the intervals.icu POST: claim, resolve a claim left in flight, send, record.

intervals.icu answers an upload synchronously with the activity id, so the step that
replaces Strava's :class:`~stravasync.upload.transfer.Transfer` in an intervals.icu
account's engine is the whole upload: nothing is followed (:class:`NothingToFollow`),
``upload_id`` stays empty, and no poll, batch look or update is ever due.

Exactly once, as for Strava: the row is claimed (``uploading`` + ``external_id``,
derived from the content) *before* the POST. A claim whose answer was never recorded
(a crash between the POST and its record, a cut connection, a 5xx: the store's
``maybe_posted``) is resolved first, by listing the workout's day ±1 day (the list is
by local day; the zone is not known) and looking for our ``external_id``: found, it is
recorded with no second POST; not found, it is sent again.

Answers: the activity → ``uploaded`` through :class:`~stravasync.upload.outcomes.Outcomes`
(so ``upload.after`` is carried out); a file refused with a message → ``rejected``; 429 →
the ``upload`` gate and the row wait, from ``Retry-After`` doubling with each 429 in a
row; a fault → jittered backoff; a refused key halts this engine only. Strava's
rate-limit governor is not involved. Only the rules' ``name`` and ``description`` go
with the POST (``service="intervals"``).
"""

from __future__ import annotations

import gzip
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from stravasync.config.rules import settings_for
from stravasync.errors import (
    AccountCrossed,
    ApiError,
    KeyRefused,
    RateLimited,
    StravaSyncError,
    TransientError,
    UploadRejected,
)
from stravasync.intake.ingest import Payload, Validator, load_payload
from stravasync.logs import get_logger
from stravasync.state import State, Workout
from stravasync.upload.polling import Pacing, backoff_delay

if TYPE_CHECKING:
    from stravasync.config.settings import Config
    from stravasync.intake.ingest import PayloadCache
    from stravasync.intervals.client import IntervalsActivity
    from stravasync.state import Store
    from stravasync.upload.gates import Gates
    from stravasync.upload.outcomes import Outcomes
    from stravasync.upload.ports import IntervalsUploads

__all__ = ["SERVICE", "IntervalsPost", "NothingToFollow", "activity_number", "limit_wait"]

log = get_logger(__name__)

SERVICE = "intervals"
"""The ``service`` of the accounts this step uploads to (rules, logs)."""

LIMIT_CAP_S = 3600.0
"""The longest wait after 429s in a row: an hour."""


def limit_wait(retry_after: float, in_a_row: int, timing: Pacing) -> float:
    """Seconds to wait after the ``in_a_row``-th 429 in a row (pure).

    Starts from ``Retry-After`` (at least ``backoff_base_s`` when it says nothing) and
    doubles with each further 429, up to :data:`LIMIT_CAP_S` (or ``Retry-After``, if longer).
    """
    base = max(retry_after, timing.backoff_base_s)
    return min(max(LIMIT_CAP_S, base), base * 2.0 ** max(0, in_a_row - 1))


def activity_number(activity_id: str) -> int | None:
    """The number of an intervals.icu activity id (``i999`` → 999), as the store keeps it."""
    digits = activity_id.removeprefix("i")
    return int(digits) if digits.isdigit() else None


class NothingToFollow:
    """The follow step of an engine whose POST is the whole upload: never calls anyone."""

    next_look_at = float("-inf")

    def batching(self) -> bool:
        """Never: there is no upload in flight to list."""
        return False

    def follow(self) -> None:
        """Nothing to look at."""

    def poll(self, sha: str) -> None:
        """Nothing to poll (no row of this engine has an upload id)."""
        del sha

    def update(self, sha: str) -> None:
        """Nothing to update (the rules' update fields are Strava's)."""
        del sha

    def waiting_for_list(self) -> int:
        """None: nothing is ever in flight after the POST's answer."""
        return 0


class IntervalsPost:
    """The POST step of one intervals.icu account's engine."""

    def __init__(
        self, *, config: Config, account: str, store: Store, clock: Callable[[], float],
        timing: Pacing, owner: str, gates: Gates, payloads: PayloadCache, outcomes: Outcomes,
        client: IntervalsUploads, validator: Validator, rng: random.Random,
        whose: Callable[[str], str | None] | None = None,
    ) -> None:
        self._config = config
        self._account = account
        # Before the first send: is the key still the athlete the account records? (None:
        # not asked; the answer pins the athlete when none is recorded yet.)
        self._whose = whose
        self._verified = whose is None
        self._store = store
        self._clock = clock
        self._timing = timing
        self._owner = owner
        self._gates = gates
        self._payloads = payloads
        self._outcomes = outcomes
        self._client = client
        self._validator = validator
        self._rng = rng
        self._lock = threading.Lock()
        self._limited = 0  # 429s in a row, across this engine's POSTs

    def post(self, sha: str) -> None:
        """POST one due workout: claimed first, a claim in flight resolved before sending."""
        w = self._store.workout(sha)
        if w is None or not (w.state in (State.QUEUED, State.RETRYING) or (
            w.state is State.UPLOADING and w.upload_id is None
        )) or not self._gates.is_open("upload", self._clock()):
            return  # not due, or a 429 met by a POST dispatched beside it: wait with it
        payload = self._payloads.take(sha) or load_payload(self._store, w, self._validator)
        if payload.data is None or payload.format is None:
            self._outcomes.payload_missing(
                w, payload, retry_at=self._clock() + backoff_delay(w.failures + 1, self._timing,
                                                                   self._rng))
            return
        settings = settings_for(self._config.rules, path=Path(w.path), facts=payload.facts,
                                account=self._account, service=SERVICE).for_service(SERVICE)
        claimed = self._store.claim_post(sha, owner=self._owner,
                                         external_id=f"stravasync-{sha[:20]}")
        if claimed is None:
            return  # another process took it
        external_id = claimed.external_id or ""
        try:
            self._verify_athlete()
            found = self._look_for(claimed, external_id) if claimed.maybe_posted else None
            if found is None:
                data, filename = _file(w, payload, gz=self._config.upload.gzip)
                log.info("upload_started", path=w.path, sha256=sha, account=self._account,
                         service=SERVICE, attempt=claimed.attempts, external_id=external_id,
                         rules=list(settings.matched) or None)
                activity = self._client.upload(data=data, filename=filename,
                                               external_id=external_id, name=settings.name,
                                               description=settings.description)
        except UploadRejected as exc:
            self._outcomes.finish(claimed, State.REJECTED, error=exc.reason,
                                  event="upload_rejected", account=self._account)
        except StravaSyncError as exc:
            self._failed(claimed, exc)
        else:
            if found is not None:
                self._done(claimed, found, via="list")  # an earlier POST made it: none now
            else:
                self._done(claimed, activity, via="post")

    def _verify_athlete(self) -> None:
        """Once per engine: the key's athlete must be the one the account records.

        A key file replaced by another athlete's key would send this account's workouts
        to that athlete: it is refused before anything is sent, and the account stops.
        """
        if self._verified or self._whose is None:
            return
        athlete = self._client.athlete()
        problem = self._whose(athlete.id)
        if problem is not None:
            raise AccountCrossed(f"account {self._account!r}: {problem}. Nothing is sent for "
                                 f"this account until `stravasync auth --account "
                                 f"{self._account}` accepts its key")
        self._verified = True

    def _look_for(self, w: Workout, external_id: str) -> IntervalsActivity | None:
        """Our activity, if an earlier POST of ``w`` made it (its day ±1 day is listed)."""
        start = w.start_time if w.start_time is not None else self._clock()
        day = datetime.fromtimestamp(start, UTC).date()
        listed = self._client.activities(oldest=day - timedelta(days=1),
                                         newest=day + timedelta(days=1))
        found = next((a for a in listed if a.external_id == external_id), None)
        log.info("upload_looked_up", path=w.path, sha256=w.sha256, account=self._account,
                 service=SERVICE, external_id=external_id, found=found is not None)
        return found

    def _done(self, w: Workout, activity: IntervalsActivity, *, via: str) -> None:
        number = activity_number(activity.id)
        if number is None:
            self._failed(w, TransientError(
                f"intervals.icu answered with activity id {activity.id!r}, which is no "
                "number: will look for it by its external id before sending again"))
            return
        with self._lock:
            self._limited = 0
        self._outcomes.finish(w, State.UPLOADED, activity_id=number, event="upload_done",
                              via=via, account=self._account, service=SERVICE)

    def _failed(self, w: Workout, exc: StravaSyncError) -> None:
        """No answer about the file: halt for a person, wait out a 429, or back off."""
        now = self._clock()
        if isinstance(exc, KeyRefused) or exc.needs_person:
            self._release(w, State.QUEUED, sent=False, at=None, error=w.error)
            self._gates.halt(exc)
        elif isinstance(exc, RateLimited):
            with self._lock:
                self._limited += 1
                in_a_row = self._limited
            until = now + limit_wait(max(0.0, exc.until - now), in_a_row, self._timing)
            self._release(w, State.QUEUED, sent=False, at=until, error=exc.message)
            self._gates.close("upload", until, sha=w.sha256, why="rate_limit", path=w.path)
        else:
            failures = w.failures + 1
            at = now + backoff_delay(failures, self._timing, self._rng)
            # A fault after the request went out (5xx, a cut connection): it may have
            # made the activity, so the next attempt looks for it first (maybe_posted).
            self._release(w, State.RETRYING, sent=None if isinstance(exc, ApiError) else False,
                          at=at, error=exc.message, failures=failures)
            log.warning("upload_retrying", path=w.path, sha256=w.sha256, account=self._account,
                        service=SERVICE, error=exc.message, attempt=w.attempts,
                        next_attempt_at=at)

    def _release(self, w: Workout, state: State, *, sent: bool | None, at: float | None,
                 error: str | None, failures: int | None = None) -> None:
        self._store.release_post(w.sha256, owner=self._owner, state=state, sent=sent,
                                 next_attempt_at=at, error=error, failures=failures)



def _file(w: Workout, payload: Payload, *, gz: bool) -> tuple[bytes, str]:
    """The bytes to send and a file name whose extension says their format."""
    assert payload.data is not None
    assert payload.format is not None
    name = Path(w.path).name.removesuffix(".gz").removesuffix(".GZ")
    if not name.lower().endswith("." + payload.format):
        name = f"{name}.{payload.format}"
    if gz:
        return gzip.compress(payload.data, mtime=0), name + ".gz"
    return payload.data, name
