"""Moves ``upload.after`` still owes: a failed archive move, kept until it succeeds.

Owns the store's record of a move or delete that failed (the archive full, a
permission): its reason, how often it failed in a row, when to try again and when it
first failed. ``after_done`` stays 0 until the move succeeds, so a restart carries
on; ``status`` reads these rows to show the owed move as a problem.
"""

from __future__ import annotations

from stravasync.state.base import StoreBase
from stravasync.state.model import Workout
from stravasync.state.rows import db_text, to_workout

__all__ = ["OwedMoves"]


class OwedMoves(StoreBase):
    """The owed-move part of the store (mixed into :class:`~stravasync.state.Store`)."""

    def after_failed(self, sha256: str, *, error: str, next_at: float) -> None:
        """``upload.after`` failed for this content: keep it owed, try again at ``next_at``."""
        now = self._now()
        with self.transaction() as db:
            db.execute(
                "UPDATE workouts SET after_error = ?, after_failures = after_failures + 1, "
                "after_next_at = ?, after_failed_at = COALESCE(after_failed_at, ?), "
                "updated_at = ? WHERE sha256 = ? AND after_done = 0",
                (db_text(error), next_at, now, now, sha256))

    def owed_moves(self, *, due_by: float | None = None) -> list[Workout]:
        """Workouts whose ``upload.after`` failed and is still owed (due by ``due_by``)."""
        sql = "SELECT * FROM workouts WHERE after_error IS NOT NULL AND after_done = 0"
        args: list[float] = []
        if due_by is not None:
            sql += " AND (after_next_at IS NULL OR after_next_at <= ?)"
            args.append(due_by)
        return [to_workout(r) for r in self._rows(sql + " ORDER BY after_next_at", args)]
