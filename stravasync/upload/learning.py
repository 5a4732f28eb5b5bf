"""Learning how long Strava takes to process an upload, per format and size band.

Owns the engine's running :class:`~stravasync.upload.polling.Estimates` (kept in the
store's meta table): what each kind of file is expected to take, when to look first
at an upload just posted, and what is learned from every upload followed to its end
(whether by a poll, a list or the POST's own answer) or found still processing past
its time. The timing rules themselves are pure functions in
:mod:`stravasync.upload.polling`; this class only holds their current result.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from stravasync.upload.polling import (
    Estimates,
    Pacing,
    first_poll_delay,
    load_estimates,
    save_estimates,
)

if TYPE_CHECKING:
    from stravasync.state import Store, Workout

__all__ = ["ProcessingTimes"]


class ProcessingTimes:
    """The learned processing times of one engine (thread-safe)."""

    def __init__(self, *, store: Store, timing: Pacing) -> None:
        self._store = store
        self._timing = timing
        self._lock = threading.Lock()
        self._estimates = load_estimates(store.get_meta, timing=timing)

    def _kind(self, w: Workout) -> tuple[str, int]:
        """The estimate's key parts for ``w``: its format and the size of its file."""
        record = self._store.path_record(w.path)
        return (w.format or "fit"), (record.size if record is not None else 0)

    def expected(self, w: Workout) -> float:
        """Seconds Strava is expected to take with ``w`` (its format and size)."""
        data_type, size = self._kind(w)
        with self._lock:
            return self._estimates.for_file(data_type=data_type, size=size, timing=self._timing)

    @property
    def estimate(self) -> float:
        """The overall expected processing time (seconds), for status and tests."""
        with self._lock:
            overall = self._estimates.overall
        return overall if overall is not None else self._timing.initial_estimate_s

    @property
    def estimates(self) -> Estimates:
        """The learned estimates as they stand."""
        with self._lock:
            return self._estimates

    def first_look_at(self, w: Workout, now: float) -> float:
        """When to look first at ``w`` just posted: after its expected processing time."""
        return now + first_poll_delay(self.expected(w), self._timing)

    def learn(self, w: Workout, *, done_s: float) -> None:
        """``w``'s upload ended ``done_s`` seconds after its POST: learn from it."""
        if w.posted_at is None:
            return
        data_type, size = self._kind(w)
        with self._lock:
            self._estimates = self._estimates.learned(
                data_type=data_type, size=size, done_at_first_poll=w.polls == 0,
                last_processing_s=w.last_processing_s, done_s=done_s, timing=self._timing)
            estimates = self._estimates
        save_estimates(self._store.set_meta, estimates)

    def slower(self, w: Workout, *, elapsed: float) -> None:
        """A look past the expected time found ``w`` still processing: expect more."""
        data_type, size = self._kind(w)
        with self._lock:
            before = self._estimates
            self._estimates = before.slower(data_type=data_type, size=size, elapsed=elapsed,
                                            timing=self._timing)
            estimates = self._estimates
        if estimates is not before:
            save_estimates(self._store.set_meta, estimates)
