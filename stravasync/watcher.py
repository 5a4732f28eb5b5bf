"""Folder watching: notices workout files and hands each over once it is whole.

Owns which names count as workouts, the watchdog observer, and the debouncing that
turns a stream of file events into one ``on_ready(path)`` per completed write. It
knows nothing of Strava, validation or the state store.

Threads, as in maestral: watchdog's handler thread only filters events and puts them
on a queue; one consumer thread owns all mutable state, debounces and decides. A file
that proves itself complete (``completeness.proves_complete``) is handed over at once;
anything else after ``settle_seconds`` of quiet (no events, same size and mtime).
``on_ready`` runs on the consumer thread: keep it short (enqueue and return).

Configured folders may not exist yet (a USB device not plugged in). Such a folder is
waited for by watching its nearest existing ancestor, non-recursively; on Linux the
mount table (``/proc/self/mountinfo``, which signals changes through ``poll``) is
watched too, so mounts and unmounts are noticed without polling. When a folder
appears (again) its existing files go through the same pipeline, as a scan.
``start()`` itself does not report the files already there: call ``scan()`` after
``start()`` (watch first, then list, so nothing falls between the two).

Paths given to ``on_ready`` are absolute with symlinks resolved.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import select
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
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

from stravasync.completeness import StatSignature, proves_complete, stat_signature
from stravasync.logs import get_logger

__all__ = ["WORKOUT_SUFFIXES", "Watcher", "is_workout_name"]

log = get_logger(__name__)

#: Names (case-insensitive, optionally followed by ``.gz``) that may be workouts.
WORKOUT_SUFFIXES = (".fit", ".gpx", ".tcx")

_EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileClosedEvent,
    FileMovedEvent,
    FileDeletedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]
_MOUNTINFO = "/proc/self/mountinfo"
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")  # mountinfo writes a space as \040

Kind = Literal["write", "closed", "arrived", "scan", "gone"]


def is_workout_name(name: str) -> bool:
    """Whether a file name looks like a workout (``.fit``/``.gpx``/``.tcx``, maybe ``.gz``).

    Dot-files and temporary names (``x.fit.part``, ``x.fit~``, ``x.fit.tmp``,
    ``.crdownload``...) are not: their suffix is not a workout suffix.
    """
    if not name or name.startswith("."):
        return False
    lower = name.lower()
    if lower.endswith(".gz"):
        lower = lower[:-3]
    return lower.endswith(WORKOUT_SUFFIXES)


@dataclass(frozen=True)
class _FileEvent:
    path: str
    kind: Kind


@dataclass(frozen=True)
class _Reevaluate:
    changed: str | None
    """The path whose appearance or disappearance triggered this, if known."""
    force: bool
    """``changed`` was deleted or moved away: re-establish watches below it."""


class _Stop:
    pass


_Message = _FileEvent | _Reevaluate | _Stop


@dataclass
class _Pending:
    last_event: float
    sig: StatSignature
    check_at: float | None


_Identity = tuple[int, int, int | None]


@dataclass
class _Held:
    """A scheduled watchdog watch, shared by the slots that need it."""

    watch: ObservedWatch
    count: int
    identity: _Identity | None


@dataclass
class _Slot:
    configured: str
    target: str = ""
    identity: _Identity | None = None
    main: str | None = None
    guards: frozenset[str] = field(default_factory=frozenset)


def _is_ancestor_or_self(ancestor: str, path: str) -> bool:
    return path == ancestor or path.startswith(ancestor.rstrip(os.sep) + os.sep)


def _mount_points() -> dict[str, int] | None:
    """Mount point -> mount id from ``/proc/self/mountinfo`` (None where there is none)."""
    try:
        with open(_MOUNTINFO, encoding="utf-8", errors="surrogateescape") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    mounts: dict[str, int] = {}
    for line in lines:
        fields = line.split(" ")
        if len(fields) > 4 and fields[0].isdigit():
            point = _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), fields[4])
            mounts[point] = int(fields[0])
    return mounts


def _mount_root(path: str, mounts: dict[str, int] | None) -> tuple[str, int | None]:
    """The mount point holding ``path`` and its mount id (None without mountinfo)."""
    if mounts is not None:
        best = max((m for m in mounts if _is_ancestor_or_self(m, path)), key=len, default="/")
        return best, mounts.get(best)
    current = path
    while current != os.path.dirname(current) and not os.path.ismount(current):
        current = os.path.dirname(current)
    return current, None


def _nearest_existing_dir(path: str) -> str:
    current = os.path.dirname(path)
    while not os.path.isdir(current) and current != os.path.dirname(current):
        current = os.path.dirname(current)
    return current


class _Handler(FileSystemEventHandler):
    """Runs on watchdog's thread: filters events and enqueues; decides nothing."""

    def __init__(self, watcher: Watcher) -> None:
        self._watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        w = self._watcher
        src = os.fsdecode(event.src_path)
        dest = os.fsdecode(event.dest_path) if event.dest_path else ""
        etype = event.event_type
        if etype in ("created", "deleted", "moved"):
            for path, gone in ((src, etype != "created"), (dest, False)):
                if path and w._touches_target(path):
                    w._put(_Reevaluate(changed=path, force=gone))
        if event.is_directory:
            return
        if etype == "moved":
            if w._in_scope(src):
                w._put(_FileEvent(src, "gone"))
            if w._in_scope(dest):
                w._put(_FileEvent(dest, "arrived"))
        elif w._in_scope(src):
            kind: Kind = "write"
            if etype == "created":
                kind = "arrived"
            elif etype == "closed":
                kind = "closed"
            elif etype == "deleted":
                kind = "gone"
            w._put(_FileEvent(src, kind))


