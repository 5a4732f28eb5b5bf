"""What the engine and its transfers share while uploads run: the gates and the halt.

Owns, for one engine, the in-memory answers to "may a call of this kind go now?":

- a *gate* per kind of call (``upload``, ``read``): no call of that kind before its
  time (a rate-limit wait, a dead end);
- the *halt*: an error that needs a person (a dead sign-in, a token file that cannot
  be written). While it stands no call is made at all; it is said once;
- the *wake-up*: the condition the engine's dispatcher waits on, so that a transfer
  that changed something (a finished upload frees a slot) has it look again;
- the *news*: a listener outside the engine (the daemon's owner notices) told when
  something the owner may hear of happened: a workout finished, the halt, a dead end.

:meth:`Gates.met` is the one place where an error met during a call becomes work
policy, by what the error itself says (:mod:`stravasync.errors`): stop for a person,
wait until a time, or neither (the caller backs off). Nothing here calls Strava,
reads the store or sleeps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from stravasync.errors import StravaSyncError
from stravasync.logs import get_logger
from stravasync.strava.governor import RequestKind

__all__ = ["Gates"]

log = get_logger(__name__)


class Gates:
    """Gates per kind of call, the halt, and the wake-up condition (thread-safe)."""

    def __init__(self, *, clock: Callable[[], float], min_wait_s: float = 1.0) -> None:
        self._clock = clock
        self._min_wait_s = min_wait_s
        self.cond = threading.Condition()
        """Held while reading or changing engine state; notified on every change."""
        self._until: dict[RequestKind, float] = {"upload": 0.0, "read": 0.0}
        self._logged: set[tuple[str, float]] = set()
        self._halt: StravaSyncError | None = None
        self._woken = False
        self.on_news: Callable[[], None] | None = None
        """Called (on the caller's thread, no lock held) by :meth:`news`."""

    # -- gates --------------------------------------------------------------------------

    def open_at(self, kind: RequestKind) -> float:
        """The time from which calls of ``kind`` may go (in the past when open)."""
        with self.cond:
            return self._until[kind]

    def is_open(self, kind: RequestKind, now: float) -> bool:
        """Whether a call of ``kind`` may go at ``now``."""
        return self.open_at(kind) <= now

    def close(self, kind: RequestKind, until: float, *, sha: str, why: str,
              path: str | None = None) -> None:
        """Send no call of ``kind`` before ``until`` (at least ``min_wait_s`` from now).

        Logged once per wait as ``upload_deferred``, with the file's ``path`` when a
        file's call met the gate, and ``until`` in ISO 8601 UTC as the log's own times.
        """
        now = self._clock()
        until = max(until, now + self._min_wait_s)
        with self.cond:
            self._until[kind] = max(self._until[kind], until)
            first = (kind, until) not in self._logged
            self._logged.add((kind, until))
        if first:
            # A wait of a second or two (the rate-limit probe, a short gate) is routine.
            about = {"path": path} if path is not None else {}
            (log.debug if until - now < 3.0 else log.info)(
                "upload_deferred", kind=kind, until=_iso_utc(until), **about, sha256=sha,
                reason=why)

    # -- what an error means ---------------------------------------------------------------

    def met(self, exc: StravaSyncError, *, kind: RequestKind, sha: str,
            path: str | None = None) -> bool:
        """Act on an error a call of ``kind`` met; False when the caller should back off.

        An error that needs a person halts everything; one with a time closes the gate
        of ``kind`` (or of every kind, for a dead end) until then.
        """
        if exc.needs_person:
            self.halt(exc)
            return True
        until = exc.wait_until(self._clock())
        if until is None:
            return False
        if exc.stops_every_call:
            self.close("upload", until, sha=sha, why="dead_end", path=path)
            self.close("read", until, sha=sha, why="dead_end", path=path)
            log.error("engine_paused", until=until, error=exc.message, title=exc.title)
            self.news()
        else:
            self.close(kind, until, sha=sha, why="rate_limit", path=path)
        return True

    # -- the halt ------------------------------------------------------------------------

    @property
    def halted(self) -> StravaSyncError | None:
        """The error that stopped every call until a person acts, or None."""
        return self._halt

    def halt(self, exc: StravaSyncError) -> None:
        """Stop every call until :meth:`resume`; said once (``engine_fatal``)."""
        with self.cond:
            first = self._halt is None
            if first:
                self._halt = exc
            self.cond.notify_all()
        if first:
            log.error("engine_fatal", error=exc.message, title=exc.title,
                      kind=type(exc).__name__)
            self.news()

    def resume(self) -> None:
        """Forget the halt (the person acted) and look at the work again."""
        with self.cond:
            self._halt = None
        self.wake()

    # -- the wake-up ---------------------------------------------------------------------

    def wake(self) -> None:
        """Something changed: whoever waits on :attr:`cond` should look again."""
        with self.cond:
            self._woken = True
            self.cond.notify_all()

    def news(self) -> None:
        """Something the owner may hear of happened: tell the listener, if any."""
        listener = self.on_news
        if listener is not None:
            listener()

    def take_wake(self) -> bool:
        """Whether :meth:`wake` was called since the last look (and reset it)."""
        with self.cond:
            woken, self._woken = self._woken, False
            return woken


def _iso_utc(when: float) -> str:
    """``when`` as the log's own timestamps read: ISO 8601, UTC, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
