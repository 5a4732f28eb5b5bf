"""Folder watching: notices workout files and hands each over once it is whole.

Owns which names count as workouts, sub-folders that cannot be listed, and the threads
that drive the parts: the debouncing that turns a stream of file events into one
``on_ready(path)`` per completed write (``stravasync.intake.settling``) and following
each configured folder (``stravasync.intake.watched_folders``; its health:
``stravasync.intake.folders``; its watches: ``stravasync.intake.observers``). It knows
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
from pathlib import Path

from stravasync.fsutil import shown
from stravasync.intake.completeness import can_read
from stravasync.intake.folders import FolderHealth, HealthBoard, read_mounts
from stravasync.intake.observers import (
    FIRST_RECHECK,
    MAX_RECHECK_SECONDS,
    Backoff,
    DirAttrib,
    EventFilter,
    FileEvent,
    Message,
    Reevaluate,
    Stop,
    Unreachable,
    Watches,
    is_ancestor_or_self,
)
from stravasync.intake.settling import Settler
from stravasync.intake.watched_folders import WatchedFolders
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
        self._recursive = recursive
        self._ignore = tuple(ignore)
        self._poll_interval = poll_interval if poll_interval > 0 else DEFAULT_POLL_INTERVAL
        self._clock = clock
        self._queue: queue.SimpleQueue[Message | Stop] = queue.SimpleQueue()
        self._settler = Settler(settle_seconds=settle_seconds, on_ready=on_ready, clock=clock)
        self.closes = self._settler.closes  # public: which files their writer closed (thread-safe)
        self._blocked: dict[str, Backoff] = {}
        self._board = HealthBoard(on_change=on_health)
        handler = EventFilter(put=self._put, in_scope=self._in_scope,
                              under_scope=self._under_scope, touches_target=self._touches_target)
        self._watches = Watches(handler=handler, poll_interval=self._poll_interval)
        self._folders = WatchedFolders(
            paths=paths, polling=polling, recursive=recursive, poll_interval=self._poll_interval,
            board=self._board, watches=self._watches, clock=clock,
            on_gone=self._forget_under, on_watched=self._report_folder,
        )
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
        self._folders.reevaluate(changed=None, force=False, report=False)
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
        self._settler.reset()
        self._blocked.clear()
        self._folders.reset()

    def scan(self) -> list[Path]:
        """Every workout file now under the watched paths (sorted, resolved); checks health.

        One file or sub-folder that cannot be read never stops the scan: an unreadable
        file is listed (the consumer records why), and both are looked at again later.
        """
        mounts = read_mounts()
        changed = False
        found: set[str] = set()
        blocked: list[str] = []
        for slot in self._folders.slots:
            health = self._folders.check_health(slot, mounts)
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
        for slot in self._folders.slots:
            health = self._board.get(Path(slot.configured))
            if health is None:
                health = self._folders.check_health(slot, read_mounts())
                self._board.note(health)
            result.append(health)
        return result

    # -- handler-thread side -----------------------------------------------------

    def _put(self, message: Message | Stop) -> None:
        self._queue.put(message)

    def _wanted(self, name: str) -> bool:
        return is_workout_name(name) and not is_ignored(name, self._ignore)

    def _under_scope(self, path: str) -> bool:
        return any(path.startswith(root.rstrip(os.sep) + os.sep)
                   for root in self._folders.scopes)

    def _in_scope(self, path: str) -> bool:
        if not self._wanted(os.path.basename(path)):
            return False
        for root in self._folders.scopes:
            if not path.startswith(root.rstrip(os.sep) + os.sep):
                continue
            rel_dirs = os.path.relpath(os.path.dirname(path), root)
            if rel_dirs == ".":
                return True
            if self._recursive and not any(part.startswith(".") for part in rel_dirs.split(os.sep)):
                return True
        return False

    def _touches_target(self, path: str) -> bool:
        return any(is_ancestor_or_self(path, t) for t in self._folders.targets)

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
            self._folders.reevaluate(changed=message.changed, force=message.force, report=True)
        elif isinstance(message, DirAttrib):
            if message.path in self._blocked:
                self._blocked[message.path].due = self._clock()
        elif isinstance(message, Unreachable):
            if message.folder:
                self._block(message.path)
            else:
                self._settler.unreadable(message.path)
        else:
            self._settler.event(message)

    def _next_deadline(self) -> float | None:
        deadlines = self._settler.deadlines()
        deadlines += self._folders.deadlines()
        deadlines += [b.due for b in self._blocked.values()]
        return min(deadlines, default=None)

    def _process_due(self) -> None:
        now = self._clock()
        self._settler.process_due(now)
        for folder, backoff in list(self._blocked.items()):
            if now >= backoff.due:
                self._retry_blocked(folder, backoff, now)
        if self._folders.recheck_due(now):
            self._folders.reevaluate(changed=None, force=False, report=True)

    def _report_folder(self, folder: str) -> None:
        """A folder is watched afresh: its files go through the pipeline as a scan."""
        for path in self._walk(folder, blocked=self._block):
            self._settler.event(FileEvent(path, "scan"))

    def _forget_under(self, folder: str) -> None:
        """A watched folder is gone: forget its files and its sub-folders."""
        self._settler.forget_under(folder)
        for path in [p for p in self._blocked if is_ancestor_or_self(folder, p)]:
            del self._blocked[path]

    # -- sub-folders that cannot be listed -----------------------------------------

    def _block(self, folder: str) -> None:
        if folder in self._blocked or not any(is_ancestor_or_self(s, folder)
                                              for s in self._folders.scopes):
            return
        self._blocked[folder] = Backoff(due=self._clock() + FIRST_RECHECK, delay=FIRST_RECHECK)
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
        if self._folders.follow_unblocked(folder):
            self._report_folder(folder)

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
