"""Folder watching: notices workout files and hands each over once it is whole.

Owns which names count as workouts, the watchdog observers, the debouncing that turns
a stream of file events into one ``on_ready(path)`` per completed write, and keeping
an eye on each configured folder's health (``stravasync.folders``). It knows nothing
of Strava, validation or the state store.

Threads, as in maestral: watchdog's handler threads only filter events and put them
on a queue; one consumer thread owns all mutable state, debounces and decides. A file
that proves itself complete (``completeness.proves_complete``) is handed over at once;
anything else after ``settle_seconds`` of quiet (no events, same size and mtime).
``on_ready`` and ``on_health`` run on the consumer thread (``on_health`` also on the
thread calling ``scan()``): keep them short (enqueue and return).

Configured folders may not exist yet (a USB device not plugged in), or may not be
readable. Such a folder is waited for by watching its nearest existing ancestor,
non-recursively, and by looking again with backoff (1 s doubling to 30 s); on Linux
the mount table (``/proc/self/mountinfo``, which signals changes through ``poll``) is
watched too, so mounts and unmounts are noticed at once. When a folder becomes usable
its existing files go through the same pipeline, as a scan. Folders on file systems
that deliver no change events (network shares, FUSE: see ``stravasync.folders``) are
watched by polling every ``poll_interval`` seconds.

``start()`` itself does not report the files already there: call ``scan()`` after
``start()`` (watch first, then list, so nothing falls between the two). ``scan()``
also checks every folder's health, so a periodic rescan is a periodic health check.

A file that cannot be read is handed over once (the consumer records why), then
looked at again with backoff (at most 30 s apart) and at once on a permission change,
and handed over again when it can be read. A sub-folder that cannot be listed is
logged once and treated the same way.

Paths given to ``on_ready`` are absolute with symlinks resolved, ``str`` as the OS
gives them (undecodable bytes as surrogate escapes; ``folders.shown`` for people).
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import queue
import select
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
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

from stravasync.completeness import StatSignature, proves_complete, stat_signature
from stravasync.folders import (
    FolderHealth,
    Mount,
    WatchMode,
    folder_health,
    mount_for,
    read_mounts,
    shown,
)
from stravasync.logs import get_logger

__all__ = [
    "DEFAULT_IGNORE",
    "DEFAULT_POLL_INTERVAL",
    "MAX_RECHECK_SECONDS",
    "WORKOUT_SUFFIXES",
    "Watcher",
    "is_ignored",
    "is_workout_name",
]

log = get_logger(__name__)

#: Names (case-insensitive, optionally followed by ``.gz``) that may be workouts.
WORKOUT_SUFFIXES = (".fit", ".gpx", ".tcx")
#: File-name globs never handed over (Zwift rewrites this one throughout a ride).
DEFAULT_IGNORE = ("inProgressActivity.fit",)
#: Seconds between looks at a folder without change events (``watch.poll_interval = 0``).
DEFAULT_POLL_INTERVAL = 10.0
#: Longest wait before an unusable folder or unreadable file is looked at again.
MAX_RECHECK_SECONDS = 30.0
_FIRST_RECHECK = 1.0

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
_MOUNTINFO = "/proc/self/mountinfo"

Kind = Literal["write", "closed", "arrived", "scan", "gone", "attrib"]


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


def is_ignored(name: str, ignore: Sequence[str]) -> bool:
    """Whether a file name matches one of the ``watch.ignore`` globs (case-insensitive)."""
    lower = name.lower()
    return any(fnmatch.fnmatchcase(lower, glob.lower()) for glob in ignore)


def _can_read(path: str) -> bool:
    """Whether the file opens for reading now (non-blocking: a FIFO never hangs us)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    os.close(fd)
    return True


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


@dataclass(frozen=True)
class _Unreachable:
    """``scan()`` found a file it cannot read or a sub-folder it cannot list."""

    path: str
    folder: bool


