"""The rig for state-store tests: a settable clock and one-line ways to record files.

Shared by the state tests in ``unit/`` and ``integration/``. (No tests here.)
"""

from __future__ import annotations

from datetime import UTC, datetime

from stravasync.state import FileFacts, State, Store
from stravasync.validate.result import Facts

T0 = 1_750_000_000.0


class Clock:
    """A settable clock."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def facts(sha: str, *, fmt: str = "fit", start: float | None = T0 - 86400, sport: str = "run",
          state: State = State.QUEUED) -> FileFacts:
    """Facts of one valid workout."""
    when = datetime.fromtimestamp(start, UTC) if start is not None else None
    return FileFacts(sha256=sha, state=state, format=fmt,
                     facts=Facts(start_time=when, sport=sport))


def add(store: Store, path: str, f: FileFacts) -> None:
    """Record one file."""
    store.record_file(path, size=10, mtime_ns=1, facts=f)


def write_many(store: Store) -> None:
    """Record invalid files until the store refuses (at most 100)."""
    for i in range(100):
        store.record_file(f"/w/{i}.fit", size=1, mtime_ns=1, facts=FileFacts(
            sha256=f"{i:064d}", state=State.INVALID, error="x" * 500))
