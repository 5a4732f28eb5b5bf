"""After the POST: following uploads until they are activities, and updating them.

Owns the read-limited calls of an upload's life, each written before what depends
on it and recorded through :mod:`stravasync.upload.outcomes`:

- **single polls** (``GET /uploads/{id}``): the only way to learn errors, duplicates
  and deletions, at growing intervals after the expected processing time;
- **batch lists** (``GET /athlete/activities``): with two or more uploads in flight
  and a sign-in that may list private activities (``activity:read_all``), one list
  settles every upload that has become an activity. What to send is decided by
  :func:`stravasync.upload.batch.plan`, a pure function of what is in flight, the read budget
  and ``now``; an upload missing from lists past its time gets its own poll. A crash
  between a list and its recording costs one read: the next list finds them again;
- **the update** (``PUT /activities/{id}``): the ``[[rules]]`` fields stored with the
  claim, sent once the activity id is known (the row is ``updating`` until it
  succeeds). A refusal (unknown gear) ends as ``uploaded`` with Strava's reason kept
  as a warning; the upload is never repeated because of it.
"""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from stravasync.errors import (
    ApiError,
    ForeignAnswer,
    ListScopeMissing,
    StravaSyncError,
    UpdateRefused,
)
from stravasync.logs import get_logger
from stravasync.state import State, Workout
from stravasync.strava.wire import echo_agrees
from stravasync.upload.batch import (
    BatchSettings,
    InFlight,
    ListCall,
    plan,
    reads_needed,
    relook_delay,
    settle,
    waiting_for_list,
)
from stravasync.upload.outcomes import FOREIGN_ANSWER_LIMIT
from stravasync.upload.polling import Pacing, backoff_delay

if TYPE_CHECKING:
    from collections.abc import Callable

    from stravasync.state import Store
    from stravasync.strava.client import ActivitySummary
    from stravasync.upload.gates import Gates
    from stravasync.upload.learning import ProcessingTimes
    from stravasync.upload.listing import Listing
    from stravasync.upload.outcomes import Outcomes
    from stravasync.upload.ports import RateGovernor, UploadClient

__all__ = ["Follower"]

log = get_logger(__name__)


