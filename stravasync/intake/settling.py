"""Owns the debouncing: one hand-over per completed write of each workout file.

The watcher's consumer thread feeds it file events; it decides when a file is whole. A
file that proves itself complete (``completeness.proves_complete``) is handed over at
once; anything else after ``settle_seconds`` of quiet, and again when its writer closes
it. A file that cannot be read is handed over once (the consumer records why), looked
at again with backoff (at most ``MAX_RECHECK_SECONDS`` apart) and at once on a
permission change, and handed over again when it can be read.

Not thread-safe: only the consumer thread calls it (``closes`` excepted).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stravasync.fsutil import shown
from stravasync.intake.completeness import StatSignature, can_read, proves_complete, stat_signature
from stravasync.intake.observers import (
    FIRST_RECHECK,
    MAX_RECHECK_SECONDS,
    Backoff,
    ClosedWrites,
    FileEvent,
    is_ancestor_or_self,
)
from stravasync.logs import get_logger

__all__ = ["Settler"]

log = get_logger(__name__)


@dataclass
class _Pending:
    last_event: float
    sig: StatSignature
    check_at: float | None


class Settler:
    """Turns each workout file's events into one ``on_ready(path)`` per completed write."""

    def __init__(
        self,
        *,
        settle_seconds: float,
        on_ready: Callable[[Path], None],
        clock: Callable[[], float],
    ) -> None:
        self._settle = max(0.0, settle_seconds)
        self._quick_delay = min(0.05, self._settle / 2)
        self._on_ready = on_ready
        self._clock = clock
        self._pending: dict[str, _Pending] = {}
        self._fired: dict[str, StatSignature] = {}
        self._how: dict[str, str] = {}  # how each was handed over: "quiet" awaits its close
        self.closes = ClosedWrites()  # public: which files their writer closed (thread-safe)
        self._unreadable: dict[str, tuple[StatSignature, Backoff]] = {}

    def event(self, message: FileEvent) -> None:
        """Something happened to a workout file: (re)start waiting for it to be whole."""
        path = message.path
        if message.kind == "gone":
            for table in (self._pending, self._fired, self._unreadable, self._how):
                table.pop(path, None)
            self.closes.note(path, None)
            return
        try:
            sig = stat_signature(path)
        except OSError:
            self._pending.pop(path, None)
            return
        if not os.path.isfile(path):
            return  # a FIFO, device or folder named like a workout: never read it
        if message.kind in ("closed", "write", "arrived"):
            self.closes.note(path, sig if message.kind == "closed" else None)
        pending = self._pending.get(path)
        if (pending is None and message.kind != "scan" and self._fired.get(path) == sig
                and path not in self._unreadable):
            if message.kind == "attrib" and not can_read(path):  # locked after we reported it
                self._unreadable[path] = (sig, self._first_backoff())
            elif message.kind == "closed" and self._how.pop(path, None) == "quiet":
                self._on_ready(Path(path))  # handed over in a pause: now its writer is done
            return  # nothing new since we reported it (e.g. the close after the last write)
        now = self._clock()
        check_at = now if message.kind not in ("write", "attrib") else now + self._quick_delay
        if pending is None:
            self._pending[path] = _Pending(last_event=now, sig=sig, check_at=check_at)
        else:
            pending.last_event, pending.sig, pending.check_at = now, sig, check_at

    def unreadable(self, path: str) -> None:
        """``scan()`` found a file it cannot read: look at it again with backoff."""
        if path not in self._unreadable:
            with contextlib.suppress(OSError):
                self._unreadable[path] = (stat_signature(path), self._first_backoff())

    def _first_backoff(self) -> Backoff:
        """The first wait before looking again at something that could not be used."""
        return Backoff(due=self._clock() + FIRST_RECHECK, delay=FIRST_RECHECK)

    def deadlines(self) -> list[float]:
        """When each waiting file is next due a look."""
        deadlines = [
            p.check_at if p.check_at is not None else p.last_event + self._settle
            for p in self._pending.values()
        ]
        deadlines += [b.due for _, b in self._unreadable.values()]
        return deadlines

    def process_due(self, now: float) -> None:
        """Look at every file that is due: hand over the whole ones, retry the unreadable."""
        for path, pending in list(self._pending.items()):
            try:
                if pending.check_at is not None and now >= pending.check_at:
                    pending.check_at = None
                    if proves_complete(path):
                        self._settled(path, pending, now, how="proved")
                        continue
                if pending.check_at is None and now >= pending.last_event + self._settle:
                    self._settled(path, pending, now, how="quiet")
            except OSError:
                self._pending.pop(path, None)
        for path, (_sig, backoff) in list(self._unreadable.items()):
            if now >= backoff.due and path not in self._pending:
                backoff.again(now, MAX_RECHECK_SECONDS)
                if can_read(path):
                    self.event(FileEvent(path, "scan"))

    def forget_under(self, folder: str) -> None:
        """A watched folder is gone: forget every file below it."""
        for table in (self._pending, self._fired, self._unreadable, self._how):
            for path in [p for p in table if is_ancestor_or_self(folder, p)]:
                del table[path]

    def reset(self) -> None:
        """The watcher stopped: drop what was waiting (what was handed over is kept)."""
        for table in (self._pending, self._unreadable, self._how):
            table.clear()

    def _settled(self, path: str, pending: _Pending, now: float, *, how: str) -> None:
        sig = stat_signature(path)
        if sig != pending.sig:  # changed without an event reaching us yet: start over
            pending.sig, pending.last_event = sig, now
            pending.check_at = now + self._quick_delay
            return
        del self._pending[path]
        self._fired[path] = sig
        self._how[path] = how
        if not can_read(path):
            known = self._unreadable.get(path)
            if known is not None and known[0] == sig:
                return  # handed over already; we look again with backoff
            self._unreadable[path] = (sig, self._first_backoff())
            log.warning("file_unreadable", path=shown(path),
                        hint="fix its permissions; it is picked up as soon as it can be read")
        elif self._unreadable.pop(path, None) is not None:
            log.info("file_readable_again", path=shown(path))
        log.debug("file_ready", path=shown(path), how=how, size=sig.size)
        try:
            self._on_ready(Path(path))
        except Exception:  # a failing callback must not stop the watcher (logged)
            log.exception("on_ready_failed", path=shown(path))
