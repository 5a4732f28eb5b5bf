"""The state store's foundation: connections, transactions, meta values and reads.

One SQLite connection per thread (``threading.local``), WAL journal, ``busy_timeout``,
writes under ``BEGIN IMMEDIATE`` and ``synchronous = FULL``; a read-only mode for
``stravasync status`` that never writes (not even a migration). The transitions
live in :mod:`stravasync.state.store`.

This is the store's error boundary: every sqlite3 (and file system) error of the
database becomes a :class:`~stravasync.errors.StateError` here, in
:func:`translate`: :class:`~stravasync.errors.StateUnwritable` for a full disk, a
read-only or failing file system (it passes: retry),
:class:`~stravasync.errors.StateCorrupt` for a damaged database (a person runs
``stravasync state reset``). Nothing above the store catches ``sqlite3.Error``; one
that still escapes is a bug of ours (a wrong statement) and is raised as it is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import Any, Self

from stravasync.errors import StateCorrupt, StateError, StateUnwritable
from stravasync.fsutil import ensure_private_dir
from stravasync.state.model import (
    ACTIVE_STATES,
    FINAL_STATES,
    FRESH_S,
    FileStatus,
    PathRecord,
    State,
    Workout,
)
from stravasync.state.rows import db_path, from_db_path, status_at, to_path_record, to_workout
from stravasync.state.schema import SCHEMA_VERSION, current_version, migrate

__all__ = [
    "DB_NAME",
    "StateCorrupt",
    "StateUnwritable",
    "StoreBase",
    "header_problem",
    "translate",
]

DB_NAME = "state.sqlite3"
_BUSY_TIMEOUT_MS = 15000
_SQLITE_MAGIC = b"SQLite format 3\x00"

#: SQLite's primary result codes that mean "cannot write now", with the reason.
_UNWRITABLE_CODES = {
    5: "the database is busy (another process holds it)",  # SQLITE_BUSY
    6: "the database is locked",  # SQLITE_LOCKED
    8: "the file system is read-only",  # SQLITE_READONLY
    10: "a disk I/O error",  # SQLITE_IOERR
    13: "the disk is full",  # SQLITE_FULL
    14: "the database file cannot be opened",  # SQLITE_CANTOPEN
}
#: SQLITE_CORRUPT, SQLITE_NOTADB: the file is damaged.
_CORRUPT_CODES = frozenset({11, 26})
_UNWRITABLE_ERRNOS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EIO: "a disk I/O error",
    errno.EACCES: "permission denied",
    errno.EPERM: "the file may not be changed (permission or immutable flag)",
}


def translate(error: BaseException, path: Path) -> StateError | None:
    """The :class:`StateError` a failure of the database at ``path`` means; None for a
    failure that is a bug of ours (a wrong statement): that one is raised as it is."""
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        text = str(error)
        if code is None:  # an error raised by the sqlite3 module itself
            lowered = text.lower()
            code = (13 if "full" in lowered else 8 if "readonly" in lowered
                    else 10 if "i/o" in lowered else 14 if "unable to open" in lowered
                    else 26 if "not a database" in lowered else 11 if "malformed" in lowered
                    else None)
        if code is None:
            return None
        if code & 0xFF in _CORRUPT_CODES:
            return StateCorrupt(path, text)
        reason = _UNWRITABLE_CODES.get(code & 0xFF)
        return None if reason is None else StateUnwritable(path, reason, text)
    if isinstance(error, OSError):
        reason = _UNWRITABLE_ERRNOS.get(error.errno or 0)
        detail = error.strerror or str(error)
        return StateUnwritable(path, reason or "the folder cannot be used", detail)
    return None


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


def header_problem(path: Path) -> str | None:
    """Why ``path`` is no SQLite database, read from its first bytes; None if it may be.

    Checked before SQLite opens the file: on a file that is no database SQLite fails
    only after it has set up, and on close deleted, the ``-wal`` beside it, which may
    hold the last transactions of a damaged database.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except FileNotFoundError:
        return None
    if head and head != _SQLITE_MAGIC:
        return "file is not a database"
    return None


