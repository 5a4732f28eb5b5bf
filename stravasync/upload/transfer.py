"""The POST: claiming a due workout, sending it, and recording Strava's first answer.

Owns the write-before-effect of the send: the row is claimed (``uploading`` +
``external_id`` + the ``[[rules]]`` update fields) before the POST, so the daemon and
a one-shot ``upload`` never both send it; the upload id is stored the moment Strava
gives it, and from then on the upload is only followed (:mod:`stravasync.upload.follow`),
never sent again. The rules' name, description, trainer and commute go with the POST.
Waits are never slept: a rate limit or a dead end closes a gate
(:class:`~stravasync.upload.gates.Gates`), an error that needs a person halts them, and a
transient failure becomes a ``next_attempt_at`` with jittered backoff. What an answer
means for the store is :mod:`stravasync.upload.outcomes`'.
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from stravasync.config.rules import RuleSettings, settings_for
from stravasync.errors import (
    ApiError,
    DuplicateActivity,
    ForeignAnswer,
    StravaSyncError,
    UploadRejected,
)
from stravasync.intake.ingest import Payload, Validator, load_payload
from stravasync.logs import get_logger
from stravasync.state import State, Workout
from stravasync.upload.outcomes import FOREIGN_ANSWER_LIMIT
from stravasync.upload.polling import Pacing, backoff_delay

if TYPE_CHECKING:
    from stravasync.config.accounts import Account
    from stravasync.config.settings import Config
    from stravasync.intake.ingest import PayloadCache
    from stravasync.state import Store
    from stravasync.strava.client import Upload
    from stravasync.upload.gates import Gates
    from stravasync.upload.learning import ProcessingTimes
    from stravasync.upload.outcomes import Outcomes
    from stravasync.upload.ports import RateGovernor, UploadClient

__all__ = ["Transfer"]

log = get_logger(__name__)

class Transfer:
    """The POST step of uploads, for one engine."""

    def __init__(
        self, *, config: Config, store: Store, clock: Callable[[], float], timing: Pacing,
        owner: str, gates: Gates, payloads: PayloadCache, outcomes: Outcomes,
        times: ProcessingTimes, client: UploadClient, governor: RateGovernor,
        validator: Validator, rng: random.Random, reserve: Callable[[], int],
        account: Account | None = None,
    ) -> None:
        self._config = config
        self._account = account or config.accounts[0]
        self._store = store
        self._clock = clock
        self._timing = timing
        self._owner = owner
        self._gates = gates
        self._payloads = payloads
        self._outcomes = outcomes
        self._times = times
        self._client = client
        self._governor = governor
        self._validator = validator
        self._rng = rng
        self._reserve = reserve

    def _backoff(self, failures: int) -> float:
        return self._clock() + backoff_delay(failures, self._timing, self._rng)

    def _claim(self, sha: str) -> tuple[Workout, Payload, int, RuleSettings] | None:
        """Claim a due workout for its POST: (claimed row, its bytes, reads kept, rules).

        None when it is not due, the rate limit says wait, its file is gone or changed,
        or another process took it.
        """
        w = self._store.workout(sha)
        if w is None or not (w.state in (State.QUEUED, State.RETRYING) or (
            w.state is State.UPLOADING and w.upload_id is None
        )):
            return None
        in_flight = self._reserve()  # reads kept back to follow the uploads in flight
        now = self._clock()
        wait = self._governor.decide("upload", now=now, reserve=in_flight)
        if wait is not None:
            self._governor.hold_uploads(until=wait, reserve=in_flight, now=now)
            self._gates.close("upload", wait, sha=sha, why="rate_limit", path=w.path)
            return None
        payload = self._payloads.take(sha) or load_payload(self._store, w, self._validator)
        if payload.data is None or payload.format is None:
            self._outcomes.payload_missing(w, payload, retry_at=self._backoff(w.failures + 1))
            return None
        settings = settings_for(self._config.rules, path=Path(w.path), facts=payload.facts,
                                account=self._account.name, service=self._account.service)
        claimed = self._store.claim_post(sha, owner=self._owner,
                                         external_id=f"stravasync-{sha[:20]}",
                                         update_fields=settings.update_fields() or None)
        return None if claimed is None else (claimed, payload, in_flight, settings)

    def post(self, sha: str) -> bool:
        """POST one due workout (claimed first, answer recorded at once).

        True when the POST reached Strava (an answer about the file, or none we can
        trust): it took an upload slot; False when nothing was sent.
        """
        taken = self._claim(sha)
        if taken is None:
            return False
        claimed, payload, in_flight, settings = taken
        w = claimed
        assert payload.data is not None
        assert payload.format is not None
        data, data_type = payload.data, payload.format
        if self._config.upload.gzip:
            data, data_type = gzip.compress(data, mtime=0), data_type + ".gz"
        log.info("upload_started", path=w.path, sha256=sha, attempt=claimed.attempts,
                 external_id=claimed.external_id, data_type=data_type,
                 rules=list(settings.matched) or None)
        try:
            upload = self._client.create_upload(
                data=data, data_type=data_type, external_id=claimed.external_id or "",
                reserve=in_flight, **settings.post_fields())
        except DuplicateActivity as exc:
            self._outcomes.finish_duplicate(claimed, exc.activity_id, exc.reason, at="post")
        except UploadRejected as exc:
            self._outcomes.finish(claimed, State.REJECTED, error=exc.reason,
                                  event="upload_rejected")
        except StravaSyncError as exc:
            return self._post_failed(claimed, exc)
        else:
            self._posted(claimed, upload)
        return True

    def _post_failed(self, w: Workout, exc: StravaSyncError) -> bool:
        """A POST that got no answer about the file: wait, halt, or back off.

        True when it may have reached Strava (the outcome is unknown).
        """
        if self._gates.met(exc, kind="upload", sha=w.sha256, path=w.path):
            # A wait or a halt is decided before sending (the governor, the token
            # store), or is Strava refusing every call: the file was not taken.
            self._release_post(w, State.QUEUED, sent=False)
            return False
        if isinstance(exc, ApiError):
            self._retry_post(w, exc)  # a transient failure: the outcome is unknown
            return True
        self._retry_post(w, exc, sent=False)  # failed before sending (tokens busy)
        return False

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

    def _foreign(self, w: Workout, reason: str) -> None:
        """The POST's answer describes another file: record nothing, try again later."""
        if w.failures + 1 >= FOREIGN_ANSWER_LIMIT:
            self._outcomes.give_up_foreign(w, reason)
            return
        log.warning("upload_answer_foreign", path=w.path, sha256=w.sha256, error=reason,
                    at="post")
        self._retry_post(w, ForeignAnswer(
            f"{reason}; nothing was recorded, and the file is sent again later."))

    def _posted(self, w: Workout, upload: Upload) -> None:
        foreign = self._outcomes.foreign(w, upload)
        if foreign is not None:
            self._foreign(w, foreign)
            return
        now = self._clock()
        self._store.record_upload(w.sha256, owner=self._owner, upload_id=upload.id,
                                  posted_at=now,
                                  next_attempt_at=self._times.first_look_at(w, now))
        log.info("upload_created", path=w.path, sha256=w.sha256, upload_id=upload.id)
        if not upload.processing:
            fresh = self._store.workout(w.sha256)
            if fresh is not None:
                self._outcomes.apply(fresh, upload, now=now, learn=False)
