"""The SQLite state store: the single source of truth about every file and upload.

Owns ``state_dir/state.sqlite3``: one row per workout content (``workouts``, keyed
by sha256), the paths each content was seen at (``paths``: path, size, mtime_ns,
sha256) and small learned values (``meta``). Every method is one transaction, and
every transition is a conditional ``UPDATE`` so that two threads or two processes
(the daemon and a one-shot ``stravasync upload``) never both claim one row.

Concurrency: one connection per thread (``threading.local``), WAL journal,
``busy_timeout``, writes under ``BEGIN IMMEDIATE``, ``synchronous = FULL`` so a
committed transition survives a power cut. Claims carry an ``owner``
(``host:pid@start``: the start time tells a reused pid apart); a row owned by a dead
process is free again (see :meth:`Store.release_dead_owners`).

The store is put together from parts with one job each, mixed into :class:`Store`:
recording files as they are read (:mod:`stravasync.state.verdicts`),
``stravasync retry`` (:mod:`stravasync.state.retries`) and the ``upload.after`` moves
still owed (:mod:`stravasync.state.owed`). This module keeps the upload's transitions
(claim, POST, poll, finish, the activity's update), scheduling and path bookkeeping.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from stravasync.models import ReasonCode
from stravasync.state.base import DB_NAME, StoreBase
from stravasync.state.dedupe import next_copy
from stravasync.state.model import FINAL_STATES, State, Workout
from stravasync.state.owed import OwedMoves
from stravasync.state.retries import RetryRequests
from stravasync.state.rows import db_path, db_text, fields_json, from_db_path, to_workout
from stravasync.state.verdicts import Ingested, Verdicts

__all__ = ["DB_NAME", "Ingested", "Store"]


class Store(Verdicts, RetryRequests, OwedMoves, StoreBase):
    """Thread-safe access to ``state.sqlite3``; usable by two processes at once."""

    # -- the upload's transitions ---------------------------------------------------------

    def _update(self, sql: str, args: Iterable[Any]) -> int:
        with self.transaction() as db:
            return db.execute(sql, tuple(args)).rowcount

    def claim_post(
        self, sha256: str, *, owner: str, external_id: str,
        update_fields: Mapping[str, object] | None = None,
    ) -> Workout | None:
        """Mark a row ``uploading`` with its external_id *before* its POST; None if taken.

        A leftover ``posting`` flag (a POST whose answer was never recorded) turns into
        ``maybe_posted``: Strava may hold our activity already. ``update_fields`` (the
        ``[[rules]]`` fields of the later ``PUT /activities/{id}``) are stored with the
        claim, so that the update survives a crash between the POST and the activity.
        """
        now = self._now()
        changed = self._update(
            "UPDATE workouts SET state = ?, owner = ?, external_id = ?, attempts = attempts + 1, "
            "maybe_posted = (maybe_posted OR posting), posting = 1, upload_id = NULL, "
            "polls = 0, parked = 0, posted_at = NULL, last_processing_s = NULL, "
            "next_attempt_at = NULL, updated_at = ?, update_fields = ? "
            "WHERE sha256 = ? AND (state IN (?, ?) OR (state = ? AND upload_id IS NULL)) "
            "AND (owner IS NULL OR owner = ?)",
            (State.UPLOADING.value, owner, external_id, now, fields_json(update_fields),
             sha256, State.QUEUED.value, State.RETRYING.value, State.UPLOADING.value, owner),
        )
        return self.workout(sha256) if changed == 1 else None

    def release_post(
        self, sha256: str, *, owner: str, state: State, sent: bool | None,
        next_attempt_at: float | None, error: str | None, failures: int | None = None,
    ) -> None:
        """Undo a claim whose POST made no upload: ``sent`` False = surely not created
        (then the claim does not count as an attempt), None = unknown (then
        ``maybe_posted`` is set)."""
        self._update(
            "UPDATE workouts SET state = ?, owner = NULL, posting = 0, "
            "maybe_posted = (maybe_posted OR ?), next_attempt_at = ?, error = ?, "
            "failures = COALESCE(?, failures), attempts = MAX(0, attempts - ?), "
            "updated_at = ? "
            "WHERE sha256 = ? AND state = ? AND upload_id IS NULL AND owner = ?",
            (state.value, int(sent is None or sent), next_attempt_at, db_text(error), failures,
             int(sent is False), self._now(), sha256, State.UPLOADING.value, owner),
        )

    def record_upload(
        self, sha256: str, *, owner: str, upload_id: str, posted_at: float,
        next_attempt_at: float,
    ) -> None:
        """Store the upload id the moment Strava gives it; from now on poll, never re-send."""
        self._update(
            "UPDATE workouts SET upload_id = ?, posting = 0, posted_at = ?, polls = 0, "
            "failures = 0, error = NULL, next_attempt_at = ?, updated_at = ? "
            "WHERE sha256 = ? AND state = ? AND owner = ?",
            (upload_id, posted_at, next_attempt_at, self._now(), sha256,
             State.UPLOADING.value, owner),
        )

    def upload_holder(self, upload_id: str) -> str | None:
        """The sha256 of the workout that holds Strava upload ``upload_id``, or None."""
        row = self._row("SELECT sha256 FROM workouts WHERE upload_id = ? LIMIT 1", (upload_id,))
        return None if row is None else str(row["sha256"])

    def claim_poll(self, sha256: str, *, owner: str) -> bool:
        """Take (or keep) the row for polling; False if another live process holds it."""
        return self._update(
            "UPDATE workouts SET owner = ? WHERE sha256 = ? AND state = ? "
            "AND upload_id IS NOT NULL AND (owner IS NULL OR owner = ?)",
            (owner, sha256, State.UPLOADING.value, owner),
        ) == 1

    def record_poll(
        self, sha256: str, *, owner: str, last_processing_s: float | None,
        next_attempt_at: float, parked: bool, failures: int = 0, error: str | None = None,
        counted: bool = True,
    ) -> None:
        """A poll that found the upload still processing (or failed): when to look again."""
        self._update(
            "UPDATE workouts SET polls = polls + ?, "
            "last_processing_s = COALESCE(?, last_processing_s), next_attempt_at = ?, "
            "parked = ?, failures = ?, error = ?, updated_at = ? "
            "WHERE sha256 = ? AND state = ? AND owner = ?",
            (int(counted), last_processing_s, next_attempt_at, int(parked), failures,
             db_text(error), self._now(), sha256, State.UPLOADING.value, owner),
        )

    def forget_upload(self, sha256: str, *, owner: str, error: str) -> None:
        """Strava does not know the upload id (404): send again (``maybe_posted`` set)."""
        self._update(
            "UPDATE workouts SET state = ?, upload_id = NULL, owner = NULL, posting = 0, "
            "maybe_posted = 1, error = ?, next_attempt_at = NULL, updated_at = ? "
            "WHERE sha256 = ? AND state = ? AND owner = ?",
            (State.QUEUED.value, db_text(error), self._now(), sha256, State.UPLOADING.value, owner),
        )

    def finish(
        self, sha256: str, *, owner: str | None, state: State, activity_id: int | None = None,
        error: str | None = None, reason_code: str | None = None, promote_copy: bool = True,
        update_fields: Mapping[str, object] | None = None,
    ) -> Workout | None:
        """Record a final outcome; see :meth:`finish_once` (this returns its promoted copy)."""
        return self.finish_once(sha256, owner=owner, state=state, activity_id=activity_id,
                                error=error, reason_code=reason_code,
                                promote_copy=promote_copy, update_fields=update_fields)[1]

    def finish_once(
        self, sha256: str, *, owner: str | None, state: State, activity_id: int | None = None,
        error: str | None = None, reason_code: str | None = None, promote_copy: bool = True,
        update_fields: Mapping[str, object] | None = None,
    ) -> tuple[bool, Workout | None]:
        """Record a final outcome (the activity id before anything touches the file).

        Returns whether this call recorded it (False: the row was final already, e.g. a
        list and a poll answered at once) and the promoted copy, if any.

        Same-workout copies in other formats follow: they learn the activity id, or,
        when this one was rejected, the richest of them is queued in its place
        (``promote_copy``; not when Strava made the activity and it was then deleted:
        that workout was on Strava once, a copy must not bring it back). Returns the
        promoted copy, if any.

        ``update_fields`` (the ``[[rules]]`` fields of ``PUT /activities/{id}``), given
        with ``uploaded`` and an activity id, makes the row ``updating`` instead, due
        now, with the fields stored *before* the PUT (see :meth:`due_updates`,
        :meth:`claim_update`, :meth:`finish_update`, :meth:`retry_update`). None: the
        fields stored with the claim (:meth:`claim_post`), if any. Never for a
        ``duplicate``: that activity may predate us.
        """
        if state not in FINAL_STATES:
            raise ValueError(f"{state} is not a final state")
        now = self._now()
        fields = fields_json(update_fields)
        if fields is None and state is State.UPLOADED:
            row = self._row("SELECT update_fields FROM workouts WHERE sha256 = ?", (sha256,))
            fields = row["update_fields"] if row is not None else None
        updating = fields is not None and state is State.UPLOADED and activity_id is not None
        with self.transaction() as db:
            changed = db.execute(
                "UPDATE workouts SET state = ?, activity_id = COALESCE(?, activity_id), "
                "error = ?, reason_code = ?, owner = NULL, posting = 0, next_attempt_at = ?, "
                "parked = 0, finished_at = ?, updated_at = ?, update_fields = ?, "
                "failures = CASE WHEN ? THEN 0 ELSE failures END "
                "WHERE sha256 = ? AND (owner IS ? OR owner IS NULL) AND state NOT IN (?, ?, ?)",
                (State.UPDATING.value if updating else state.value, activity_id,
                 db_text(error), reason_code, now if updating else None,
                 None if updating else now, now, fields if updating else None, int(updating),
                 sha256, owner,
                 State.UPLOADED.value, State.DUPLICATE.value, State.UPDATING.value),
            ).rowcount
            if changed != 1:
                return False, None
            if activity_id is not None:
                db.execute("UPDATE workouts SET activity_id = ?, updated_at = ? "
                           "WHERE duplicate_of = ? AND state = ?",
                           (activity_id, now, sha256, State.DUPLICATE.value))
                return True, None
            if state is State.REJECTED and promote_copy:
                return True, self._promote_copy(sha256, now)
            return True, None

    def _promote_copy(self, rejected: str, now: float) -> Workout | None:
        db = self._db()
        copies = [to_workout(r) for r in db.execute(
            "SELECT * FROM workouts WHERE duplicate_of = ? AND state = ? AND reason_code = ?",
            (rejected, State.DUPLICATE.value, ReasonCode.SAME_WORKOUT))]
        best = next_copy(copies)
        if best is None:
            return None
        db.execute("UPDATE workouts SET state = ?, duplicate_of = NULL, error = NULL, "
                   "reason_code = NULL, finished_at = NULL, activity_id = NULL, "
                   "next_attempt_at = NULL, updated_at = ? WHERE sha256 = ?",
                   (State.QUEUED.value, now, best.sha256))
        db.execute("UPDATE workouts SET duplicate_of = ? WHERE duplicate_of = ?",
                   (best.sha256, rejected))
        return self.workout(best.sha256)

    # -- the activity's update (``updating``) ----------------------------------------------

    def claim_update(self, sha256: str, *, owner: str) -> Workout | None:
        """Take (or keep) an ``updating`` row for its PUT; None if another process holds it."""
        changed = self._update(
            "UPDATE workouts SET owner = ? WHERE sha256 = ? AND state = ? "
            "AND (owner IS NULL OR owner = ?)",
            (owner, sha256, State.UPDATING.value, owner),
        )
        return self.workout(sha256) if changed == 1 else None

    def finish_update(self, sha256: str, *, owner: str, warning: str | None = None) -> None:
        """The update is done (or refused for good: ``warning`` says why): ``uploaded``."""
        now = self._now()
        self._update(
            "UPDATE workouts SET state = ?, update_fields = NULL, warning = ?, owner = NULL, "
            "error = NULL, failures = 0, next_attempt_at = NULL, finished_at = ?, "
            "updated_at = ? WHERE sha256 = ? AND state = ? AND (owner IS NULL OR owner = ?)",
            (State.UPLOADED.value, db_text(warning), now, now, sha256, State.UPDATING.value,
             owner),
        )

    def retry_update(
        self, sha256: str, *, owner: str, next_attempt_at: float, error: str, failures: int,
    ) -> None:
        """The update failed for now (5xx, network): stay ``updating``, try again later.

        The row is let go, so any process may send it when it is due.
        """
        self._update(
            "UPDATE workouts SET next_attempt_at = ?, error = ?, failures = ?, owner = NULL, "
            "updated_at = ? WHERE sha256 = ? AND state = ? AND (owner IS NULL OR owner = ?)",
            (next_attempt_at, db_text(error), failures, self._now(), sha256,
             State.UPDATING.value, owner),
        )

    # -- scheduling -------------------------------------------------------------------------

    def reschedule(
        self, sha256: str, *, state: State, next_attempt_at: float | None, error: str | None,
        failures: int | None = None, reason_code: str | None = None,
    ) -> None:
        """Put a not-yet-sent row back to ``queued``/``retrying`` (or final) with a time."""
        self._update(
            "UPDATE workouts SET state = ?, next_attempt_at = ?, error = ?, "
            "failures = COALESCE(?, failures), reason_code = ?, owner = NULL, updated_at = ?, "
            "maybe_posted = (maybe_posted OR posting), posting = 0, "
            "finished_at = CASE WHEN ? THEN ? ELSE NULL END "
            "WHERE sha256 = ? AND (state IN (?, ?) OR (state = ? AND upload_id IS NULL))",
            (state.value, next_attempt_at, db_text(error), failures, reason_code, self._now(),
             int(state in FINAL_STATES), self._now(), sha256, State.QUEUED.value,
             State.RETRYING.value, State.UPLOADING.value),
        )

    def delay(self, sha256: str, *, next_attempt_at: float, error: str) -> None:
        """Push an active row's next attempt back (after an unexpected failure)."""
        self._update(
            "UPDATE workouts SET next_attempt_at = ?, error = ?, failures = failures + 1, "
            "updated_at = ? WHERE sha256 = ? AND state IN (?, ?, ?, ?)",
            (next_attempt_at, db_text(error), self._now(), sha256, State.QUEUED.value,
             State.RETRYING.value, State.UPLOADING.value, State.UPDATING.value),
        )

    def mark_after_done(self, sha256: str) -> None:
        """``upload.after`` (keep/move/delete) is carried out for this content."""
        self._update("UPDATE workouts SET after_done = 1, after_error = NULL, "
                     "after_next_at = NULL, updated_at = ? WHERE sha256 = ?",
                     (self._now(), sha256))

    def move_path(self, old: str, new: str, *, size: int, mtime_ns: int) -> None:
        """A file was archived from ``old`` to ``new``."""
        with self.transaction() as db:
            old_key, new_key = db_path(old), db_path(new)
            db.execute("DELETE FROM paths WHERE path = ?", (new_key,))
            db.execute("UPDATE paths SET path = ?, size = ?, mtime_ns = ? WHERE path = ?",
                       (new_key, size, mtime_ns, old_key))
            db.execute("UPDATE workouts SET path = ? WHERE path = ?", (new_key, old_key))

    def keep_sent_content(self, path: str, *, size: int, mtime_ns: int, note: str) -> bool:
        """The file at ``path`` changed into something that is no new workout (emptied):
        it keeps showing the content it held, with ``note``; False if it held none."""
        return self._update(
            "UPDATE paths SET size = ?, mtime_ns = ?, error = ?, seen_at = ? "
            "WHERE path = ? AND sha256 IS NOT NULL",
            (size, mtime_ns, db_text(note), self._now(), db_path(path))) > 0

    def forget_path(self, path: str) -> None:
        """A file is gone (deleted after upload): drop its path row, keep the workout."""
        self._update("DELETE FROM paths WHERE path = ?", (db_path(path),))

    def release_dead_owners(self, is_alive: Callable[[str], bool]) -> list[str]:
        """Free rows held by owners that are gone (a crashed process); return them."""
        dead = [o for o in self.owners() if not is_alive(o)]
        for owner in dead:
            self._update("UPDATE workouts SET owner = NULL WHERE owner = ?", (owner,))
        return dead

    def release_owner(self, owner: str, *, keep: Collection[str] = ()) -> None:
        """Let go of every row ``owner`` holds except ``keep`` (on a clean stop)."""
        with self.transaction() as db:
            rows = db.execute("SELECT sha256 FROM workouts WHERE owner = ?", (owner,)).fetchall()
            for row in rows:
                if row["sha256"] not in keep:
                    db.execute("UPDATE workouts SET owner = NULL WHERE sha256 = ? AND owner = ?",
                               (row["sha256"], owner))

    def prune_missing(self, exists: Callable[[str], bool] = os.path.exists) -> int:
        """Forget files that are gone and were never sent; return how many entries went.

        Pending paths and invalid/skipped files whose file no longer exists are dropped.
        Queued work is kept (an unplugged device comes back), and so is everything that
        reached Strava (the record of what was uploaded).
        """
        removed = 0
        with self.transaction() as db:
            rows = db.execute(
                "SELECT p.path, p.sha256, w.state FROM paths p "
                "LEFT JOIN workouts w ON w.sha256 = p.sha256").fetchall()
            for row in rows:
                never_sent = row["state"] is None or row["state"] in (
                    State.INVALID.value, State.SKIPPED.value)
                if never_sent and not exists(from_db_path(row["path"])):
                    db.execute("DELETE FROM paths WHERE path = ?", (row["path"],))
                    removed += 1
            removed += db.execute(
                "DELETE FROM workouts WHERE state IN (?, ?) AND NOT EXISTS "
                "(SELECT 1 FROM paths p WHERE p.sha256 = workouts.sha256)",
                (State.INVALID.value, State.SKIPPED.value)).rowcount
        return removed

