"""Turning SQLite rows into the store's values, and values into what SQLite keeps.

Paths are stored as ``os.fsencode`` bytes (a BLOB) and handed out as ``str`` with
``surrogateescape``, as Python's own ``os`` functions give them: a file name that
is not UTF-8 goes in and comes back unchanged. Text meant for people (``error``,
``warning``) is stored with such bytes escaped (``\\xe4``), as it is shown.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Mapping

from stravasync.fsutil import shown
from stravasync.state.dedupe import same_content_error, shows_as_copy
from stravasync.state.model import FileStatus, PathRecord, State, Workout

__all__ = [
    "db_path",
    "db_text",
    "fields_json",
    "from_db_path",
    "status_at",
    "to_path_record",
    "to_workout",
]


def db_path(path: str) -> bytes:
    """What the ``path`` columns hold for ``path``: its bytes on disk."""
    return os.fsencode(path)


def from_db_path(value: bytes | str) -> str:
    """The ``str`` path (``surrogateescape``) of a stored ``path`` value."""
    return os.fsdecode(value) if isinstance(value, bytes) else value


def db_text(text: str | None) -> str | None:
    """``text`` as SQLite can keep it: undecodable bytes of a path become escapes."""
    if text is None:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            return shown(text)
        except UnicodeEncodeError:  # a lone surrogate that is no escaped byte
            return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def fields_json(fields: Mapping[str, object] | None) -> str | None:
    """The ``update_fields`` column for ``fields`` (NULL when there are none)."""
    if not fields:
        return None
    return json.dumps(dict(fields), sort_keys=True)


def _fields(value: str | None) -> dict[str, object] | None:
    if value is None:
        return None
    loaded = json.loads(value)
    return loaded if isinstance(loaded, dict) else None


def to_workout(row: sqlite3.Row) -> Workout:
    return Workout(
        sha256=row["sha256"],
        state=State(row["state"]),
        path=from_db_path(row["path"]),
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
        update_fields=_fields(row["update_fields"]),
        warning=row["warning"],
        after_error=row["after_error"],
        after_failures=row["after_failures"],
        after_next_at=row["after_next_at"],
        after_failed_at=row["after_failed_at"],
    )


def to_path_record(row: sqlite3.Row) -> PathRecord:
    return PathRecord(path=from_db_path(row["path"]), size=row["size"],
                      mtime_ns=row["mtime_ns"], sha256=row["sha256"], error=row["error"])


def status_at(w: Workout, path: str) -> FileStatus:
    """What ``status`` shows for ``path``, one of the paths of workout ``w``."""
    if not shows_as_copy(path=path, leader_path=w.path, state=w.state):
        return FileStatus(path=path, sha256=w.sha256, state=w.state, upload_id=w.upload_id,
                          activity_id=w.activity_id, error=w.error, attempts=w.attempts,
                          next_attempt_at=w.next_attempt_at, updated_at=w.updated_at,
                          warning=w.warning)
    return FileStatus(path=path, sha256=w.sha256, state=State.DUPLICATE, upload_id=None,
                      activity_id=w.activity_id, error=same_content_error(shown(w.path)),
                      attempts=0, next_attempt_at=None, updated_at=w.updated_at)
