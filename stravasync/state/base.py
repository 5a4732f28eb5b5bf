"""The state store's foundation: connections, transactions, meta values and reads.

One SQLite connection per thread (``threading.local``), WAL journal, ``busy_timeout``,
writes under ``BEGIN IMMEDIATE`` and ``synchronous = FULL``; a read-only mode for
``stravasync status`` that never writes (not even a migration). The transitions
live in :mod:`stravasync.state.store`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any, Self

from stravasync.errors import StateError
from stravasync.fsutil import ensure_private_dir
from stravasync.state.model import FileStatus, PathRecord, State, Workout
from stravasync.state.rows import status_at, to_path_record, to_workout
from stravasync.state.schema import SCHEMA_VERSION, current_version, migrate

__all__ = ["DB_NAME", "StoreBase"]

DB_NAME = "state.sqlite3"
_BUSY_TIMEOUT_MS = 15000


def _make_private(path: Path) -> None:
    """Create the database file 0600 (SQLite gives its -wal/-shm files the same mode);
    narrow it, and any -wal/-shm left over, if it is wider. The state folder may be an
    existing, world-readable one, and the umask is not ours to trust."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            side = path.with_name(path.name + suffix)
            if side.stat().st_mode & 0o077:
                side.chmod(0o600)


class StoreBase:
    """Connections, transactions, meta values and reads of ``state.sqlite3``."""

    def __init__(
        self, path: Path, *, clock: Callable[[], float] = time.time, read_only: bool = False
    ) -> None:
        self.path = path
        self._clock = clock
        self._read_only = read_only
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        if read_only:
            return
        try:
            ensure_private_dir(path.parent)
            _make_private(path)
            old = migrate(self._db())
        except ValueError as exc:
            raise StateError(
                f"{path} was written by a newer stravasync (schema {exc}). "
                "Upgrade stravasync, or point [state] dir elsewhere."
            ) from exc
        except (sqlite3.Error, OSError) as exc:
            raise StateError(f"Cannot open the state database {path}: {exc}") from exc
        del old

    @classmethod
    def open(
        cls, state_dir: Path, *, clock: Callable[[], float] = time.time, read_only: bool = False
    ) -> Self:
        """The store of ``state_dir`` (``state_dir/state.sqlite3``)."""
        return cls(state_dir / DB_NAME, clock=clock, read_only=read_only)

    # -- connections ----------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None:
            return db
        if self._read_only:
            if not self.path.exists():
                raise StateError(f"No state database at {self.path} yet.")
            uri = f"file:{self.path}?mode=ro"
            db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False,
                                 timeout=_BUSY_TIMEOUT_MS / 1000)
        else:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                 timeout=_BUSY_TIMEOUT_MS / 1000)
        db.row_factory = sqlite3.Row
        db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS:d}")
        if not self._read_only:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = FULL")
        else:
            version = current_version(db)
            if version != SCHEMA_VERSION:
                db.close()
                raise StateError(
                    f"{self.path} has schema version {version}, this stravasync reads "
                    f"{SCHEMA_VERSION}. Run `stravasync run --once` (or start the daemon) "
                    "to upgrade it."
                )
        self._local.db = db
        self._local.depth = 0
        with self._all_lock:
            self._all.append(db)
        return db

    def close(self) -> None:
        """Close every connection this store opened (call once all threads are done)."""
        with self._all_lock:
            for db in self._all:
                with contextlib.suppress(sqlite3.Error):
                    db.close()
            self._all.clear()
        self._local = threading.local()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``); nested uses join the outer one."""
        db = self._db()
        if self._local.depth:
            self._local.depth += 1
            try:
                yield db
            finally:
                self._local.depth -= 1
            return
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StateError(f"The state database {self.path} is busy or broken: {exc}") from exc
        self._local.depth = 1
        try:
            yield db
        except BaseException:
            self._local.depth = 0
            db.execute("ROLLBACK")
            raise
        self._local.depth = 0
        db.execute("COMMIT")

    def _now(self) -> float:
        return float(self._clock())

    # -- meta -------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        """A stored value (e.g. the learned processing time), or None."""
        row = self._db().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        """Store a value under ``key``."""
        with self.transaction() as db:
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    # -- reads --------------------------------------------------------------------------

    def workout(self, sha256: str) -> Workout | None:
        """The row of one content, or None."""
        row = self._db().execute("SELECT * FROM workouts WHERE sha256 = ?", (sha256,)).fetchone()
        return None if row is None else to_workout(row)

    def workouts(self, *, states: Collection[State] | None = None) -> list[Workout]:
        """Every workout (in the given states), oldest workout first."""
        sql = "SELECT * FROM workouts"
        args: list[Any] = []
        if states is not None:
            sql += f" WHERE state IN ({','.join('?' * len(states))})"
            args = [s.value for s in states]
        sql += " ORDER BY start_time IS NULL, start_time, first_seen_at"
        return [to_workout(r) for r in self._db().execute(sql, args)]

    def path_record(self, path: str) -> PathRecord | None:
        """What we know of one path, or None."""
        row = self._db().execute("SELECT * FROM paths WHERE path = ?", (path,)).fetchone()
        return None if row is None else to_path_record(row)

    def path_index(self) -> dict[str, PathRecord]:
        """Every known path (one query: rescans compare against this, never re-hash)."""
        return {r["path"]: to_path_record(r) for r in self._db().execute("SELECT * FROM paths")}

    def paths_of(self, sha256: str) -> list[str]:
        """Every path this content was seen at, the workout's own path first."""
        rows = self._db().execute(
            "SELECT p.path FROM paths p LEFT JOIN workouts w ON w.sha256 = p.sha256 "
            "WHERE p.sha256 = ? ORDER BY p.path != w.path, p.seen_at", (sha256,)
        )
        return [str(r["path"]) for r in rows]

    def in_flight(self, *, parked: bool = True) -> int:
        """Uploads sent (or being sent) and not finished, by any process.

        ``parked=False`` leaves out uploads Strava has been processing for minutes
        (looked at rarely): they must not hold back the queue for hours.
        """
        sql = "SELECT COUNT(*) FROM workouts WHERE state = ?"
        if not parked:
            sql += " AND parked = 0"
        row = self._db().execute(sql, (State.UPLOADING.value,)).fetchone()
        return int(row[0])

    def owners(self) -> set[str]:
        """Every owner that holds a row."""
        rows = self._db().execute("SELECT DISTINCT owner FROM workouts WHERE owner IS NOT NULL")
        return {str(r["owner"]) for r in rows}

    def due_posts(self, *, now: float, owner: str, limit: int) -> list[Workout]:
        """Rows to POST now, oldest workout first: queued, retrying, or sent-but-unanswered."""
        if limit <= 0:
            return []
        rows = self._db().execute(
            "SELECT * FROM workouts WHERE (state IN (?, ?) OR (state = ? AND upload_id IS NULL)) "
            "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
            "AND (owner IS NULL OR owner = ?) "
            "ORDER BY state != ?, start_time IS NULL, start_time, first_seen_at LIMIT ?",
            (State.QUEUED.value, State.RETRYING.value, State.UPLOADING.value, now, owner,
             State.UPLOADING.value, limit),
        )
        return [to_workout(r) for r in rows]

    def due_polls(self, *, now: float, owner: str) -> list[Workout]:
        """Uploads with an upload id whose next look is due, soonest first."""
        rows = self._db().execute(
            "SELECT * FROM workouts WHERE state = ? AND upload_id IS NOT NULL "
            "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
            "AND (owner IS NULL OR owner = ?) ORDER BY next_attempt_at",
            (State.UPLOADING.value, now, owner),
        )
        return [to_workout(r) for r in rows]

    def next_times(
        self, *, owner: str
    ) -> tuple[float | None, float | None, float | None]:
        """Earliest next time of a poll we could do, of a POST, and of a row others hold.

        None = no such row; 0 = due now.
        """
        db = self._db()
        poll = db.execute(
            "SELECT MIN(COALESCE(next_attempt_at, 0)) FROM workouts WHERE state = ? "
            "AND upload_id IS NOT NULL AND (owner IS NULL OR owner = ?)",
            (State.UPLOADING.value, owner),
        ).fetchone()[0]
        post = db.execute(
            "SELECT MIN(COALESCE(next_attempt_at, 0)) FROM workouts WHERE "
            "(state IN (?, ?) OR (state = ? AND upload_id IS NULL)) "
            "AND (owner IS NULL OR owner = ?)",
            (State.QUEUED.value, State.RETRYING.value, State.UPLOADING.value, owner),
        ).fetchone()[0]
        others = db.execute(
            "SELECT MIN(COALESCE(next_attempt_at, 0)) FROM workouts WHERE state IN (?, ?, ?) "
            "AND owner IS NOT NULL AND owner != ?",
            (State.QUEUED.value, State.RETRYING.value, State.UPLOADING.value, owner),
        ).fetchone()[0]
        return poll, post, others

    def unfinished(self, only: Collection[str] | None = None) -> list[Workout]:
        """Workouts still in an active state (restricted to ``only`` sha256s if given)."""
        rows = self.workouts(states=(State.QUEUED, State.RETRYING, State.UPLOADING))
        if only is None:
            return rows
        wanted = set(only)
        return [w for w in rows if w.sha256 in wanted]

    def counts(self) -> dict[State, int]:
        """How many status entries are in each state."""
        result = dict.fromkeys(State, 0)
        for entry in self.files():
            result[entry.state] += 1
        return result

    def files(self) -> list[FileStatus]:
        """``status`` entries: one per known path (and per workout whose file is gone)."""
        db = self._db()
        workouts = {r["sha256"]: to_workout(r) for r in db.execute("SELECT * FROM workouts")}
        result: list[FileStatus] = []
        covered: set[str] = set()
        for row in db.execute("SELECT * FROM paths ORDER BY path"):
            w = workouts.get(row["sha256"]) if row["sha256"] else None
            if w is None:
                result.append(FileStatus(
                    path=row["path"], sha256=row["sha256"], state=State.PENDING, upload_id=None,
                    activity_id=None, error=row["error"], attempts=0, next_attempt_at=None,
                    updated_at=row["seen_at"]))
                continue
            covered.add(w.sha256)
            result.append(status_at(w, row["path"]))
        for w in workouts.values():
            if w.sha256 not in covered:
                result.append(status_at(w, w.path))
        return result
