"""Owns recording what a read of a file found: the path, and the content's verdict.

A path seen but not (yet) read to the end is ``pending`` (:meth:`Verdicts.mark_pending`).
A path read whole gains its content (:meth:`Verdicts.record_file`): a content already
known only gains the path; a new one becomes a workout row, ``queued`` or the
``duplicate`` of another-format copy of the same workout (the rules are
:mod:`stravasync.state.dedupe`'s); a known one skipped as too old, or one that
``stravasync retry`` asked for, is judged again in place. What intake judges is
:mod:`stravasync.intake.ingest`'s; this module only writes the verdict.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from stravasync.models import ReasonCode
from stravasync.state.base import StoreBase
from stravasync.state.dedupe import (
    SAME_WORKOUT_TOLERANCE_S,
    may_be_outranked,
    pick_leader,
    same_workout_error,
    same_workout_window,
)
from stravasync.state.model import FINAL_STATES, FileFacts, State, Workout
from stravasync.state.rows import db_path, db_text, to_workout

__all__ = ["Ingested", "Verdicts"]

_LEADER_STATES = (State.QUEUED, State.RETRYING, State.UPLOADING, State.UPDATING,
                  State.UPLOADED, State.DUPLICATE)
#: A known content that ``record_file(retry=True)`` judges again in place.
_RETRIABLE = frozenset({State.INVALID, State.SKIPPED, State.REJECTED, State.RETRYING,
                        State.PENDING})


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


class Verdicts(StoreBase):
    """The part of the store that records files as they are read (mixed into
    :class:`~stravasync.state.Store`)."""

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
