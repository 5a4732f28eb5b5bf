"""Owns ``stravasync retry`` in the store: files put back in the queue or read again.

:meth:`RetryRequests.retry` queues rejected and retrying workouts for now and forgets
invalid or skipped files, so the next scan reads them again.
:meth:`RetryRequests.request_retry` flags paths for a running daemon, which takes the
flags (:meth:`RetryRequests.take_retry_requests`) within seconds and reads the files
again from disk (``record_file(retry=True)``, see :mod:`stravasync.state.verdicts`).
"""

from __future__ import annotations

from collections.abc import Collection

from stravasync.models import ReasonCode
from stravasync.state.base import StoreBase
from stravasync.state.model import State, Workout
from stravasync.state.rows import db_path, from_db_path

__all__ = ["RetryRequests"]

#: Named paths ``request_retry`` leaves alone: on Strava, or on their way there.
_NOT_RETRIED = frozenset({State.UPLOADED, State.DUPLICATE, State.UPLOADING,
                          State.UPDATING})


class RetryRequests(StoreBase):
    """The retry part of the store (mixed into :class:`~stravasync.state.Store`)."""

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