@dataclass(frozen=True)
class _DirAttrib:
    path: str


class _Stop:
    pass


_Message = _FileEvent | _Reevaluate | _Unreachable | _DirAttrib | _Stop


@dataclass
class _Pending:
    last_event: float
    sig: StatSignature
    check_at: float | None


@dataclass
class _Backoff:
    """When to look again at something we could not use."""

    due: float
    delay: float

    def again(self, now: float, cap: float) -> None:
        self.delay = min(self.delay * 2, cap)
        self.due = now + self.delay


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
    polling: bool = False
    """Forced to polling (constructor) or fell back to it (events unavailable)."""
    target: str = ""
    identity: _Identity | None = None
    main: str | None = None
    main_mode: WatchMode = "events"
    guards: frozenset[str] = field(default_factory=frozenset)
    extras: frozenset[str] = field(default_factory=frozenset)
    health: FolderHealth | None = None
    warned: bool = False
    ever_ok: bool = False
    recheck: _Backoff | None = None


def _is_ancestor_or_self(ancestor: str, path: str) -> bool:
    return path == ancestor or path.startswith(ancestor.rstrip(os.sep) + os.sep)


def _mount_root(path: str, mounts: list[Mount] | None) -> tuple[str, int | None]:
    """The mount point holding ``path`` and its mount id (None without mountinfo)."""
    if mounts is not None:
        mount = mount_for(path, mounts)
        return (mount.point, mount.mount_id) if mount is not None else ("/", None)
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
    """Runs on watchdog's threads: filters events and enqueues; decides nothing."""

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
            if etype == "attrib":  # permissions changed: maybe usable (or not) now
                if w._touches_target(src):
                    w._put(_Reevaluate(changed=src, force=False))
                elif w._under_scope(src):
                    w._put(_DirAttrib(src))
            return
        if etype == "moved":
            if w._in_scope(src):
                w._put(_FileEvent(src, "gone"))
            if w._in_scope(dest):
                w._put(_FileEvent(dest, "arrived"))
        elif w._in_scope(src):
            kinds: dict[str, Kind] = {"created": "arrived", "closed": "closed",
                                      "deleted": "gone", "attrib": "attrib"}
            w._put(_FileEvent(src, kinds.get(etype, "write")))


