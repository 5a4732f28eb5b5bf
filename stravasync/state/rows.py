"""Turning SQLite rows into the store's values, and small pure rules over them."""

from __future__ import annotations

import sqlite3

from stravasync.state.model import FileFacts, FileStatus, PathRecord, State, Workout

__all__ = [
    "FORMAT_RANK", "SENT_STATES", "pick_leader", "status_at", "to_path_record", "to_workout",
]

#: Richer formats first: FIT carries the most (sensors, laps), then TCX, then GPX.
FORMAT_RANK = {"fit": 0, "tcx": 1, "gpx": 2}
#: States in which a workout counts as sent (a same-workout copy then is a duplicate).
SENT_STATES = frozenset({State.UPLOADING, State.UPLOADED, State.DUPLICATE})


def to_workout(row: sqlite3.Row) -> Workout:
    return Workout(
        sha256=row["sha256"],
        state=State(row["state"]),
        path=row["path"],
        format=row["format"],
        start_time=row["start_time"],
        sport=row["sport"],
        error=row["error"],
        reason_code=row["reason_code"],
        upload_id=row["upload_id"],
        activity_id=row["activity_id"],
        external_id=row["external_id"],
        duplicate_of=row["duplicate_of"],
        attempts=row["attempts"],
        failures=row["failures"],
        polls=row["polls"],
        posting=bool(row["posting"]),
        maybe_posted=bool(row["maybe_posted"]),
        next_attempt_at=row["next_attempt_at"],
        posted_at=row["posted_at"],
        last_processing_s=row["last_processing_s"],
        parked=bool(row["parked"]),
        owner=row["owner"],
        after_done=bool(row["after_done"]),
        first_seen_at=row["first_seen_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
    )


def to_path_record(row: sqlite3.Row) -> PathRecord:
    return PathRecord(path=row["path"], size=row["size"], mtime_ns=row["mtime_ns"],
                      sha256=row["sha256"], error=row["error"])


def status_at(w: Workout, path: str) -> FileStatus:
    if path == w.path or w.state in (State.INVALID, State.SKIPPED, State.REJECTED):
        return FileStatus(path=path, sha256=w.sha256, state=w.state, upload_id=w.upload_id,
                          activity_id=w.activity_id, error=w.error, attempts=w.attempts,
                          next_attempt_at=w.next_attempt_at, updated_at=w.updated_at)
    return FileStatus(path=path, sha256=w.sha256, state=State.DUPLICATE, upload_id=None,
                      activity_id=w.activity_id, error=f"same content as {w.path}", attempts=0,
                      next_attempt_at=None, updated_at=w.updated_at)


def pick_leader(facts: FileFacts, siblings: list[Workout]) -> tuple[Workout | None, list[str]]:
    """Which existing copy the new file defers to (None: it leads), and whom it displaces."""
    if not siblings:
        return None, []
    sent = [w for w in siblings if w.state in SENT_STATES]
    if sent:
        return min(sent, key=lambda w: w.first_seen_at), []
    rank = FORMAT_RANK.get(facts.format or "", 9)
    best = min(siblings, key=lambda w: (FORMAT_RANK.get(w.format or "", 9), w.first_seen_at))
    if rank < FORMAT_RANK.get(best.format or "", 9):
        return None, [w.sha256 for w in siblings]
    return best, []
