"""Turning SQLite rows into the store's values."""

from __future__ import annotations

import sqlite3

from stravasync.dedupe import same_content_error, shows_as_copy
from stravasync.state.model import FileStatus, PathRecord, State, Workout

__all__ = ["status_at", "to_path_record", "to_workout"]

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
    """What ``status`` shows for ``path``, one of the paths of workout ``w``."""
    if not shows_as_copy(path=path, leader_path=w.path, state=w.state):
        return FileStatus(path=path, sha256=w.sha256, state=w.state, upload_id=w.upload_id,
                          activity_id=w.activity_id, error=w.error, attempts=w.attempts,
                          next_attempt_at=w.next_attempt_at, updated_at=w.updated_at)
    return FileStatus(path=path, sha256=w.sha256, state=State.DUPLICATE, upload_id=None,
                      activity_id=w.activity_id, error=same_content_error(w.path), attempts=0,
                      next_attempt_at=None, updated_at=w.updated_at)
