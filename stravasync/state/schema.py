"""The SQLite schema of ``state.sqlite3`` and its migrations.

The schema version lives in ``PRAGMA user_version``. :data:`MIGRATIONS` is an ordered
list: migration ``i`` (0-based) takes a database from version ``i`` to ``i + 1``, so
:data:`SCHEMA_VERSION` is ``len(MIGRATIONS)``. To change the schema, append a function;
never edit one that has shipped. All of them run inside one ``BEGIN IMMEDIATE``
transaction, so a crash mid-migration leaves the old version intact.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "current_version", "migrate"]


def _v1(db: sqlite3.Connection) -> None:
    """The first schema: workouts (one per content), the paths they were seen at, meta."""
    db.execute(
        """
        CREATE TABLE workouts (
            sha256 TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            path TEXT NOT NULL,
            format TEXT,
            gzipped INTEGER NOT NULL DEFAULT 0,
            start_time REAL,
            sport TEXT,
            sub_sport TEXT,
            duration_s REAL,
            distance_m REAL,
            points INTEGER,
            device TEXT,
            error TEXT,
            reason_code TEXT,
            upload_id TEXT,
            activity_id INTEGER,
            external_id TEXT,
            duplicate_of TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            failures INTEGER NOT NULL DEFAULT 0,
            polls INTEGER NOT NULL DEFAULT 0,
            posting INTEGER NOT NULL DEFAULT 0,
            maybe_posted INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL,
            posted_at REAL,
            last_processing_s REAL,
            parked INTEGER NOT NULL DEFAULT 0,
            owner TEXT,
            after_done INTEGER NOT NULL DEFAULT 0,
            first_seen_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            finished_at REAL
        )
        """
    )
    db.execute("CREATE INDEX workouts_by_state ON workouts (state, next_attempt_at)")
    db.execute("CREATE INDEX workouts_by_start ON workouts (start_time)")
    db.execute("CREATE INDEX workouts_by_duplicate_of ON workouts (duplicate_of)")
    db.execute(
        """
        CREATE TABLE paths (
            path TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            sha256 TEXT,
            error TEXT,
            seen_at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX paths_by_sha256 ON paths (sha256)")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


def _v2(db: sqlite3.Connection) -> None:
    """0.2: paths as bytes, the ``updating`` state's columns, ``retry`` requests.

    - ``paths.path`` and ``workouts.path`` hold ``os.fsencode(path)`` as a BLOB: a
      file name that is not UTF-8 (``Ger\\xe4t.fit`` from a FAT device) cannot be TEXT
      (Python refuses its surrogates, SQLite would not keep invalid UTF-8). Existing
      TEXT paths become their UTF-8 bytes, which is what ``os.fsencode`` gives them.
    - ``workouts.update_fields``: JSON of the ``PUT /activities/{id}`` fields still to
      send (``updating``), NULL when none; ``workouts.warning``: a warning kept on a
      finished workout (Strava refused the update).
    - ``paths.retry_requested``: ``stravasync retry`` asked for this path to be read and
      judged again; the daemon takes the requests (partial index: polling is cheap).
    - an index on ``workouts.finished_at``: the daemon tells the owner what finished
      since its last look every few seconds, without reading every row.
    """
    db.execute("UPDATE paths SET path = CAST(path AS BLOB) WHERE typeof(path) = 'text'")
    db.execute("UPDATE workouts SET path = CAST(path AS BLOB) WHERE typeof(path) = 'text'")
    db.execute("ALTER TABLE workouts ADD COLUMN update_fields TEXT")
    db.execute("ALTER TABLE workouts ADD COLUMN warning TEXT")
    db.execute("ALTER TABLE paths ADD COLUMN retry_requested INTEGER NOT NULL DEFAULT 0")
    db.execute("CREATE INDEX paths_retry_requested ON paths (path) WHERE retry_requested != 0")
    db.execute("CREATE INDEX workouts_by_finished ON workouts (finished_at)")


def _v3(db: sqlite3.Connection) -> None:
    """0.3: ``upload.after`` moves still owed, so a failed one is retried and shown.

    A move that failed (the archive full, a permission) leaves ``after_done`` 0, as
    before; these columns say why and when to try again, and survive a restart:
    ``after_error`` (the reason, NULL while nothing failed), ``after_failures``
    (consecutive failures: the backoff), ``after_next_at`` (the next try),
    ``after_failed_at`` (when it first failed). A partial index finds the owed moves
    without reading every row.
    """
    db.execute("ALTER TABLE workouts ADD COLUMN after_error TEXT")
    db.execute("ALTER TABLE workouts ADD COLUMN after_failures INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE workouts ADD COLUMN after_next_at REAL")
    db.execute("ALTER TABLE workouts ADD COLUMN after_failed_at REAL")
    db.execute("CREATE INDEX workouts_after_owed ON workouts (after_next_at) "
               "WHERE after_error IS NOT NULL")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2, _v3]
"""Ordered migrations; index ``i`` upgrades version ``i`` to ``i + 1``."""

SCHEMA_VERSION = len(MIGRATIONS)
"""The version this code reads and writes."""


def current_version(db: sqlite3.Connection) -> int:
    """The database's schema version (0 for a new, empty database)."""
    row = db.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def _checked_version(db: sqlite3.Connection) -> int:
    version = current_version(db)
    if version > SCHEMA_VERSION:
        raise ValueError(f"schema version {version} is newer than {SCHEMA_VERSION}")
    return version


def migrate(db: sqlite3.Connection) -> int:
    """Bring ``db`` (autocommit mode) up to :data:`SCHEMA_VERSION`; return the old version.

    Raises ValueError when the database is newer than this code.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        old = _checked_version(db)
        for step in MIGRATIONS[old:]:
            step(db)
        if old != SCHEMA_VERSION:
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return old
