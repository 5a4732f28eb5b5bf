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
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stravasync.models import ReasonCode
from stravasync.state.base import DB_NAME, StoreBase
from stravasync.state.dedupe import (
    SAME_WORKOUT_TOLERANCE_S,
    may_be_outranked,
    next_copy,
    pick_leader,
    same_workout_error,
    same_workout_window,
)
from stravasync.state.model import (
    FINAL_STATES,
    FileFacts,
    State,
    Workout,
)
from stravasync.state.owed import OwedMoves
from stravasync.state.rows import db_path, db_text, fields_json, from_db_path, to_workout

__all__ = ["DB_NAME", "Ingested", "Store"]

_LEADER_STATES = (State.QUEUED, State.RETRYING, State.UPLOADING, State.UPDATING,
                  State.UPLOADED, State.DUPLICATE)
#: A known content that ``record_file(retry=True)`` judges again in place.
_RETRIABLE = frozenset({State.INVALID, State.SKIPPED, State.REJECTED, State.RETRYING,
                        State.PENDING})
#: Named paths ``request_retry`` leaves alone: on Strava, or on their way there.
_NOT_RETRIED = frozenset({State.UPLOADED, State.DUPLICATE, State.UPLOADING,
                          State.UPDATING})


@dataclass(frozen=True)
class Ingested:
    """What :meth:`Store.record_file` did with one file."""

    workout: Workout
    """The content's row after the change."""
    new_content: bool
    """The content was not known before (a new workout row)."""
    same_workout_as: Workout | None = None
    """The other-format workout this one was found to duplicate, if any."""
    displaced: tuple[str, ...] = ()
    """sha256s of queued poorer-format copies that this richer file replaces."""
    revived: bool = False
    """A known content was judged again like a new one, on its row: it was skipped as
    too old and is wanted now (``stravasync upload``, or a larger
    ``watch.max_age_days``), or ``stravasync retry`` asked for it."""


def _revives(known: Workout, facts: FileFacts, *, retry: bool = False) -> bool:
    """Whether a known content is judged again: a workout skipped for its age whose new
    reading (without the age rule) is queued, or, on ``retry``, any content that did
    not reach Strava and is not on its way there."""
    if retry and known.state in _RETRIABLE:
        return True
    return (known.state is State.SKIPPED and known.reason_code == ReasonCode.TOO_OLD
            and facts.state is State.QUEUED)


def _as_sent(w: Workout) -> Workout:
    """``w`` as the same-workout rules must see it: ``updating`` is on Strava (sent)."""
    return dataclasses.replace(w, state=State.UPLOADED) if w.state is State.UPDATING else w


