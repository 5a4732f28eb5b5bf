"""Owns what a job that failed means: a bug backs its workout off, a full state folder waits.

Neither stops the engine. A bug in one job (an exception no piece expected) backs that
workout off with a growing delay and the engine goes on with the others. A state
folder that cannot be written closes the gates for a while (doubling, at most 30 s):
nothing is lost meanwhile, since a claim that was not written was not sent, and an
answer that was not recorded is asked for again (a POST's, by Strava's duplicate
answer to our own earlier POST).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from stravasync.errors import StateError
from stravasync.logs import get_logger, redact_text
from stravasync.upload.polling import Pacing, backoff_delay

if TYPE_CHECKING:
    from stravasync.state import Store
    from stravasync.upload.gates import Gates

__all__ = ["Mishaps"]

log = get_logger("stravasync.upload.engine")


class Mishaps:
    """The failed jobs of one engine (called from its worker threads)."""

    def __init__(self, *, store: Store, gates: Gates, clock: Callable[[], float],
                 timing: Pacing, rng: random.Random) -> None:
        self._store = store
        self._gates = gates
        self._clock = clock
        self._timing = timing
        self._rng = rng
        self._store_failures = 0

    def went_well(self) -> None:
        """A job ran: the state folder is writable again."""
        self._store_failures = 0

    def job_failed(self, sha: str, kind: str, exc: Exception) -> None:
        """A bug in one job: back that workout off (the backoff grows), keep going."""
        error = redact_text(f"internal error: {type(exc).__name__}: {exc}")
        try:
            w = self._store.workout(sha)
            failures = (w.failures if w is not None else 0) + 1
            delay = backoff_delay(failures, self._timing, self._rng)
            if kind != "follow":
                self._store.delay(sha, next_attempt_at=self._clock() + delay, error=error)
        except StateError as state_exc:
            self.store_unwritable(state_exc, kind=kind, sha=sha)

    def store_unwritable(self, exc: StateError, *, kind: str, sha: str) -> None:
        """The state folder cannot be written: nothing moves until it can (backoff ≤ 30 s)."""
        self._store_failures += 1
        delay = min(30.0, 2.0 ** self._store_failures)
        until = self._clock() + delay
        (log.warning if self._store_failures == 1 else log.debug)(
            "engine_state_unwritable", error=exc.message, job=kind, sha256=sha,
            retry_in=delay)
        self._gates.close("upload", until, sha=sha, why="state_unwritable")
        self._gates.close("read", until, sha=sha, why="state_unwritable")