class Follower:
    """Polls, lists and updates, for one engine (thread-safe)."""

    def __init__(
        self, *, store: Store, clock: Callable[[], float], timing: Pacing, owner: str,
        gates: Gates, outcomes: Outcomes, times: ProcessingTimes, client: UploadClient,
        governor: RateGovernor, rng: random.Random, listing: Listing,
        settings: BatchSettings | None = None,
        queue: Callable[[float, int], int] | None = None,
    ) -> None:
        """``queue(now, limit)``: POSTs waiting (counted up to ``limit``) on every engine
        that shares ``governor``, so that a backlog is judged against the app's budget;
        None: this engine's own."""
        self._store = store
        self._clock = clock
        self._timing = timing
        self._owner = owner
        self._gates = gates
        self._outcomes = outcomes
        self._times = times
        self._client = client
        self._governor = governor
        self._rng = rng
        self._settings = settings or BatchSettings()
        self._lock = threading.Lock()
        self._last_list_at: float | None = None
        self._probe_settled = False
        self._next_look_at = float("-inf")
        self._listing = listing
        self._queue = queue or self._own_queue

    # -- which way ---------------------------------------------------------------------------

    def can_list(self) -> bool:
        """Whether lists may settle uploads now (:class:`~stravasync.upload.listing.Listing`)."""
        return self._listing.can_list()

    def in_flight(self) -> list[InFlight]:
        """The uploads posted and not settled that this engine may look at."""
        found = []
        for w in self._store.workouts(states=(State.UPLOADING,)):
            if w.upload_id is None or w.posted_at is None or (
                w.owner is not None and w.owner != self._owner
            ):
                continue
            found.append(InFlight(
                upload_id=w.upload_id, posted_at=w.posted_at, start_time=w.start_time,
                polls=w.polls, due_at=w.next_attempt_at or 0.0,
                expected_s=self._times.expected(w), parked=w.parked))
        return found

    def batching(self) -> bool:
        """Whether uploads in flight are followed by lists now (two or more can be)."""
        if not self.can_list():
            return False
        listable = [u for u in self.in_flight() if u.start_time is not None and not u.parked]
        return len(listable) >= self._settings.min_batch

    @property
    def next_look_at(self) -> float:
        """When :meth:`follow` wants to run again (it decided to wait until then)."""
        with self._lock:
            return self._next_look_at

    def reads_to_keep(self) -> int:
        """Reads to keep back for the uploads in flight (a POST's ``reserve``)."""
        return reads_needed(self.in_flight(), can_list=self.can_list(),
                            settings=self._settings)

    def _own_queue(self, now: float, limit: int) -> int:
        """POSTs waiting in this engine's store (counted up to ``limit``)."""
        return len(self._store.due_posts(now=now, owner=self._owner, limit=limit))

    def waiting_for_list(self) -> int:
        """Uploads in flight holding no POST slot now (ripe ones waiting for a list)."""
        now = self._clock()
        if not self.can_list():
            return 0
        uploads = self.in_flight()
        if not uploads:
            return 0
        return waiting_for_list(uploads, can_list=True, now=now, queued=self._queue(now, 1) > 0,
                                settings=self._settings)

    # -- lists -------------------------------------------------------------------------------

    def follow(self) -> None:
        """Send what :func:`~stravasync.upload.batch.plan` says: one list, and the single polls."""
        now = self._clock()
        uploads = self.in_flight()
        by_id = {w.upload_id: w for w in self._store.workouts(states=(State.UPLOADING,))
                 if w.upload_id is not None}
        budget = self._governor.reads_left(now=now)
        # Workouts waiting for a POST beyond what the window's calls can take: a backlog.
        waiting = self._queue(now, budget + 1)
        with self._lock:
            decided = plan(uploads=uploads, can_list=self.can_list(), read_budget=budget,
                           now=now, last_list_at=self._last_list_at,
                           probe_settled=self._probe_settled, posts_waiting=waiting,
                           settings=self._settings)
            # Nothing to send now (the gap between lists, a spent budget): hold until then.
            # Otherwise the rows' own due times say when to look again.
            idle = decided.list_call is None and not decided.polls
            self._next_look_at = (decided.next_look_at or float("-inf")) if idle else float(
                "-inf")
        settled: set[str] = set()
        if decided.list_call is not None:
            settled = self._list(decided.list_call, uploads, by_id)
        for upload_id in decided.polls:
            w = by_id.get(upload_id)
            if w is None or upload_id in settled:
                continue
            final = self.poll(w.sha256)
            if upload_id in decided.probes:
                with self._lock:
                    self._probe_settled = final
        self._listing.publish()
        self._gates.wake()

    def _list(
        self, call: ListCall, uploads: list[InFlight], by_id: dict[str, Workout]
    ) -> set[str]:
        """Send one list (and its further pages); record what it settled and missed."""
        settled: set[str] = set()
        page: ListCall | None = call
        while page is not None:
            wait = self._governor.decide("read", now=self._clock())
            if wait is not None:
                self._gates.close("read", wait, sha="", why="rate_limit")
                return settled
            with self._lock:
                self._last_list_at = self._clock()
            try:
                found = self._client.list_activities(**page.params())
            except ListScopeMissing:
                self._listing.refused()  # poll each upload instead
                return settled
            except StravaSyncError as exc:
                if not self._gates.met(exc, kind="read", sha=""):
                    self._listing.failed(exc.message)  # poll them until lists work again
                return settled
            self._listing.answered()
            summaries = [{"id": a.id, "upload_id_str": self._ours(a, by_id),
                          "start_date": datetime.fromtimestamp(a.start_time, UTC).isoformat()}
                         for a in found]
            answer = settle(call=page, summaries=summaries, uploads=uploads)
            now = self._clock()
            for upload_id, activity_id in answer.found.items():
                w = by_id.get(upload_id)
                fresh = self._store.workout(w.sha256) if w is not None else None
                if fresh is None or fresh.state is not State.UPLOADING:
                    continue
                self._outcomes.found(fresh, activity_id, now=now, learn=True,
                                     upload_id=upload_id, via="list")
                settled.add(upload_id)
            for upload_id in answer.absent:
                w = by_id.get(upload_id)
                if w is not None:
                    self._missed(w, now=now)
            log.info("activity_list_seen", page=page.page, activities=len(found),
                     settled=len(answer.found), missing=len(answer.absent))
            page = answer.next_page
        return settled

    @staticmethod
    def _ours(a: ActivitySummary, by_id: dict[str, Workout]) -> str | None:
        """``a``'s upload id, unless it is one of ours whose ``external_id`` disagrees.

        List entries always carry the ``external_id`` of an uploaded activity, so a
        missing one disagrees too. Such an entry settles nothing: the upload is missed
        by this list, and its own poll (which checks the answer again) tells.
        """
        w = by_id.get(a.upload_id) if a.upload_id is not None else None
        if w is None or w.external_id is None:
            return a.upload_id
        if a.external_id is not None and echo_agrees(w.external_id, a.external_id):
            return a.upload_id
        log.warning("upload_answer_foreign", path=w.path, sha256=w.sha256, at="list",
                    upload_id=a.upload_id, external_id=a.external_id, ours=w.external_id)
        return None

    def _missed(self, w: Workout, *, now: float) -> None:
        """A complete list lacked ``w``: a look that found it still processing."""
        fresh = self._store.workout(w.sha256)
        if fresh is None or fresh.state is not State.UPLOADING:
            return
        if fresh.upload_id is not None:
            self._listing.missed(fresh.upload_id)
        elapsed = now - (fresh.posted_at or now)
        delay, parked = relook_delay(elapsed=elapsed, polls=fresh.polls + 1,
                                     expected_s=self._times.expected(fresh),
                                     timing=self._timing, settings=self._settings)
        self._outcomes.processing(fresh, now=now, seen_by="list", delay=delay, parked=parked)

    # -- single polls ------------------------------------------------------------------------

    def poll(self, sha: str) -> bool:
        """Look at one due upload and act on what Strava says; True if it is settled."""
        w = self._store.workout(sha)
        if w is None or w.state is not State.UPLOADING or w.upload_id is None:
            return False
        wait = self._governor.decide("read", now=self._clock())
        if wait is not None:
            self._gates.close("read", wait, sha=sha, why="rate_limit", path=w.path)
            return False
        if not self._store.claim_poll(sha, owner=self._owner):
            return False
        try:
            upload = self._client.get_upload(w.upload_id)
        except StravaSyncError as exc:
            if isinstance(exc, ApiError) and exc.status_code == 404:
                self._store.forget_upload(sha, owner=self._owner, error=exc.message)
                log.warning("upload_lost", path=w.path, sha256=sha, upload_id=w.upload_id,
                            error=exc.message)
            elif not self._gates.met(exc, kind="read", sha=sha, path=w.path):
                self._poll_failed(w, exc)
            return False
        foreign = self._outcomes.foreign(w, upload, asked=w.upload_id)
        if foreign is not None:
            self._foreign(w, foreign)
            return False
        self._outcomes.apply(w, upload, now=self._clock(), learn=not w.parked)
        if not upload.processing:
            self._listing.polled(w.upload_id, activity=upload.activity_id is not None)
        return not upload.processing

    def _foreign(self, w: Workout, reason: str) -> None:
        """A poll's answer describes another file: record nothing, look again later."""
        if w.failures + 1 >= FOREIGN_ANSWER_LIMIT:
            self._outcomes.give_up_foreign(w, reason)
            return
        log.warning("upload_answer_foreign", path=w.path, sha256=w.sha256, error=reason,
                    at="poll")
        self._poll_failed(w, ForeignAnswer(
            f"{reason}; nothing was recorded, and the upload is looked at again later."))

    def _poll_failed(self, w: Workout, exc: StravaSyncError) -> None:
        """A poll that may work later: look again after a backoff."""
        failures = w.failures + 1
        at = self._clock() + backoff_delay(failures, self._timing, self._rng)
        self._store.record_poll(w.sha256, owner=self._owner, last_processing_s=None,
                                next_attempt_at=at, parked=w.parked, failures=failures,
                                error=exc.message, counted=False)
        log.warning("upload_poll_failed", path=w.path, sha256=w.sha256, upload_id=w.upload_id,
                    error=exc.message, next_attempt_at=at)

    # -- the update --------------------------------------------------------------------------

    def update(self, sha: str) -> None:
        """Send the ``[[rules]]`` update of one activity (``updating`` until it is done)."""
        w = self._store.workout(sha)
        if w is None or w.state is not State.UPDATING or w.activity_id is None:
            return
        fields = w.update_fields or {}
        wait = self._governor.decide("read", now=self._clock())
        if wait is not None:
            self._gates.close("read", wait, sha=sha, why="rate_limit", path=w.path)
            return
        claimed = self._store.claim_update(sha, owner=self._owner)
        if claimed is None:
            return
        if not fields:
            self._store.finish_update(sha, owner=self._owner)
            return
        try:
            self._client.update_activity(w.activity_id, fields)
        except UpdateRefused as exc:
            self._store.finish_update(sha, owner=self._owner, warning=exc.message)
            log.warning("activity_update_refused", path=w.path, sha256=sha,
                        activity_id=w.activity_id, error=exc.message)
        except StravaSyncError as exc:
            self._update_failed(claimed, exc)
        else:
            self._store.finish_update(sha, owner=self._owner)
            log.info("activity_updated", path=w.path, sha256=sha, activity_id=w.activity_id,
                     fields=sorted(fields))
        self._gates.wake()

    def _update_failed(self, w: Workout, exc: StravaSyncError) -> None:
        """An update that may work later (5xx, network, a rate limit): stay ``updating``."""
        now = self._clock()
        failures = w.failures + 1
        at = exc.wait_until(now) or now + backoff_delay(failures, self._timing, self._rng)
        self._gates.met(exc, kind="read", sha=w.sha256, path=w.path)
        self._store.retry_update(w.sha256, owner=self._owner, next_attempt_at=at,
                                 error=exc.message, failures=failures)
        log.warning("activity_update_failed", path=w.path, sha256=w.sha256,
                    activity_id=w.activity_id, error=exc.message, next_attempt_at=at)
