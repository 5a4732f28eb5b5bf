"""Owns what the engine reports to those who wait on it: a scan, a wait, when work is due.

Values and one pure function, so the daemon, ``run --once`` and ``upload`` read the
engine's answers without reaching into it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Literal

from stravasync.errors import StravaSyncError
from stravasync.state import State, Store, Workout

__all__ = ["ScanReport", "WaitResult", "next_times", "state_counts"]


@dataclass(frozen=True)
class ScanReport:
    """What :meth:`Engine.scan` did."""

    seen: int
    """Files looked at."""
    known: int
    """Of those, already known by path, size and mtime (not read)."""
    read: int
    """Of those, read and hashed."""
    recheck: dict[str, float] = field(default_factory=dict)
    """Files that looked cut short, and when to submit each again (``Submitted.recheck_at``)."""


@dataclass(frozen=True)
class WaitResult:
    """Why :meth:`Engine.wait_idle` returned."""

    status: Literal["done", "deferred", "fatal", "timeout"]
    """``done``: all final; ``deferred``: work left for later; ``fatal``: calls stopped."""
    next_due: float | None = None
    """For ``deferred``: when the earliest remaining work is due."""
    fatal: StravaSyncError | None = None
    """For ``fatal``: the error that stopped all calls."""
    counts: dict[str, int] = field(default_factory=dict)
    """States of the workouts waited for."""
    held: dict[str, str] = field(default_factory=dict)
    """With ``leave_held``: each workout left to the other live process that holds it,
    its path to that process's owner tag (``host:pid@start``)."""


def next_times(
    rows: Iterable[Workout], *, owner: str
) -> tuple[float | None, float | None, float | None]:
    """Like :meth:`Store.next_times`, over given rows."""
    found: dict[str, float] = {}
    for w in rows:
        if w.owner is not None and w.owner != owner:
            key = "others"
        elif w.state is State.UPDATING or (
            w.state is State.UPLOADING and w.upload_id is not None
        ):
            key = "poll"  # both are read-limited calls
        else:
            key = "post"
        found[key] = min(found.get(key, float("inf")), w.next_attempt_at or 0.0)
    return found.get("poll"), found.get("post"), found.get("others")


def state_counts(store: Store, only: Collection[str] | None) -> dict[str, int]:
    """How many workouts (of the ``only`` sha256s, if given) are in each state, by name."""
    counts: dict[str, int] = {}
    if only is None:
        for state, n in store.counts().items():
            if n:
                counts[state.value] = n
        return counts
    for sha in only:
        w = store.workout(sha)
        if w is not None:
            counts[w.state.value] = counts.get(w.state.value, 0) + 1
    return counts
