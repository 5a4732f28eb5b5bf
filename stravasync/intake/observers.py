"""Owns the watchdog side of the watcher: observers, shared watches, and the event filter.

Two observers at most: inotify/FSEvents (``events``) and watchdog's polling observer
(``polling``, one look per ``poll_interval``) for folders whose file system delivers
no change events. A watch is reference-counted, so the folders that need the same
one (a watched folder's parent guarding two configured paths) share it, and it is
scheduled afresh when the directory behind a path changed (remounted, recreated).

``EventFilter`` runs on watchdog's threads: it only turns events into messages for
the watcher's consumer thread, and decides nothing.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from watchdog.events import (
    DirAttribEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

from stravasync.intake.completeness import StatSignature, stat_signature
from stravasync.intake.folders import Mount, WatchMode, mount_for

__all__ = [
    "FIRST_RECHECK",
    "MAX_RECHECK_SECONDS",
    "Backoff",
    "ClosedWrites",
    "DirAttrib",
    "EventFilter",
    "FileEvent",
    "Identity",
    "Kind",
    "Message",
    "Reevaluate",
    "Stop",
    "Unreachable",
    "Watches",
    "is_ancestor_or_self",
    "mount_root",
    "nearest_existing_dir",
]

_EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileClosedEvent,
    FileMovedEvent,
    FileDeletedEvent,
    FileAttribEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    DirAttribEvent,
]

Kind = Literal["write", "closed", "arrived", "scan", "gone", "attrib"]
_KINDS: dict[str, Kind] = {"created": "arrived", "closed": "closed", "deleted": "gone",
                           "attrib": "attrib"}


@dataclass(frozen=True)
class FileEvent:
    """Something happened to a workout-named file."""

    path: str
    kind: Kind


@dataclass(frozen=True)
class Reevaluate:
    """A configured folder (or a parent) may have come, gone or changed permissions."""

    changed: str | None
    """The path whose appearance or disappearance triggered this, if known."""
    force: bool
    """``changed`` was deleted or moved away: re-establish watches below it."""


@dataclass(frozen=True)
class Unreachable:
    """``scan()`` found a file it cannot read or a sub-folder it cannot list."""

    path: str
    folder: bool


@dataclass(frozen=True)
class DirAttrib:
    """A sub-folder's permissions changed."""

    path: str


class Stop:
    """The consumer thread should end."""


Message = FileEvent | Reevaluate | Unreachable | DirAttrib


#: Longest wait before an unusable folder or unreadable file is looked at again.
MAX_RECHECK_SECONDS = 30.0
#: The first wait before such a look (it doubles from there, up to the cap).
FIRST_RECHECK = 1.0


@dataclass
class Backoff:
    """When to look again at something we could not use (doubling waits, capped)."""

    due: float
    """Clock time of the next look."""
    delay: float
    """The wait that led to ``due``."""

    def again(self, now: float, cap: float) -> None:
        """Schedule the next look: twice the last wait, at most ``cap`` seconds."""
        self.delay = min(self.delay * 2, cap)
        self.due = now + self.delay