class Watcher:
    """Watches folders and calls ``on_ready(path)`` once per completed write of a workout."""

    def __init__(  # noqa: PLR0913 - keyword-only settings, each with its default
        self,
        *,
        paths: Sequence[Path],
        recursive: bool,
        settle_seconds: float,
        on_ready: Callable[[Path], None],
        on_health: Callable[[FolderHealth], None] | None = None,
        ignore: Sequence[str] = DEFAULT_IGNORE,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        polling: Collection[Path] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        forced = {os.path.abspath(os.path.expanduser(p)) for p in polling}
        self._slots = []
        for p in paths:
            configured = os.path.abspath(os.path.expanduser(p))
            self._slots.append(_Slot(configured=configured, polling=configured in forced))
        self._recursive = recursive
        self._settle = max(0.0, settle_seconds)
        self._quick_delay = min(0.05, self._settle / 2)
        self._on_ready = on_ready
        self._on_health = on_health
        self._ignore = tuple(ignore)
        self._poll_interval = poll_interval if poll_interval > 0 else DEFAULT_POLL_INTERVAL
        self._clock = clock
        self._queue: queue.SimpleQueue[_Message] = queue.SimpleQueue()
        self._pending: dict[str, _Pending] = {}
        self._fired: dict[str, StatSignature] = {}
        self._unreadable: dict[str, tuple[StatSignature, _Backoff]] = {}
        self._blocked: dict[str, _Backoff] = {}
        self._watches: dict[tuple[str, bool, WatchMode], _Held] = {}
        self._mounts: list[Mount] | None = None
        self._health_lock = threading.Lock()
        # Read by the handler threads; replaced whole (never mutated) by the consumer.
        self._scopes: tuple[str, ...] = ()
        self._targets: tuple[str, ...] = ()
        self._handler = _Handler(self)
        self._observers: dict[WatchMode, BaseObserver] = {}
        self._started = False
        self._consumer: threading.Thread | None = None
        self._mount_thread: threading.Thread | None = None
        self._wake_r, self._wake_w = -1, -1

    # -- public ------------------------------------------------------------------

    def start(self) -> None:
        """Start watching (returns at once; events are handled on background threads)."""
        if self._started:
            return
        self._started = True
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
        if not self._started:
            return
        self._put(_Stop())
        if self._consumer is not None:
            self._consumer.join()
        if self._mount_thread is not None:
            os.write(self._wake_w, b"x")
            self._mount_thread.join()
            os.close(self._wake_r)
            os.close(self._wake_w)
        for observer in self._observers.values():
            observer.stop()
            observer.join()
        self._observers.clear()
        self._started = False
        self._consumer = self._mount_thread = None
        self._watches.clear()
        for table in (self._pending, self._unreadable, self._blocked):
            table.clear()
        for slot in self._slots:
            slot.main, slot.identity, slot.recheck = None, None, None
            slot.guards, slot.extras = frozenset(), frozenset()

    def scan(self) -> list[Path]:
        """Every workout file now under the watched paths (sorted, resolved); checks health.

        One file or sub-folder that cannot be read never stops the scan: an unreadable
        file is listed (the consumer records why), and both are looked at again later.
        """
        mounts = read_mounts()
        changed = False
        found: set[str] = set()
        blocked: list[str] = []
        for slot in self._slots:
            health = self._check_health(slot, mounts)
            changed |= self._note_health(slot, health)
            if health.usable:
                found.update(self._walk(os.path.realpath(slot.configured), blocked=blocked.append))
        if self._started:
            if changed:
                self._put(_Reevaluate(changed=None, force=False))
            for path in sorted(found):
                if not _can_read(path):
                    self._put(_Unreachable(path, folder=False))
            for path in blocked:
                self._put(_Unreachable(path, folder=True))
        return [Path(p) for p in sorted(found)]

    def health(self) -> list[FolderHealth]:
        """Each configured folder's health as last checked, in configuration order."""
        result = []
        for slot in self._slots:
            health = slot.health
            if health is None:
                health = self._check_health(slot, read_mounts())
                self._note_health(slot, health)
            result.append(health)
        return result

    # -- handler-thread side -----------------------------------------------------

    def _put(self, message: _Message) -> None:
        self._queue.put(message)

    def _wanted(self, name: str) -> bool:
        return is_workout_name(name) and not is_ignored(name, self._ignore)

    def _under_scope(self, path: str) -> bool:
        return any(path.startswith(root.rstrip(os.sep) + os.sep) for root in self._scopes)

    def _in_scope(self, path: str) -> bool:
        if not self._wanted(os.path.basename(path)):
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

    # -- folder health -------------------------------------------------------------

    def _check_health(self, slot: _Slot, mounts: list[Mount] | None) -> FolderHealth:
        return folder_health(slot.configured, mounts=mounts, recursive=self._recursive,
                             force_polling=slot.polling)

    def _note_health(self, slot: _Slot, health: FolderHealth) -> bool:
        """Record a check; log and call ``on_health`` once per change. True if it changed."""
        with self._health_lock:
            previous = slot.health
            if previous == health:
                return False
            slot.health = health
            if health.usable:
                if slot.warned:
                    log.info("watch_path_recovered", path=shown(health.path), mode=health.mode)
                slot.warned, slot.ever_ok = False, True
            elif previous is None or (previous.state, previous.error) != (health.state,
                                                                           health.error):
                if health.state == "missing" and slot.ever_ok:
                    # It was there: a device unplugged, not a mistake. Not a warning.
                    log.info("watch_path_missing", path=shown(health.path), error=health.error)
                else:
                    log.warning("watch_path_unusable", path=shown(health.path),
                                state=health.state, mode=health.mode, error=health.error)
                    slot.warned = True
        if self._on_health is not None:
            try:
                self._on_health(health)
            except Exception:  # a failing callback must not stop the watcher (logged)
                log.exception("on_health_failed", path=shown(health.path))
        return True

    def _recheck_later(self, slot: _Slot, health: FolderHealth) -> None:
        now = self._clock()
        cap = MAX_RECHECK_SECONDS
        if health.mode == "polling":
            cap = min(cap, self._poll_interval)
        if slot.recheck is None:
            slot.recheck = _Backoff(due=now + min(_FIRST_RECHECK, cap), delay=_FIRST_RECHECK)
        elif now >= slot.recheck.due:
            slot.recheck.again(now, cap)

    # -- consumer-thread side ----------------------------------------------------

    def _walk(self, root: str, *, blocked: Callable[[str], None] | None = None) -> Iterator[str]:
        def onerror(exc: OSError) -> None:
            if blocked is not None and exc.filename is not None and os.fspath(exc.filename) != root:
                blocked(os.fsdecode(exc.filename))

        if not os.path.isdir(root):
            return
        for dirpath, dirnames, filenames in os.walk(root, onerror=onerror):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in filenames:
                full = os.path.join(dirpath, name)
                if self._wanted(name) and os.path.isfile(full):
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
                try:
                    self._handle(message)
                except Exception:  # one odd path must never stop the watcher (logged)
                    log.exception("watch_event_failed", message=repr(message))
                try:
                    message = self._queue.get_nowait()
                except queue.Empty:
                    message = None
            try:
                self._process_due()
            except Exception:
                log.exception("watch_check_failed")

    def _handle(self, message: _FileEvent | _Reevaluate | _Unreachable | _DirAttrib) -> None:
        if isinstance(message, _Reevaluate):
            self._reevaluate(changed=message.changed, force=message.force, report=True)
        elif isinstance(message, _DirAttrib):
            if message.path in self._blocked:
                self._blocked[message.path].due = self._clock()
        elif isinstance(message, _Unreachable):
            if message.folder:
                self._block(message.path)
            elif message.path not in self._unreadable:
                with contextlib.suppress(OSError):
                    self._unreadable[message.path] = (
                        stat_signature(message.path), self._first_backoff())
        else:
            self._file_event(message)

    def _file_event(self, message: _FileEvent) -> None:
        path = message.path
        if message.kind == "gone":
            for table in (self._pending, self._fired, self._unreadable):
                table.pop(path, None)
            return
        try:
            sig = stat_signature(path)
        except OSError:
            self._pending.pop(path, None)
            return
        if not os.path.isfile(path):
            return  # a FIFO, device or folder named like a workout: never read it
        pending = self._pending.get(path)
        if (pending is None and message.kind != "scan" and self._fired.get(path) == sig
                and path not in self._unreadable):
            return  # nothing new since we reported it (e.g. the close after the last write)
        now = self._clock()
        check_at = now if message.kind not in ("write", "attrib") else now + self._quick_delay
        if pending is None:
            self._pending[path] = _Pending(last_event=now, sig=sig, check_at=check_at)
        else:
            pending.last_event, pending.sig, pending.check_at = now, sig, check_at

    def _first_backoff(self) -> _Backoff:
        return _Backoff(due=self._clock() + _FIRST_RECHECK, delay=_FIRST_RECHECK)

    def _next_deadline(self) -> float | None:
        deadlines = [
            p.check_at if p.check_at is not None else p.last_event + self._settle
            for p in self._pending.values()
        ]
        deadlines += [s.recheck.due for s in self._slots if s.recheck is not None]
        deadlines += [b.due for _, b in self._unreadable.values()]
        deadlines += [b.due for b in self._blocked.values()]
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
        for path, (_sig, backoff) in list(self._unreadable.items()):
            if now >= backoff.due and path not in self._pending:
                backoff.again(now, MAX_RECHECK_SECONDS)
                if _can_read(path):
                    self._file_event(_FileEvent(path, "scan"))
        for folder, backoff in list(self._blocked.items()):
            if now >= backoff.due:
                self._retry_blocked(folder, backoff, now)
        if any(s.recheck is not None and now >= s.recheck.due for s in self._slots):
            self._reevaluate(changed=None, force=False, report=True)

    def _settled(self, path: str, pending: _Pending, now: float, *, how: str) -> None:
        sig = stat_signature(path)
        if sig != pending.sig:  # changed without an event reaching us yet: start over
            pending.sig, pending.last_event = sig, now
            pending.check_at = now + self._quick_delay
            return
        del self._pending[path]
        self._fired[path] = sig
        if not _can_read(path):
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

    # -- sub-folders that cannot be listed -----------------------------------------

    def _block(self, folder: str) -> None:
        if folder in self._blocked or not any(_is_ancestor_or_self(s, folder) for s in self._scopes):
            return
        self._blocked[folder] = self._first_backoff()
        log.warning("subfolder_unreadable", path=shown(folder),
                    hint="fix its permissions; its files are picked up as soon as it can be read")

    def _retry_blocked(self, folder: str, backoff: _Backoff, now: float) -> None:
        try:
            if not os.access(folder, os.R_OK | os.X_OK):
                raise PermissionError(folder)
            with os.scandir(folder):
                pass
        except FileNotFoundError:
            del self._blocked[folder]
            return
        except OSError:
            backoff.again(now, MAX_RECHECK_SECONDS)
            return
        del self._blocked[folder]
        log.info("subfolder_readable_again", path=shown(folder))
        slot = next((s for s in self._slots if s.main is not None
                     and _is_ancestor_or_self(s.main, folder)), None)
        if slot is None:
            return
        if slot.main_mode == "events":
            # The recursive watch skipped it when it could not be read: watch it now.
            if self._acquire(folder, recursive=True, mode="events") is None:
                slot.extras = slot.extras | {folder}
        for path in self._walk(folder, blocked=self._block):
            self._file_event(_FileEvent(path, "scan"))

    # -- watched folders coming and going ----------------------------------------

    def _identity(self, path: str) -> _Identity | None:
        """What a watch is really attached to: device, inode and mount instance."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        return st.st_dev, st.st_ino, _mount_root(path, self._mounts)[1]

    def _observer(self, mode: WatchMode) -> BaseObserver:
        observer = self._observers.get(mode)
        if observer is None:
            observer = Observer() if mode == "events" else PollingObserver(
                timeout=self._poll_interval)
            observer.daemon = True
            observer.start()
            self._observers[mode] = observer
        return observer

    def _acquire(self, path: str, *, recursive: bool, mode: WatchMode) -> OSError | None:
        key = (path, recursive, mode)
        held = self._watches.get(key)
        identity = self._identity(path)
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
                del self._watches[key]
            return exc
        count = 1 if held is None else held.count + 1
        self._watches[key] = _Held(watch=watch, count=count, identity=identity)
        return None

    def _release(self, path: str, *, recursive: bool, mode: WatchMode) -> None:
        key = (path, recursive, mode)
        held = self._watches.get(key)
        if held is None:
            return
        held.count -= 1
        if held.count <= 0:
            del self._watches[key]
            self._unschedule(held.watch, mode)

    def _unschedule(self, watch: ObservedWatch, mode: WatchMode) -> None:
        observer = self._observers.get(mode)
        if observer is not None:
            with contextlib.suppress(KeyError):
                observer.unschedule(watch)

    def _set_guards(self, slot: _Slot, guards: frozenset[str]) -> None:
        kept = set()
        for guard in guards:
            if guard in slot.guards:
                held = self._watches.get((guard, False, "events"))
                if held is not None and held.identity == self._identity(guard):
                    kept.add(guard)
                    continue
                self._release(guard, recursive=False, mode="events")  # stale: watch it afresh
            if self._acquire(guard, recursive=False, mode="events") is None:
                kept.add(guard)
        for guard in slot.guards - guards:
            self._release(guard, recursive=False, mode="events")
        slot.guards = frozenset(kept)

    def _drop_main(self, slot: _Slot) -> None:
        if slot.main is not None:
            self._release(slot.main, recursive=self._recursive, mode=slot.main_mode)
            for extra in slot.extras:
                self._release(extra, recursive=True, mode="events")
            log.info("watch_path_gone", path=shown(slot.configured))
            for table in (self._pending, self._fired, self._unreadable, self._blocked):
                for path in [p for p in table if _is_ancestor_or_self(slot.main, p)]:
                    del table[path]
        slot.main, slot.identity, slot.extras = None, None, frozenset()

    def _reevaluate(self, *, changed: str | None, force: bool, report: bool) -> None:
        self._mounts = read_mounts()
        for slot in self._slots:
            for _attempt in range(8):  # settle races: a folder created while we re-watch
                if self._refresh(slot, changed=changed, force=force, report=report):
                    break
                self._mounts = read_mounts()
        self._publish()

    def _publish(self) -> None:
        self._targets = tuple(s.target for s in self._slots)
        self._scopes = tuple(s.main for s in self._slots if s.main is not None)

    def _refresh(self, slot: _Slot, *, changed: str | None, force: bool, report: bool) -> bool:
        """Bring one slot's watches in line with the disk; False to try again."""
        slot.target = target = os.path.realpath(slot.configured)
        health = self._check_health(slot, self._mounts)
        self._note_health(slot, health)
        identity = self._identity(target) if health.usable else None
        if identity is None:
            self._drop_main(slot)
            self._set_guards(slot, frozenset({_nearest_existing_dir(target)}))
            self._recheck_later(slot, health)
            # It may have appeared between the check and the guard: look once more.
            return health.state != "missing" or not os.path.isdir(target)
        stale = (slot.main, slot.identity, slot.main_mode) != (target, identity, health.mode)
        if force and changed is not None and _is_ancestor_or_self(changed, target):
            stale = True
        if not stale:
            return True
        self._drop_main(slot)
        error = self._acquire(target, recursive=self._recursive, mode=health.mode)
        if error is not None and health.mode == "events":
            # No events to be had here (e.g. the inotify watch limit): poll instead.
            log.warning("watch_events_unavailable", path=shown(slot.configured),
                        error=str(error), hint="watching it by polling instead")
            slot.polling = True
            health = self._check_health(slot, self._mounts)
            self._note_health(slot, health)
            error = self._acquire(target, recursive=self._recursive, mode=health.mode)
        if error is not None:
            if not os.path.isdir(target):
                return False  # it vanished meanwhile: look again
            log.warning("watch_failed", path=shown(target), error=str(error))
            self._set_guards(slot, frozenset({os.path.dirname(target)}))
            self._recheck_later(slot, health)
            return True
        slot.main, slot.identity, slot.main_mode = target, identity, health.mode
        slot.recheck = None
        self._publish()  # let the handler pass this folder's events from now on
        mount_point = _mount_root(target, self._mounts)[0]
        guards = {os.path.dirname(target)}
        if mount_point != os.path.dirname(mount_point):  # the device's mount point
            guards.add(os.path.dirname(mount_point))
        self._set_guards(slot, frozenset(guards - {target}))
        log.info("watch_path_ready", path=shown(slot.configured), watched=shown(target),
                 mode=health.mode)
        if report:
            for path in self._walk(target, blocked=self._block):
                self._file_event(_FileEvent(path, "scan"))
        return True

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