def _first(row: sqlite3.Row | None) -> float | None:
    return None if row is None or row[0] is None else float(row[0])


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
            with self._guard():
                ensure_private_dir(path.parent)
                _make_private(path)
                db = self._db()
                check = db.execute("PRAGMA quick_check(1)").fetchone()[0]
                if check != "ok":
                    raise StateCorrupt(path, str(check))
                migrate(db)
        except ValueError as exc:
            self.close()
            raise StateError(
                f"{path} was written by a newer stravasync (schema {exc}). "
                "Upgrade stravasync, or point [state] dir elsewhere."
            ) from exc
        except StateError:
            self.close()
            raise
        except sqlite3.Error as exc:
            self.close()
            raise StateError(f"Cannot open the state database {path}: {exc}") from exc

    @classmethod
    def open(
        cls, state_dir: Path, *, clock: Callable[[], float] = time.time, read_only: bool = False
    ) -> Self:
        """The store of ``state_dir`` (``state_dir/state.sqlite3``)."""
        return cls(state_dir / DB_NAME, clock=clock, read_only=read_only)

    # -- connections ----------------------------------------------------------------

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Translate the database's failures (see :func:`translate`); others pass."""
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            error = translate(exc, self.path)
            if error is None:
                raise
            raise error from exc

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None:
            return db
        with self._guard():
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        with self._all_lock:
            first = not self._all
        # Read by hand only before a writer's first connection (a read-only one never
        # deletes the -wal; SQLite itself says "not a database"). Opening and closing
        # the file while another connection of this process holds a lock on it drops
        # that lock (POSIX locks belong to the process): another process then believes
        # it closes the last connection and deletes the WAL this process still uses.
        problem = header_problem(self.path) if first and not self._read_only else None
        if problem is not None:
            raise StateCorrupt(self.path, problem)
        if self._read_only:
            if not self.path.exists():
                raise StateError(f"No state database at {self.path} yet.")
            uri = f"file:{urllib.parse.quote(os.fsencode(self.path))}?mode=ro"
            db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False,
                                 timeout=_BUSY_TIMEOUT_MS / 1000)
        else:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                 timeout=_BUSY_TIMEOUT_MS / 1000)
        db.row_factory = sqlite3.Row
        try:
            db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS:d}")
            if not self._read_only:
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = FULL")
            version = current_version(db)
        except BaseException:
            db.close()
            raise
        if self._read_only and version != SCHEMA_VERSION:
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
        """One write transaction (``BEGIN IMMEDIATE``); nested uses join the outer one.

        A failure of the database (full disk, I/O error, damage) inside it rolls it
        back and is raised translated (:class:`StateUnwritable`, :class:`StateCorrupt`):
        the connection stays usable, so the caller can retry later.
        """
        db = self._db()
        if self._local.depth:
            self._local.depth += 1
            try:
                yield db
            finally:
                self._local.depth -= 1
            return
        with self._guard():
            if db.in_transaction:  # left open by a COMMIT that failed elsewhere
                db.execute("ROLLBACK")
            db.execute("BEGIN IMMEDIATE")
        self._local.depth = 1
        try:
            with self._guard():
                yield db
                db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # SQLite may have rolled back already (SQLITE_FULL)
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise
        finally:
            self._local.depth = 0

    def _rows(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """Every row of one read (failures translated, see :func:`translate`)."""
        with self._guard():
            return self._db().execute(sql, tuple(args)).fetchall()

    def _row(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Row | None:
        """The first row of one read, or None."""
        rows = self._rows(sql, args)
        return rows[0] if rows else None

    def _now(self) -> float:
        return float(self._clock())

    # -- meta -------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        """A stored value (e.g. the learned processing time), or None."""
        row = self._row("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        """Store a value under ``key``."""
        with self.transaction() as db:
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    # -- reads --------------------------------------------------------------------------

    def workout(self, sha256: str) -> Workout | None:
        """The row of one content, or None."""
        row = self._row("SELECT * FROM workouts WHERE sha256 = ?", (sha256,))
        return None if row is None else to_workout(row)

    def workouts(self, *, states: Collection[State] | None = None) -> list[Workout]:
        """Every workout (in the given states), oldest workout first."""
        sql = "SELECT * FROM workouts"
        args: list[Any] = []
        if states is not None:
            sql += f" WHERE state IN ({','.join('?' * len(states))})"
            args = [s.value for s in states]
        sql += " ORDER BY start_time IS NULL, start_time, first_seen_at"
        return [to_workout(r) for r in self._rows(sql, args)]

    def finished_since(
        self, since: float, *, states: Collection[State] = FINAL_STATES
    ) -> list[Workout]:
        """Workouts that reached one of ``states`` after ``since``, oldest first (indexed)."""
        sql = "SELECT * FROM workouts WHERE finished_at > ?"
        sql += f" AND state IN ({','.join('?' * len(states))}) ORDER BY finished_at"
        return [to_workout(r) for r in self._rows(sql, [since, *(s.value for s in states)])]

    def path_record(self, path: str) -> PathRecord | None:
        """What we know of one path, or None."""
        row = self._row("SELECT * FROM paths WHERE path = ?", (db_path(path),))
        return None if row is None else to_path_record(row)

    def path_index(self) -> dict[str, PathRecord]:
        """Every known path (one query: rescans compare against this, never re-hash)."""
        records = (to_path_record(r) for r in self._rows("SELECT * FROM paths"))
        return {record.path: record for record in records}

    def paths_of(self, sha256: str) -> list[str]:
        """Every path this content was seen at, the workout's own path first."""
        rows = self._rows(
            "SELECT p.path FROM paths p LEFT JOIN workouts w ON w.sha256 = p.sha256 "
            "WHERE p.sha256 = ? ORDER BY p.path != w.path, p.seen_at", (sha256,)
        )
        return [from_db_path(r["path"]) for r in rows]

    def in_flight(self, *, parked: bool = True) -> int:
        """Uploads sent (or being sent) and not finished, by any process.

        ``parked=False`` leaves out uploads Strava has been processing for minutes
        (looked at rarely): they must not hold back the queue for hours.
        """
        sql = "SELECT COUNT(*) FROM workouts WHERE state = ?"
        if not parked:
            sql += " AND parked = 0"
        row = self._row(sql, (State.UPLOADING.value,))
        return 0 if row is None else int(row[0])

    def owners(self) -> set[str]:
        """Every owner that holds a row."""
        rows = self._rows("SELECT DISTINCT owner FROM workouts WHERE owner IS NOT NULL")
        return {str(r["owner"]) for r in rows}

    def due_posts(self, *, now: float, owner: str, limit: int) -> list[Workout]:
        """Rows to POST now: queued, retrying, or sent-but-unanswered.

        Sent-but-unanswered first, then fresh workouts (:data:`FRESH_S`), then the
        backlog; oldest workout first within each group, so a year's backfill never
        holds back today's ride.
        """
        if limit <= 0:
            return []
        rows = self._rows(
            "SELECT * FROM workouts WHERE (state IN (?, ?) OR (state = ? AND upload_id IS NULL)) "
            "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
            "AND (owner IS NULL OR owner = ?) "
            "ORDER BY state != ?, COALESCE(start_time >= ?, 0) DESC, start_time IS NULL, "
            "start_time, first_seen_at LIMIT ?",
            (State.QUEUED.value, State.RETRYING.value, State.UPLOADING.value, now, owner,
             State.UPLOADING.value, now - FRESH_S, limit),
        )
        return [to_workout(r) for r in rows]

    def due_polls(self, *, now: float, owner: str) -> list[Workout]:
        """Uploads with an upload id whose next look is due, soonest first."""
        rows = self._rows(
            "SELECT * FROM workouts WHERE state = ? AND upload_id IS NOT NULL "
            "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
            "AND (owner IS NULL OR owner = ?) ORDER BY next_attempt_at",
            (State.UPLOADING.value, now, owner),
        )
        return [to_workout(r) for r in rows]

    def due_updates(self, *, now: float, owner: str) -> list[Workout]:
        """``updating`` rows whose activity update is due, soonest first (ours or free)."""
        rows = self._rows(
            "SELECT * FROM workouts WHERE state = ? "
            "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
            "AND (owner IS NULL OR owner = ?) ORDER BY next_attempt_at",
            (State.UPDATING.value, now, owner),
        )
        return [to_workout(r) for r in rows]

    def next_times(
        self, *, owner: str
    ) -> tuple[float | None, float | None, float | None]:
        """Earliest next time of a poll we could do, of a POST, and of a row others hold.

        None = no such row; 0 = due now. An activity update (``updating``) counts as a
        poll: both are read-limited calls about an upload already sent.
        """
        poll = self._row(
            "SELECT MIN(COALESCE(next_attempt_at, 0)) FROM workouts WHERE "
            "((state = ? AND upload_id IS NOT NULL) OR state = ?) "
            "AND (owner IS NULL OR owner = ?)",
            (State.UPLOADING.value, State.UPDATING.value, owner),
        )
        post = self._row(
            "SELECT MIN(COALESCE(next_attempt_at, 0)) FROM workouts WHERE "
            "(state IN (?, ?) OR (state = ? AND upload_id IS NULL)) "
            "AND (owner IS NULL OR owner = ?)",
            (State.QUEUED.value, State.RETRYING.value, State.UPLOADING.value, owner),
        )
        others = self._row(
            "SELECT MIN(COALESCE(next_attempt_at, 0)) FROM workouts WHERE "
            "state IN (?, ?, ?, ?) AND owner IS NOT NULL AND owner != ?",
            (State.QUEUED.value, State.RETRYING.value, State.UPLOADING.value,
             State.UPDATING.value, owner),
        )
        return _first(poll), _first(post), _first(others)

    def unfinished(self, only: Collection[str] | None = None) -> list[Workout]:
        """Workouts still in an active state, ``updating`` included (restricted to
        ``only`` sha256s if given)."""
        rows = self.workouts(states=ACTIVE_STATES)
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
        """``status`` entries: one per known path, showing its latest content only.

        A path shows the content it held when last read (a copy that finished, a
        ``retry``): an older content's verdict at that path is gone. A workout none of
        whose paths is known any more (its file was deleted or archived elsewhere) is
        listed at its own path, unless that path now holds something else. Its row is
        kept either way: its sha256 stays known (the record of what was sent).
        """
        workouts = {r["sha256"]: to_workout(r) for r in self._rows("SELECT * FROM workouts")}
        result: list[FileStatus] = []
        covered: set[str] = set()
        listed: set[str] = set()
        for row in self._rows("SELECT * FROM paths ORDER BY path"):
            path = from_db_path(row["path"])
            listed.add(path)
            w = workouts.get(row["sha256"]) if row["sha256"] else None
            if w is None:
                result.append(FileStatus(
                    path=path, sha256=row["sha256"], state=State.PENDING, upload_id=None,
                    activity_id=None, error=row["error"], attempts=0, next_attempt_at=None,
                    updated_at=row["seen_at"]))
                continue
            covered.add(w.sha256)
            entry = status_at(w, path)
            if row["error"]:  # a note on the path: it changed after its content was sent
                notes = [n for n in (entry.warning, row["error"]) if n]
                entry = dataclasses.replace(entry, warning="; ".join(notes))
            result.append(entry)
        for w in workouts.values():
            if w.sha256 not in covered and w.path not in listed:
                result.append(status_at(w, w.path))
        return result