class ClosedWrites:
    """Which files their writer has closed since the last write (thread-safe).

    Fed from ``FileClosedEvent`` (inotify ``IN_CLOSE_WRITE``); a file system without
    close events leaves it empty, and a file changed since its close no longer counts.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed: dict[str, StatSignature] = {}

    def note(self, path: str, sig: StatSignature | None) -> None:
        """``path`` was closed as ``sig`` (None: written to, or gone: not closed)."""
        with self._lock:
            if sig is None:
                self._closed.pop(path, None)
            else:
                self._closed[path] = sig

    def still_closed(self, path: str) -> bool:
        """Whether ``path`` was closed and has not changed since."""
        with self._lock:
            closed = self._closed.get(path)
        if closed is None:
            return False
        try:
            return stat_signature(path) == closed
        except OSError:
            return False


def is_ancestor_or_self(ancestor: str, path: str) -> bool:
    """Whether ``path`` is ``ancestor`` or lies below it."""
    return path == ancestor or path.startswith(ancestor.rstrip(os.sep) + os.sep)


def mount_root(path: str, mounts: list[Mount] | None) -> tuple[str, int | None]:
    """The mount point holding ``path`` and its mount id (None without mountinfo)."""
    if mounts is not None:
        mount = mount_for(path, mounts)
        return (mount.point, mount.mount_id) if mount is not None else ("/", None)
    current = path
    while current != os.path.dirname(current) and not os.path.ismount(current):
        current = os.path.dirname(current)
    return current, None


def nearest_existing_dir(path: str) -> str:
    """The closest parent of ``path`` that is a folder we can see."""
    current = os.path.dirname(path)
    while not os.path.isdir(current) and current != os.path.dirname(current):
        current = os.path.dirname(current)
    return current


class EventFilter(FileSystemEventHandler):
    """Runs on watchdog's threads: filters events and hands messages to ``put``."""

    def __init__(
        self,
        *,
        put: Callable[[Message], None],
        in_scope: Callable[[str], bool],
        under_scope: Callable[[str], bool],
        touches_target: Callable[[str], bool],
    ) -> None:
        self._put = put
        self._in_scope = in_scope
        self._under_scope = under_scope
        self._touches_target = touches_target

    def on_any_event(self, event: FileSystemEvent) -> None:
        """Turn one watchdog event into zero or more messages."""
        src = os.fsdecode(event.src_path)
        dest = os.fsdecode(event.dest_path) if event.dest_path else ""
        etype = event.event_type
        if etype in ("created", "deleted", "moved"):
            for path, gone in ((src, etype != "created"), (dest, False)):
                if path and self._touches_target(path):
                    self._put(Reevaluate(changed=path, force=gone))
        if event.is_directory:
            if etype == "attrib":  # permissions changed: maybe usable (or not) now
                if self._touches_target(src):
                    self._put(Reevaluate(changed=src, force=False))
                elif self._under_scope(src):
                    self._put(DirAttrib(src))
            return
        if etype == "moved":
            if self._in_scope(src):
                self._put(FileEvent(src, "gone"))
            if self._in_scope(dest):
                self._put(FileEvent(dest, "arrived"))
        elif self._in_scope(src):
            self._put(FileEvent(src, _KINDS.get(etype, "write")))


Identity = tuple[int, int, int | None]


@dataclass
class _Held:
    """A scheduled watchdog watch, shared by the slots that need it."""

    watch: ObservedWatch
    count: int
    identity: Identity | None


class Watches:
    """Reference-counted watches on up to two observers (events and polling)."""

    def __init__(self, *, handler: FileSystemEventHandler, poll_interval: float) -> None:
        self._handler = handler
        self._poll_interval = poll_interval
        self._observers: dict[WatchMode, BaseObserver] = {}
        self._held: dict[tuple[str, bool, WatchMode], _Held] = {}
        self.mounts: list[Mount] | None = None
        """The mount table as last read (set by the watcher)."""

    def identity(self, path: str) -> Identity | None:
        """What a watch is really attached to: device, inode and mount instance."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        return st.st_dev, st.st_ino, mount_root(path, self.mounts)[1]

    def is_current(self, path: str, *, recursive: bool, mode: WatchMode) -> bool:
        """Whether the watch on ``path`` still follows the directory there now."""
        held = self._held.get((path, recursive, mode))
        return held is not None and held.identity == self.identity(path)

    def acquire(self, path: str, *, recursive: bool, mode: WatchMode) -> OSError | None:
        """Watch ``path`` (or count one more user of its watch); the error if that failed."""
        key = (path, recursive, mode)
        held = self._held.get(key)
        identity = self.identity(path)
        if held is not None and held.identity == identity:
            held.count += 1
            return None
        if held is not None:  # same path, another directory (remounted, recreated)
            self._unschedule(held.watch, mode)
        try:
            watch = self._observer(mode).schedule(
                self._handler, path, recursive=recursive, event_filter=_EVENT_FILTER
            )
        except OSError as exc:
            if held is not None:
                del self._held[key]
            return exc
        count = 1 if held is None else held.count + 1
        self._held[key] = _Held(watch=watch, count=count, identity=identity)
        return None

    def release(self, path: str, *, recursive: bool, mode: WatchMode) -> None:
        """One user fewer; the watch goes when nobody needs it."""
        key = (path, recursive, mode)
        held = self._held.get(key)
        if held is None:
            return
        held.count -= 1
        if held.count <= 0:
            del self._held[key]
            self._unschedule(held.watch, mode)

    def stop(self) -> None:
        """Stop and join the observers; every watch is gone."""
        for observer in self._observers.values():
            observer.stop()
            observer.join()
        self._observers.clear()
        self._held.clear()

    def _observer(self, mode: WatchMode) -> BaseObserver:
        observer = self._observers.get(mode)
        if observer is None:
            observer = Observer() if mode == "events" else PollingObserver(
                timeout=self._poll_interval)
            observer.daemon = True
            observer.start()
            self._observers[mode] = observer
        return observer

    def _unschedule(self, watch: ObservedWatch, mode: WatchMode) -> None:
        observer = self._observers.get(mode)
        if observer is not None:
            with contextlib.suppress(KeyError):
                observer.unschedule(watch)