class Store(OwedMoves, StoreBase):
    """Thread-safe access to ``state.sqlite3``; usable by two processes at once."""

    # -- ingest ---------------------------------------------------------------------------

    def mark_pending(
        self, path: str, *, size: int, mtime_ns: int, error: str | None = None
    ) -> None:
        """Record a path as seen but not (yet) read to the end; no content attached."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO paths (path, size, mtime_ns, sha256, error, seen_at) "
                "VALUES (?, ?, ?, NULL, ?, ?) ON CONFLICT (path) DO UPDATE SET "
                "size = excluded.size, mtime_ns = excluded.mtime_ns, sha256 = NULL, "
                "error = excluded.error, seen_at = excluded.seen_at",
                (db_path(path), size, mtime_ns, db_text(error), self._now()),
            )

    def record_file(
        self, path: str, *, size: int, mtime_ns: int, facts: FileFacts,
        same_workout_tolerance_s: float = SAME_WORKOUT_TOLERANCE_S, retry: bool = False,
        hold_until: float | None = None,
    ) -> Ingested:
        """Attach ``facts`` (one read of the file at ``path``) to the store.

        A content already known only gains the path. A new valid workout becomes
        ``queued`` unless another-format copy of the same workout (start within the
        tolerance, same sport) exists: then the richer format is kept queued and the
        other is marked ``duplicate`` of it (or of the one already sent). A content
        skipped as too old that ``facts`` now call ``queued`` is judged the same way in
        place (its row, and every path that shares it, are kept), with ``path`` as the
        path it is read from.

        ``retry`` (``stravasync retry`` asked for this path): a known content that did
        not reach Strava (invalid, skipped, rejected, retrying) is judged again in place
        the same way, and the path's retry request is cleared.

        ``hold_until``: a new workout that is queued is not due before then (Unix
        seconds; see ``dedupe.SIBLING_HOLD_S``), unless no other format could lead
        it (a FIT).
        """
        now = self._now()
        with self.transaction() as db:
            db.execute(
                "INSERT INTO paths (path, size, mtime_ns, sha256, error, seen_at) "
                "VALUES (?, ?, ?, ?, NULL, ?) ON CONFLICT (path) DO UPDATE SET "
                "size = excluded.size, mtime_ns = excluded.mtime_ns, sha256 = excluded.sha256, "
                "error = NULL, seen_at = excluded.seen_at, "
                "retry_requested = CASE WHEN ? THEN 0 ELSE retry_requested END",
                (db_path(path), size, mtime_ns, facts.sha256, now, int(retry)),
            )
            known = self.workout(facts.sha256)
            if known is not None and not _revives(known, facts, retry=retry):
                return Ingested(workout=known, new_content=False)
            state, error, reason, duplicate_of, activity_id = (
                facts.state, db_text(facts.error), facts.reason_code, None, None)
            leader: Workout | None = None
            displaced: list[str] = []
            if facts.state is State.QUEUED and facts.start_time is not None:
                siblings = self._same_workout(facts, tolerance=same_workout_tolerance_s)
                leader, displaced = pick_leader(facts.format, [_as_sent(w) for w in siblings])
                if leader is not None:
                    leader = next(w for w in siblings if w.sha256 == leader.sha256)
                    state, duplicate_of, activity_id = State.DUPLICATE, leader.sha256, \
                        leader.activity_id
                    error = db_text(same_workout_error(leader.path, leader.format))
                    reason = ReasonCode.SAME_WORKOUT
            finished = now if state in FINAL_STATES else None
            held = hold_until if state is State.QUEUED and may_be_outranked(facts.format) \
                else None
            if known is not None:  # revived: the same judgement, on the existing row
                db.execute(
                    "UPDATE workouts SET state = ?, path = ?, format = ?, gzipped = ?, "
                    "start_time = ?, sport = ?, sub_sport = ?, duration_s = ?, "
                    "distance_m = ?, points = ?, device = ?, error = ?, reason_code = ?, "
                    "duplicate_of = ?, activity_id = ?, failures = 0, next_attempt_at = NULL, "
                    "owner = NULL, updated_at = ?, finished_at = ? "
                    "WHERE sha256 = ? AND state = ?",
                    (state.value, db_path(path), facts.format, int(facts.gzipped),
                     facts.start_time, facts.sport, facts.sub_sport, facts.duration_s,
                     facts.distance_m, facts.points, facts.device, error, reason,
                     duplicate_of, activity_id, now, finished, facts.sha256,
                     known.state.value),
                )
            else:
                db.execute(
                    "INSERT INTO workouts (sha256, state, path, format, gzipped, start_time, "
                    "sport, sub_sport, duration_s, distance_m, points, device, error, "
                    "reason_code, duplicate_of, activity_id, first_seen_at, updated_at, "
                    "finished_at, next_attempt_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (facts.sha256, state.value, db_path(path), facts.format, int(facts.gzipped),
                     facts.start_time, facts.sport, facts.sub_sport, facts.duration_s,
                     facts.distance_m, facts.points, facts.device, error, reason, duplicate_of,
                     activity_id, now, now, finished, held),
                )
            for other in displaced:
                db.execute(
                    "UPDATE workouts SET state = ?, duplicate_of = ?, reason_code = ?, "
                    "error = ?, finished_at = ?, updated_at = ?, next_attempt_at = NULL "
                    "WHERE sha256 = ? AND state IN (?, ?) AND owner IS NULL",
                    (State.DUPLICATE.value, facts.sha256, ReasonCode.SAME_WORKOUT,
                     db_text(same_workout_error(path, facts.format)), now, now, other,
                     State.QUEUED.value, State.RETRYING.value),
                )
                db.execute("UPDATE workouts SET duplicate_of = ? WHERE duplicate_of = ?",
                           (facts.sha256, other))
            created = self.workout(facts.sha256)
            assert created is not None
            return Ingested(workout=created, new_content=known is None,
                            same_workout_as=leader, displaced=tuple(displaced),
                            revived=known is not None)

    def _same_workout(self, facts: FileFacts, *, tolerance: float) -> list[Workout]:
        assert facts.start_time is not None
        low, high = same_workout_window(facts.start_time, tolerance)
        rows = self._rows(
            "SELECT * FROM workouts WHERE start_time BETWEEN ? AND ? AND sport IS ? "
            "AND duplicate_of IS NULL AND sha256 != ? AND state IN (?, ?, ?, ?, ?, ?)",
            (low, high, facts.sport, facts.sha256, *(s.value for s in _LEADER_STATES)),
        )
        return [to_workout(r) for r in rows]

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
        """Record a final outcome (the activity id before anything touches the file).

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
                return None
            if activity_id is not None:
                db.execute("UPDATE workouts SET activity_id = ?, updated_at = ? "
                           "WHERE duplicate_of = ? AND state = ?",
                           (activity_id, now, sha256, State.DUPLICATE.value))
                return None
            if state is State.REJECTED and promote_copy:
                return self._promote_copy(sha256, now)
            return None

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

    def retry(self, paths: Collection[str] | None = None) -> list[str]:
        """Queue rejected/retrying files (all, or the named paths) for now; return their paths.

        A named ``invalid`` or ``skipped`` file is forgotten, so the next scan reads it
        again; other paths with the same content stay listed, ``pending``, and are read
        again too. Uploaded, duplicate and in-flight files are left as they are.
        """
        now = self._now()
        done: list[str] = []
        with self.transaction() as db:
            if paths is None:
                targets = [(w.path, w) for w in self.workouts(
                    states=(State.REJECTED, State.RETRYING))]
            else:
                targets = []
                for p in paths:
                    record = self.path_record(p)
                    w = self.workout(record.sha256) if record and record.sha256 else None
                    if w is not None:
                        targets.append((p, w))
            for path, w in targets:
                if w.state in (State.REJECTED, State.RETRYING):
                    db.execute(
                        "UPDATE workouts SET state = ?, error = NULL, reason_code = NULL, "
                        "failures = 0, next_attempt_at = NULL, finished_at = NULL, "
                        "updated_at = ? WHERE sha256 = ?",
                        (State.QUEUED.value, now, w.sha256))
                    done.append(path)
                elif w.state in (State.INVALID, State.SKIPPED) or (
                    w.state is State.DUPLICATE and w.reason_code == ReasonCode.SAME_WORKOUT
                    and w.activity_id is None
                ):
                    # Forget the named path; other paths of this content stay known,
                    # pending, so the next scan reads them again too.
                    db.execute("DELETE FROM paths WHERE path = ?", (db_path(path),))
                    db.execute("UPDATE paths SET sha256 = NULL, error = NULL WHERE sha256 = ?",
                               (w.sha256,))
                    db.execute("DELETE FROM workouts WHERE sha256 = ?", (w.sha256,))
                    done.append(path)
        return done

    # -- ``stravasync retry`` requests ------------------------------------------------------

    def request_retry(self, paths: Collection[str] | None = None) -> list[str]:
        """Ask for files to be read and judged again; return the paths asked for.

        Named paths in any state but uploaded, duplicate, uploading or updating (a
        pending path too), or with None every rejected and retrying file, get a retry
        request: a running daemon takes it (:meth:`take_retry_requests`) within seconds
        and reads the file again from disk (``record_file(retry=True)``). Rejected and
        retrying workouts are also put back in the queue now, as :meth:`retry` does, so
        ``run --once`` sends them even without a daemon. Unknown paths are left out.
        """
        now = self._now()
        done: list[str] = []
        with self.transaction() as db:
            targets: list[tuple[str, Workout | None]] = []
            if paths is None:
                targets = [(w.path, w) for w in self.workouts(
                    states=(State.REJECTED, State.RETRYING))]
            else:
                for path in paths:
                    record = self.path_record(path)
                    if record is not None:
                        known = self.workout(record.sha256) if record.sha256 else None
                        targets.append((path, known))
            for path, w in targets:
                if w is not None and w.state in _NOT_RETRIED:
                    continue
                requeued = w is not None and w.state in (State.REJECTED, State.RETRYING)
                if w is not None and requeued:
                    db.execute(
                        "UPDATE workouts SET state = ?, error = NULL, reason_code = NULL, "
                        "failures = 0, next_attempt_at = NULL, finished_at = NULL, "
                        "updated_at = ? WHERE sha256 = ? AND state IN (?, ?)",
                        (State.QUEUED.value, now, w.sha256, State.REJECTED.value,
                         State.RETRYING.value))
                flagged = db.execute("UPDATE paths SET retry_requested = 1 WHERE path = ?",
                                     (db_path(path),)).rowcount
                if flagged or requeued:
                    done.append(path)
        return done

    def take_retry_requests(self) -> list[str]:
        """The paths ``retry`` asked for since the last call; the requests are cleared.

        Cheap enough to call every two seconds: with no request it is one indexed read
        and writes nothing.
        """
        if self._row("SELECT 1 FROM paths WHERE retry_requested != 0 LIMIT 1") is None:
            return []
        with self.transaction() as db:
            rows = db.execute("SELECT path FROM paths WHERE retry_requested != 0").fetchall()
            db.execute("UPDATE paths SET retry_requested = 0 WHERE retry_requested != 0")
        return [from_db_path(r["path"]) for r in rows]
