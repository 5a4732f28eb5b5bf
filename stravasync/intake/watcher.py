"""Folder watching: notices workout files and hands each over once it is whole.

Owns which names count as workouts, the debouncing that turns a stream of file events
into one ``on_ready(path)`` per completed write, and following each configured folder
(its health: ``stravasync.intake.folders``; its watches: ``stravasync.intake.observers``). It knows
nothing of Strava, validation or the state store.

Threads, as in maestral: watchdog's threads only filter events and put them on a
queue; one consumer thread owns all mutable state, debounces and decides. A file that
proves itself complete (``completeness.proves_complete``) is handed over at once;
anything else after ``settle_seconds`` of quiet, and again when its writer closes it.
``on_ready`` and ``on_health`` run on the consumer thread (``on_health`` also on the
thread calling ``scan()``): keep them short (enqueue and return).

A folder that is missing (a USB device not plugged in) or unusable is waited for by
watching its nearest existing ancestor and by looking again with backoff (1 s doubling
to 30 s); on Linux the mount table is watched too (``poll`` on mountinfo), so mounts
are noticed at once. When it becomes usable its files go through the pipeline as a
scan. Folders on file systems without change events are polled (``poll_interval``).
``start()`` does not report the files already there: call ``scan()`` after it (watch
first, then list). ``scan()`` also checks every folder's health.

A file that cannot be read is handed over once (the consumer records why), looked at
again with backoff (at most 30 s apart) and at once on a permission change, and
handed over again when it can be read. A sub-folder that cannot be listed likewise.
Paths given to ``on_ready`` are absolute with symlinks resolved, ``str`` as the OS
gives them (undecodable bytes as surrogate escapes; ``fsutil.shown`` for people).
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

from stravasync.fsutil import shown
from stravasync.intake.completeness import StatSignature, can_read, proves_complete, stat_signature
from stravasync.intake.folders import (
    FolderHealth,
    HealthBoard,
    Mount,
    WatchMode,
    folder_health,
    read_mounts,
)
from stravasync.intake.observers import (
    Backoff,
    ClosedWrites,
    DirAttrib,
    EventFilter,
    FileEvent,
    Identity,
    Message,
    Reevaluate,
    Stop,
    Unreachable,
    Watches,
    is_ancestor_or_self,
    mount_root,
    nearest_existing_dir,
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

_MOUNTINFO = "/proc/self/mountinfo"


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


@dataclass
class _Pending:
    last_event: float
    sig: StatSignature
    check_at: float | None


@dataclass
class _Slot:
    configured: str
    polling: bool = False
    """Forced to polling (constructor) or fell back to it (events unavailable)."""
    target: str = ""
    identity: Identity | None = None
    main: str | None = None
    main_mode: WatchMode = "events"
    guards: frozenset[str] = field(default_factory=frozenset)
    extras: frozenset[str] = field(default_factory=frozenset)
    recheck: Backoff | None = None


class Watcher:
    """Watches folders and calls ``on_ready(path)`` once per completed write of a workout."""

    def __init__(
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
        self._ignore = tuple(ignore)
        self._poll_interval = poll_interval if poll_interval > 0 else DEFAULT_POLL_INTERVAL
        self._clock = clock
        self._queue: queue.SimpleQueue[Message | Stop] = queue.SimpleQueue()
        self._pending: dict[str, _Pending] = {}
        self._fired: dict[str, StatSignature] = {}
        self._how: dict[str, str] = {}  # how each was handed over: "quiet" awaits its close
        self.closes = ClosedWrites()  # public: which files their writer closed (thread-safe)
        self._unreadable: dict[str, tuple[StatSignature, Backoff]] = {}
        self._blocked: dict[str, Backoff] = {}
        self._board = HealthBoard(on_change=on_health)
        # Read by the handler threads; replaced whole (never mutated) by the consumer.
        self._scopes: tuple[str, ...] = ()
        self._targets: tuple[str, ...] = ()
        handler = EventFilter(put=self._put, in_scope=self._in_scope,
                              under_scope=self._under_scope, touches_target=self._touches_target)
        self._watches = Watches(handler=handler, poll_interval=self._poll_interval)
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
        self._put(Stop())
        if self._consumer is not None:
            self._consumer.join()
        if self._mount_thread is not None:
            os.write(self._wake_w, b"x")
            self._mount_thread.join()
            os.close(self._wake_r)
            os.close(self._wake_w)
        self._watches.stop()
        self._started = False
        self._consumer = self._mount_thread = None
        for table in (self._pending, self._unreadable, self._blocked, self._how):
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
            changed |= self._board.note(health)
            if health.usable:
                found.update(self._walk(os.path.realpath(slot.configured), blocked=blocked.append))
        if self._started:
            if changed:
                self._put(Reevaluate(changed=None, force=False))
            for path in sorted(found):
                if not can_read(path):
                    self._put(Unreachable(path, folder=False))
            for path in blocked:
                self._put(Unreachable(path, folder=True))
        return [Path(p) for p in sorted(found)]

    def health(self) -> list[FolderHealth]:
        """Each configured folder's health as last checked, in configuration order."""
        result = []
        for slot in self._slots:
            health = self._board.get(Path(slot.configured))
            if health is None:
                health = self._check_health(slot, read_mounts())
                self._board.note(health)
            result.append(health)
        return result

    # -- handler-thread side -----------------------------------------------------

    def _put(self, message: Message | Stop) -> None:
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
        return any(is_ancestor_or_self(path, t) for t in self._targets)

    # -- folder health -------------------------------------------------------------

    def _check_health(self, slot: _Slot, mounts: list[Mount] | None) -> FolderHealth:
        return folder_health(slot.configured, mounts=mounts, recursive=self._recursive,
                             force_polling=slot.polling)

    def _recheck_later(self, slot: _Slot, health: FolderHealth) -> None:
        now = self._clock()
        cap = MAX_RECHECK_SECONDS
        if health.mode == "polling":
            cap = min(cap, self._poll_interval)
        if slot.recheck is None:
            slot.recheck = Backoff(due=now + min(_FIRST_RECHECK, cap), delay=_FIRST_RECHECK)
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
                    message: Message | Stop | None = self._queue.get()
                else:
                    message = self._queue.get(timeout=max(0.0, deadline - self._clock()))
            except queue.Empty:
                message = None
            while message is not None:
                if isinstance(message, Stop):
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

    def _handle(self, message: Message) -> None:
        if isinstance(message, Reevaluate):
            self._reevaluate(changed=message.changed, force=message.force, report=True)
        elif isinstance(message, DirAttrib):
            if message.path in self._blocked:
                self._blocked[message.path].due = self._clock()
        elif isinstance(message, Unreachable):
            if message.folder:
                self._block(message.path)
            elif message.path not in self._unreadable:
                with contextlib.suppress(OSError):
                    self._unreadable[message.path] = (
                        stat_signature(message.path), self._first_backoff())
        else:
            self._file_event(message)

    def _file_event(self, message: FileEvent) -> None:
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

    def _first_backoff(self) -> Backoff:
        return Backoff(due=self._clock() + _FIRST_RECHECK, delay=_FIRST_RECHECK)

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
                if can_read(path):
                    self._file_event(FileEvent(path, "scan"))
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

    # -- sub-folders that cannot be listed -----------------------------------------

    def _block(self, folder: str) -> None:
        if folder in self._blocked or not any(is_ancestor_or_self(s, folder) for s in self._scopes):
            return
        self._blocked[folder] = self._first_backoff()
        log.warning("subfolder_unreadable", path=shown(folder),
                    hint="fix its permissions; its files are picked up as soon as it can be read")

    def _retry_blocked(self, folder: str, backoff: Backoff, now: float) -> None:
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
                     and is_ancestor_or_self(s.main, folder)), None)
        if slot is None:
            return
        # The recursive inotify watch skipped it when it could not be read: watch it now.
        # (Polling lists it afresh every time: nothing to add.)
        if (slot.main_mode == "events"
                and self._watches.acquire(folder, recursive=True, mode="events") is None):
            slot.extras = slot.extras | {folder}
        for path in self._walk(folder, blocked=self._block):
            self._file_event(FileEvent(path, "scan"))

    # -- watched folders coming and going ----------------------------------------

    def _set_guards(self, slot: _Slot, guards: frozenset[str]) -> None:
        kept = set()
        for guard in guards:
            if guard in slot.guards:
                if self._watches.is_current(guard, recursive=False, mode="events"):
                    kept.add(guard)
                    continue
                self._watches.release(guard, recursive=False, mode="events")  # stale: afresh
            if self._watches.acquire(guard, recursive=False, mode="events") is None:
                kept.add(guard)
        for guard in slot.guards - guards:
            self._watches.release(guard, recursive=False, mode="events")
        slot.guards = frozenset(kept)

    def _drop_main(self, slot: _Slot) -> None:
        if slot.main is not None:
            self._watches.release(slot.main, recursive=self._recursive, mode=slot.main_mode)
            for extra in slot.extras:
                self._watches.release(extra, recursive=True, mode="events")
            log.info("watch_path_gone", path=shown(slot.configured))
            for table in (self._pending, self._fired, self._unreadable, self._blocked,
                          self._how):
                for path in [p for p in table if is_ancestor_or_self(slot.main, p)]:
                    del table[path]
        slot.main, slot.identity, slot.extras = None, None, frozenset()

    def _reevaluate(self, *, changed: str | None, force: bool, report: bool) -> None:
        self._watches.mounts = read_mounts()
        for slot in self._slots:
            for _attempt in range(8):  # settle races: a folder created while we re-watch
                if self._refresh(slot, changed=changed, force=force, report=report):
                    break
                self._watches.mounts = read_mounts()
        self._publish()

    def _publish(self) -> None:
        self._targets = tuple(s.target for s in self._slots)
        self._scopes = tuple(s.main for s in self._slots if s.main is not None)

    def _refresh(self, slot: _Slot, *, changed: str | None, force: bool, report: bool) -> bool:
        """Bring one slot's watches in line with the disk; False to try again."""
        slot.target = target = os.path.realpath(slot.configured)
        health = self._check_health(slot, self._watches.mounts)
        self._board.note(health)
        identity = self._watches.identity(target) if health.usable else None
        if identity is None:
            self._drop_main(slot)
            self._set_guards(slot, frozenset({nearest_existing_dir(target)}))
            self._recheck_later(slot, health)
            # It may have appeared between the check and the guard: look once more.
            return health.state != "missing" or not os.path.isdir(target)
        stale = (slot.main, slot.identity, slot.main_mode) != (target, identity, health.mode)
        if force and changed is not None and is_ancestor_or_self(changed, target):
            stale = True
        if not stale:
            return True
        self._drop_main(slot)
        error = self._watches.acquire(target, recursive=self._recursive, mode=health.mode)
        if error is not None and health.mode == "events":
            # No events to be had here (e.g. the inotify watch limit): poll instead.
            log.warning("watch_events_unavailable", path=shown(slot.configured),
                        error=str(error), hint="watching it by polling instead")
            slot.polling = True
            health = self._check_health(slot, self._watches.mounts)
            self._board.note(health)
            error = self._watches.acquire(target, recursive=self._recursive, mode=health.mode)
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
        mount_point = mount_root(target, self._watches.mounts)[0]
        guards = {os.path.dirname(target)}
        if mount_point != os.path.dirname(mount_point):  # the device's mount point
            guards.add(os.path.dirname(mount_point))
        self._set_guards(slot, frozenset(guards - {target}))
        log.info("watch_path_ready", path=shown(slot.configured), watched=shown(target),
                 mode=health.mode)
        if report:
            for path in self._walk(target, blocked=self._block):
                self._file_event(FileEvent(path, "scan"))
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
                self._put(Reevaluate(changed=None, force=False))
        finally:
            os.close(fd)
