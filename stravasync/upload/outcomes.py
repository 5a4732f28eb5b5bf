"""What Strava's answers mean for the store: one place that records every upload's end.

Owns the transitions that end an upload, each written before the effect that
depends on it: the activity id before ``upload.after`` touches the file; a
"duplicate" answer when an earlier POST of ours may have gone through
(``maybe_posted``) is our own activity (:func:`~stravasync.state.dedupe.is_own_upload`);
an upload still processing gets its next look (growing intervals, parked after
minutes). What is learned of how long Strava takes is told to
:class:`~stravasync.upload.learning.ProcessingTimes` at every upload's end.

The POST (:mod:`stravasync.upload.transfer`), the polls and lists (:mod:`stravasync.upload.follow`)
and the updates all record through here; nothing here calls Strava.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stravasync.logs import get_logger
from stravasync.models import ReasonCode
from stravasync.state import State, Store, Workout
from stravasync.state.dedupe import is_own_upload
from stravasync.strava.wire import echo_agrees, plain_text
from stravasync.upload.archive import Peers, carry_out_after
from stravasync.upload.polling import Pacing, next_poll_delay

if TYPE_CHECKING:
    from stravasync.config.settings import Config
    from stravasync.intake.ingest import Payload, PayloadCache
    from stravasync.strava.client import Upload
    from stravasync.upload.gates import Gates
    from stravasync.upload.learning import ProcessingTimes

__all__ = ["FOREIGN_ANSWER", "FOREIGN_ANSWER_LIMIT", "Outcomes"]

FOREIGN_ANSWER = "foreign_answer"
"""The reason code of a file given up on because Strava kept answering about another."""

FOREIGN_ANSWER_LIMIT = 5
"""Failures in a row, the last an answer about another file, after which a file needs you."""

log = get_logger(__name__)


class Outcomes:
    """Records what Strava said of uploads, for one engine (thread-safe)."""

    def __init__(
        self, *, config: Config, store: Store, timing: Pacing, owner: str, gates: Gates,
        payloads: PayloadCache, times: ProcessingTimes, peers: Peers | None = None,
    ) -> None:
        self._config = config
        self._peers = peers
        self._store = store
        self._timing = timing
        self._owner = owner
        self._gates = gates
        self._payloads = payloads
        self._times = times

    # -- answers ---------------------------------------------------------------------------

    def foreign(self, w: Workout, upload: Upload, *, asked: str | None = None) -> str | None:
        """Why Strava's ``upload`` answer describes another file than ``w``, or None.

        It does when it names another upload than the one ``asked`` for (a poll), when
        its upload id is already another file's of ours (a POST's answer), or when its
        ``external_id`` echo disagrees with ours (:func:`echo_agrees`). A missing echo
        is not held against it: the upload ids are checked anyway.
        """
        if asked is not None and upload.id != asked:
            return f"Strava answered about upload {upload.id} when asked about {asked}"
        holder = self._store.upload_holder(upload.id)
        if holder is not None and holder != w.sha256:
            return f"Strava answered with upload {upload.id}, which is another file's"
        if (upload.external_id is not None and w.external_id is not None
                and not echo_agrees(w.external_id, upload.external_id)):
            return (f"Strava answered about external id {upload.external_id!r}, "
                    f"not this file's {w.external_id!r}")
        return None

    def give_up_foreign(self, w: Workout, reason: str) -> None:
        """Strava keeps answering about another file: stop, keep the file, ask the owner.

        Final as ``rejected`` with a readable error (``stravasync retry`` sends it again).
        Nothing is recorded of the answer and nothing happens to the file; a POST that
        may have gone through is remembered (``maybe_posted``), so that a later
        "duplicate" answer to a retry counts as our own.
        """
        error = (f"Strava's answers about this file kept describing another file ({reason}). "
                 "Nothing was recorded or deleted. Check the activity on Strava, then "
                 "`stravasync retry` the file.")
        if w.upload_id is None:
            self._store.reschedule(w.sha256, state=State.REJECTED, next_attempt_at=None,
                                   error=error, reason_code=FOREIGN_ANSWER)
        else:
            self._store.finish(w.sha256, owner=self._owner, state=State.REJECTED, error=error,
                               reason_code=FOREIGN_ANSWER, promote_copy=False)
        log.error("upload_answer_foreign", path=w.path, sha256=w.sha256, error=error,
                  final=True)
        self._payloads.take(w.sha256)
        self._gates.wake()

    def apply(self, w: Workout, upload: Upload, *, now: float, learn: bool) -> None:
        """Act on what Strava says of an upload (from a poll, or the POST's answer)."""
        elapsed = now - (w.posted_at if w.posted_at is not None else now)
        if upload.activity_id is not None:
            self.found(w, upload.activity_id, now=now, learn=learn, upload_id=upload.id)
            return
        duplicate = upload.duplicate_of()
        if duplicate is not None:
            # Lists never show a duplicate: one found after looks missed it tells our
            # delay, not Strava's pace (it would push every later first look out).
            if learn and w.polls == 0:
                self._times.learn(w, done_s=elapsed)
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
            self._times.learn(w, done_s=now - (w.posted_at or now))
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
        expected = self._times.expected(w)
        if elapsed > expected and not w.parked and (seen_by != "list" or w.polls == 0):
            self._times.slower(w, elapsed=elapsed)
            expected = self._times.expected(w)
        if delay is None or parked is None:
            delay, parked = next_poll_delay(elapsed=elapsed, polls=polls, estimate=expected,
                                            timing=self._timing)
        self._store.record_poll(w.sha256, owner=self._owner, last_processing_s=elapsed,
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

    def payload_missing(self, w: Workout, payload: Payload, *, retry_at: float) -> None:
        """The bytes to send are gone: a changed file is skipped (its new content is judged
        on its own), a missing one (an unplugged device) is looked for again at ``retry_at``."""
        if payload.problem == ReasonCode.CHANGED:
            error = "the file changed before it was uploaded; its new content is handled on its own"
            self._store.reschedule(w.sha256, state=State.SKIPPED, next_attempt_at=None,
                                   error=error, reason_code=ReasonCode.CHANGED)
            log.info("file_skipped", path=w.path, sha256=w.sha256, error=error,
                     reason=ReasonCode.CHANGED)
            return
        failures = w.failures + 1
        error = "the file is not there now (device unplugged?); it will be looked for again"
        self._store.reschedule(w.sha256, state=State.RETRYING, next_attempt_at=retry_at,
                               error=error, failures=failures)
        log.warning("upload_retrying", path=w.path, sha256=w.sha256, error=error,
                    next_attempt_at=retry_at)

    def finish(
        self, w: Workout, state: State, *, event: str, activity_id: int | None = None,
        error: str | None = None, upload_id: str | None = None, promote_copy: bool = True,
        **extra: object,
    ) -> None:
        """Record the end of ``w``'s upload, then carry out ``upload.after``."""
        recorded, promoted = self._store.finish_once(
            w.sha256, owner=self._owner, state=state, activity_id=activity_id, error=error,
            promote_copy=promote_copy)
        if not recorded:  # another look (a list, a poll) recorded it first: told once
            log.debug("upload_already_final", path=w.path, sha256=w.sha256, event_seen=event)
            return
        log.info(event, path=w.path, sha256=w.sha256, upload_id=upload_id or w.upload_id,
                 activity_id=activity_id, error=error, attempts=w.attempts, **extra)
        self._payloads.take(w.sha256)
        if promoted is not None:
            log.info("upload_queued", path=promoted.path, sha256=promoted.sha256,
                     reason="the same workout in a richer format was rejected")
        if activity_id is not None and self._config.upload.after != "keep":
            done = self._store.workout(w.sha256)
            if done is not None and done.activity_id is not None:
                carry_out_after(self._config, self._store, done, peers=self._peers)
        self._gates.wake()
        self._gates.news()