class Watcher:
    """Watches folders and calls ``on_ready(path)`` once per completed write of a workout."""

    def __init__(
        self,
        *,
        paths: Sequence[Path],
        recursive: bool,
        settle_seconds: float,
        on_ready: Callable[[Path], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._slots = [_Slot(configured=os.path.abspath(os.path.expanduser(p))) for p in paths]
        self._recursive = recursive
        self._settle = max(0.0, settle_seconds)
        self._quick_delay = min(0.05, self._settle / 2)
        self._on_ready = on_ready
        self._clock = clock
        self._queue: queue.SimpleQueue[_Message] = queue.SimpleQueue()
        self._pending: dict[str, _Pending] = {}
        self._fired: dict[str, StatSignature] = {}
        self._watches: dict[tuple[str, bool], _Held] = {}
        self._mounts: dict[str, int] | None = None
        # Read by the handler thread; replaced whole (never mutated) by the consumer.
        self._scopes: tuple[str, ...] = ()
        self._targets: tuple[str, ...] = ()
        self._handler = _Handler(self)
        self._observer: BaseObserver | None = None
        self._consumer: threading.Thread | None = None
        self._mount_thread: threading.Thread | None = None
        self._wake_r, self._wake_w = -1, -1

    # -- public ------------------------------------------------------------------

    def start(self) -> None:
        """Start watching (returns at once; events are handled on background threads)."""
        if self._observer is not None:
            return
        self._observer = Observer()
        self._observer.daemon = True
        self._observer.start()
        mountinfo = -1
        if sys.platform.startswith("linux"):
            with contextlib.suppress(OSError):
                mountinfo = os.open(_MOUNTINFO, os.O_RDONLY)  # before looking: no gap
        self._reevaluate(changed=None, force=False, report=False)
        self._consumer = threading.Thread(
            target=self._consume, name="stravasync-watcher", daemon=True
        )
        self._consumer.start()
        if mountinfo >= 0:
            self._wake_r, self._wake_w = os.pipe()
            self._mount_thread = threading.Thread(
                target=self._watch_mounts, args=(mountinfo,), name="stravasync-mounts", daemon=True
            )
            self._mount_thread.start()

    def stop(self) -> None:
        """Stop watching and join the threads; pending files are not reported."""
        if self._observer is None:
            return
        self._put(_Stop())
        if self._consumer is not None:
            self._consumer.join()
        if self._mount_thread is not None:
            os.write(self._wake_w, b"x")
            self._mount_thread.join()
            os.close(self._wake_r)
            os.close(self._wake_w)
        self._observer.stop()
        self._observer.join()
        self._observer = None
        self._consumer = self._mount_thread = None
        self._watches.clear()
        self._pending.clear()
        for slot in self._slots:
            slot.main, slot.identity, slot.guards = None, None, frozenset()

    def scan(self) -> list[Path]:
        """Every workout-named file now under the watched paths (sorted, resolved)."""
        found: set[str] = set()
        for slot in self._slots:
            found.update(self._walk(os.path.realpath(slot.configured)))
        return [Path(p) for p in sorted(found)]

    # -- handler-thread side -----------------------------------------------------

    def _put(self, message: _Message) -> None:
        self._queue.put(message)

    def _in_scope(self, path: str) -> bool:
        if not is_workout_name(os.path.basename(path)):
            return False
        for root in self._scopes:
            if not path.startswith(root.rstrip(os.sep) + os.sep):
                continue
            rel_dirs = os.path.relpath(os.path.dirname(path), root)
            if rel_dirs == ".":
                return True
            if self._recursive and not any(part.startswith(".") for part in rel_dirs.split(os.sep)):
                return True
        return False

    def _touches_target(self, path: str) -> bool:
        return any(_is_ancestor_or_self(path, t) for t in self._targets)

    # -- consumer-thread side ----------------------------------------------------

    def _walk(self, root: str) -> Iterator[str]:
        if not os.path.isdir(root):
            return
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in filenames:
                full = os.path.join(dirpath, name)
                if is_workout_name(name) and os.path.isfile(full):
                    yield full
            if not self._recursive:
                break

    def _consume(self) -> None:
        while True:
            deadline = self._next_deadline()
            try:
                if deadline is None:
                    message: _Message | None = self._queue.get()
                else:
                    message = self._queue.get(timeout=max(0.0, deadline - self._clock()))
            except queue.Empty:
                message = None
            while message is not None:
                if isinstance(message, _Stop):
                    return
                self._handle(message)
                try:
                    message = self._queue.get_nowait()
                except queue.Empty:
                    message = None
            self._process_due()

    def _handle(self, message: _FileEvent | _Reevaluate) -> None:
        if isinstance(message, _Reevaluate):
            self._reevaluate(changed=message.changed, force=message.force, report=True)
            return
        path = message.path
        if message.kind == "gone":
            self._pending.pop(path, None)
            self._fired.pop(path, None)
            return
        try:
            sig = stat_signature(path)
        except OSError:
            self._pending.pop(path, None)
            return
        pending = self._pending.get(path)
        if pending is None and message.kind != "scan" and self._fired.get(path) == sig:
            return  # nothing new since we reported it (e.g. the close after the last write)
        now = self._clock()
        check_at = now if message.kind != "write" else now + self._quick_delay
        if pending is None:
            self._pending[path] = _Pending(last_event=now, sig=sig, check_at=check_at)
        else:
            pending.last_event, pending.sig, pending.check_at = now, sig, check_at

    def _next_deadline(self) -> float | None:
        deadlines = [
            p.check_at if p.check_at is not None else p.last_event + self._settle
            for p in self._pending.values()
        ]
        return min(deadlines, default=None)

    def _process_due(self) -> None:
        now = self._clock()
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

    def _settled(self, path: str, pending: _Pending, now: float, *, how: str) -> None:
        sig = stat_signature(path)
        if sig != pending.sig:  # changed without an event reaching us yet: start over
            pending.sig, pending.last_event = sig, now
            pending.check_at = now + self._quick_delay
            return
        del self._pending[path]
        self._fired[path] = sig
        log.debug("file_ready", path=path, how=how, size=sig.size)
        try:
            self._on_ready(Path(path))
        except Exception:  # a failing callback must not stop the watcher (logged)
            log.exception("on_ready_failed", path=path)

    # -- watched folders coming and going ----------------------------------------

    def _identity(self, path: str) -> _Identity | None:
        """What a watch is really attached to: device, inode and mount instance."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        return st.st_dev, st.st_ino, _mount_root(path, self._mounts)[1]

    def _acquire(self, path: str, *, recursive: bool) -> bool:
        key = (path, recursive)
        held = self._watches.get(key)
        identity = self._identity(path)
        if held is not None and held.identity == identity:
            held.count += 1
            return True
        assert self._observer is not None
        if held is not None:  # same path, another directory (remounted, recreated)
            self._unschedule(held.watch)
        try:
            watch = self._observer.schedule(
                self._handler, path, recursive=recursive, event_filter=_EVENT_FILTER
            )
        except OSError as exc:
            log.warning("watch_failed", path=path, error=str(exc))
            if held is not None:
                del self._watches[key]
            return False
        count = 1 if held is None else held.count + 1
        self._watches[key] = _Held(watch=watch, count=count, identity=identity)
        return True

    def _release(self, path: str, *, recursive: bool) -> None:
        key = (path, recursive)
        held = self._watches.get(key)
        if held is None:
            return
        held.count -= 1
        if held.count <= 0:
            del self._watches[key]
            self._unschedule(held.watch)

    def _unschedule(self, watch: ObservedWatch) -> None:
        if self._observer is not None:
            with contextlib.suppress(KeyError):
                self._observer.unschedule(watch)

    def _set_guards(self, slot: _Slot, guards: frozenset[str]) -> None:
        kept = set()
        for guard in guards:
            if guard in slot.guards:
                held = self._watches.get((guard, False))
                if held is not None and held.identity == self._identity(guard):
                    kept.add(guard)
                    continue
                self._release(guard, recursive=False)  # stale: watch it afresh
            if self._acquire(guard, recursive=False):
                kept.add(guard)
        for guard in slot.guards - guards:
            self._release(guard, recursive=False)
        slot.guards = frozenset(kept)

    def _drop_main(self, slot: _Slot) -> None:
        if slot.main is not None:
            self._release(slot.main, recursive=self._recursive)
            log.info("watch_path_gone", path=slot.configured)
            for table in (self._pending, self._fired):
                for path in [p for p in table if _is_ancestor_or_self(slot.main, p)]:
                    del table[path]
        slot.main, slot.identity = None, None

    def _reevaluate(self, *, changed: str | None, force: bool, report: bool) -> None:
        self._mounts = _mount_points()
        for slot in self._slots:
            for _attempt in range(8):  # settle races: a folder created while we re-watch
                if self._refresh(slot, changed=changed, force=force, report=report):
                    break
                self._mounts = _mount_points()
        self._publish()

    def _publish(self) -> None:
        self._targets = tuple(s.target for s in self._slots)
        self._scopes = tuple(s.main for s in self._slots if s.main is not None)

    def _refresh(
        self,
        slot: _Slot,
        *,
        changed: str | None,
        force: bool,
        report: bool,
    ) -> bool:
        """Bring one slot's watches in line with the disk; False to try again."""
        slot.target = target = os.path.realpath(slot.configured)
        identity = self._identity(target) if os.path.isdir(target) else None
        if identity is not None:
            mount_point = _mount_root(target, self._mounts)[0]
            stale = slot.main != target or slot.identity != identity
            if force and changed is not None and _is_ancestor_or_self(changed, target):
                stale = True
            if not stale:
                return True
            self._drop_main(slot)
            if not self._acquire(target, recursive=self._recursive):
                if not os.path.isdir(target):
                    return False  # it vanished meanwhile: look again
                # Cannot watch it (permissions, inotify watch limit): wait for a change.
                self._set_guards(slot, frozenset({os.path.dirname(target)}))
                return True
            slot.main, slot.identity = target, identity
            self._publish()  # let the handler pass this folder's events from now on
            guards = {os.path.dirname(target)}
            if mount_point != os.path.dirname(mount_point):  # the device's mount point
                guards.add(os.path.dirname(mount_point))
            self._set_guards(slot, frozenset(guards - {target}))
            log.info("watch_path_ready", path=slot.configured, watched=target)
            if report:
                for path in self._walk(target):
                    self._handle(_FileEvent(path, "scan"))
            return True
        self._drop_main(slot)
        ancestor = _nearest_existing_dir(target)
        self._set_guards(slot, frozenset({ancestor}))
        # It may have appeared between the check and the guard: look once more.
        return not os.path.isdir(target)

    def _watch_mounts(self, fd: int) -> None:
        """Linux: wake up on every mount-table change (poll() on mountinfo) and re-check."""
        try:
            poller = select.poll()
            poller.register(fd, select.POLLPRI | select.POLLERR)
            poller.register(self._wake_r, select.POLLIN)
            while True:
                ready = poller.poll()
                if any(rfd == self._wake_r for rfd, _ in ready):
                    return
                os.lseek(fd, 0, os.SEEK_SET)
                while os.read(fd, 65536):
                    pass
                self._put(_Reevaluate(changed=None, force=False))
        finally:
            os.close(fd)
