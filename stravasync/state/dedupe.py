"""Every rule that says two things are one workout, as pure functions.

Owns how stravasync tells that a workout is already on Strava, or will be, so that
it is sent once:

- **same content**: two paths whose decompressed content has one sha256 are one
  workout; the first path seen leads, the others show as ``duplicate`` of it
  (:func:`same_content_error`, :func:`shows_as_copy`);
- **same workout, another format**: a FIT, a TCX and a GPX of one recording (same
  sport, starts within :data:`SAME_WORKOUT_TOLERANCE_S`) are sent once, the richest
  format first (:func:`pick_leader`), and a fresh one is held for
  :data:`SIBLING_HOLD_S` before its first POST so that copies arriving together are
  compared; if Strava refuses the one sent, the next richest copy takes its place
  (:func:`next_copy`);
- **Strava says duplicate**: an answer "duplicate of activity N" is a ``duplicate``
  of N, unless an earlier POST of ours for this very workout may have gone through
  (a crash or a lost answer): then N is our own upload (:func:`is_own_upload`).

The store records the decisions; nothing here touches it, the disk or the network.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from stravasync.models import State

__all__ = [
    "FORMAT_RANK",
    "SAME_WORKOUT_TOLERANCE_S",
    "SENT_STATES",
    "SIBLING_HOLD_S",
    "Copy",
    "is_own_upload",
    "may_be_outranked",
    "next_copy",
    "pick_leader",
    "same_content_error",
    "same_workout_error",
    "same_workout_window",
    "shows_as_copy",
]

SAME_WORKOUT_TOLERANCE_S = 120.0
"""Two recordings of one sport that start this close (seconds) are one workout."""

SIBLING_HOLD_S = 3.0
"""A fresh workout waits this long (seconds) before its first POST while uploads are
being dispatched, so that copies of it in other formats arriving together (a GPX, TCX
and FIT of one ride) are read first and the richest is sent (:func:`pick_leader`).
A FIT never waits (:func:`may_be_outranked`): no copy could take its place."""

#: Richer formats first: FIT carries the most (sensors, laps), then TCX, then GPX.
FORMAT_RANK = {"fit": 0, "tcx": 1, "gpx": 2}

#: States in which a workout counts as sent (a same-workout copy then is a duplicate).
SENT_STATES = frozenset({State.UPLOADING, State.UPDATING, State.UPLOADED, State.DUPLICATE})

#: The state a copy of a sent or refused content shows (its own verdict stands).
_OWN_VERDICT_STATES = frozenset({State.INVALID, State.SKIPPED, State.REJECTED})


class Copy(Protocol):
    """What the rules need to know of a stored workout."""

    @property
    def sha256(self) -> str: ...
    @property
    def state(self) -> State: ...
    @property
    def format(self) -> str | None: ...
    @property
    def path(self) -> str: ...
    @property
    def first_seen_at(self) -> float: ...


C = TypeVar("C", bound=Copy)


def _rank(fmt: str | None) -> int:
    return FORMAT_RANK.get(fmt or "", 9)


def same_workout_window(
    start_time: float, tolerance: float = SAME_WORKOUT_TOLERANCE_S
) -> tuple[float, float]:
    """The start times (Unix seconds) of recordings that are the same workout."""
    return start_time - tolerance, start_time + tolerance


def may_be_outranked(fmt: str | None) -> bool:
    """Whether a copy in another format could lead instead of one in ``fmt`` (not a FIT)."""
    return _rank(fmt) > min(FORMAT_RANK.values())


def pick_leader(fmt: str | None, siblings: Sequence[C]) -> tuple[C | None, list[str]]:
    """Which same-workout copy a new file of format ``fmt`` defers to, and whom it displaces.

    ``siblings`` are the stored recordings of the same workout (see
    :func:`same_workout_window`) that still count. A copy already sent leads; else the
    richest format leads, the earliest seen among equals. Returns ``(None, displaced)``
    when the new file leads (``displaced``: sha256s of the poorer copies it replaces).
    """
    if not siblings:
        return None, []
    sent = [w for w in siblings if w.state in SENT_STATES]
    if sent:
        return min(sent, key=lambda w: w.first_seen_at), []
    best = min(siblings, key=lambda w: (_rank(w.format), w.first_seen_at))
    if _rank(fmt) < _rank(best.format):
        return None, [w.sha256 for w in siblings]
    return best, []


def next_copy(copies: Sequence[C]) -> C | None:
    """The same-workout copy to send when the one sent was refused: the richest."""
    if not copies:
        return None
    return min(copies, key=lambda w: (_rank(w.format), w.first_seen_at))


def same_workout_error(leader_path: str, leader_format: str | None) -> str:
    """Why a same-workout copy is not sent (shown by ``status``)."""
    return f"same workout as {leader_path} ({leader_format}), sent once"


def same_content_error(leader_path: str) -> str:
    """Why a second path of one content is not sent (shown by ``status``)."""
    return f"same content as {leader_path}"


def shows_as_copy(*, path: str, leader_path: str, state: State) -> bool:
    """Whether ``path`` shows as a ``duplicate`` of the content's leading path.

    Invalid, skipped and refused content shows its own verdict at every path.
    """
    return path != leader_path and state not in _OWN_VERDICT_STATES


def is_own_upload(*, maybe_posted: bool, activity_id: int | None) -> bool:
    """Whether Strava's "duplicate of activity N" names our own earlier upload.

    ``maybe_posted``: a POST of this workout may have reached Strava before (its
    answer was lost, or the process died after sending it).
    """
    return maybe_posted and activity_id is not None
