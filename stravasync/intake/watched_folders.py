"""Owns following each configured folder as it comes and goes, and what the filter passes.

A folder that is missing (a USB device not plugged in) or unusable is waited for by
watching its nearest existing ancestor (a guard) and by looking again with backoff
(1 s doubling to ``MAX_RECHECK_SECONDS``, or ``poll_interval`` when polled). A usable
one gets its main watch, plus guards on its parent and on the parent of its device's
mount point, so its disappearance (or an unmount) is noticed. Folders whose events are
unavailable fall back to polling.

``scopes`` (the folders watched now) and ``targets`` (where each configured path
points) are read by watchdog's threads and replaced whole, never mutated; everything
else runs on the watcher's consumer thread (or before it starts).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stravasync.fsutil import shown
from stravasync.intake.folders import (
    FolderHealth,
    HealthBoard,
    Mount,
    WatchMode,
    folder_health,
    read_mounts,
)
from stravasync.intake.observers import (
    FIRST_RECHECK,
    MAX_RECHECK_SECONDS,
    Backoff,
    Identity,
    Watches,
    is_ancestor_or_self,
    mount_root,
    nearest_existing_dir,
)
from stravasync.logs import get_logger

__all__ = ["Slot", "WatchedFolders"]

log = get_logger(__name__)


@dataclass
class Slot:
    """One configured folder and the watches that follow it."""

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


class WatchedFolders:
    """Keeps each configured folder's watches in line with the disk."""

    def __init__(
        self,
        *,
        paths: Sequence[Path],
        polling: Collection[Path],
        recursive: bool,
        poll_interval: float,
        board: HealthBoard,
        watches: Watches,
        clock: Callable[[], float],
        on_gone: Callable[[str], None],
        on_watched: Callable[[str], None],
    ) -> None:
        """*on_gone(folder)* runs when a watched folder is let go, *on_watched(folder)*
        when one is watched afresh and its files should be reported."""
        forced = {os.path.abspath(os.path.expanduser(p)) for p in polling}
        self.slots: list[Slot] = []
        for p in paths:
            configured = os.path.abspath(os.path.expanduser(p))
            self.slots.append(Slot(configured=configured, polling=configured in forced))
        self._recursive = recursive
        self._poll_interval = poll_interval
        self._board = board
        self._watches = watches
        self._clock = clock
        self._on_gone = on_gone
        self._on_watched = on_watched
        # Read by the handler threads; replaced whole (never mutated) by the consumer.
        self.scopes: tuple[str, ...] = ()
        self.targets: tuple[str, ...] = ()

    def check_health(self, slot: Slot, mounts: list[Mount] | None) -> FolderHealth:
        """How one configured folder is doing now."""
        return folder_health(slot.configured, mounts=mounts, recursive=self._recursive,
                             force_polling=slot.polling)

    def deadlines(self) -> list[float]:
        """When each folder waited for is next due a look."""
        return [s.recheck.due for s in self.slots if s.recheck is not None]

    def recheck_due(self, now: float) -> bool:
        """Whether some folder waited for is due a look."""
        return any(s.recheck is not None and now >= s.recheck.due for s in self.slots)

    def reset(self) -> None:
        """The watcher stopped (its watches with it): forget what each slot watched."""
        for slot in self.slots:
            slot.main, slot.identity, slot.recheck = None, None, None
            slot.guards, slot.extras = frozenset(), frozenset()

    def follow_unblocked(self, folder: str) -> bool:
        """A sub-folder can be listed again: watch it if need be; False if none holds it."""
        slot = next((s for s in self.slots if s.main is not None
                     and is_ancestor_or_self(s.main, folder)), None)
        if slot is None:
            return False
        # The recursive inotify watch skipped it when it could not be read: watch it now.
        # (Polling lists it afresh every time: nothing to add.)
        if (slot.main_mode == "events"
                and self._watches.acquire(folder, recursive=True, mode="events") is None):
            slot.extras = slot.extras | {folder}
        return True

    def reevaluate(self, *, changed: str | None, force: bool, report: bool) -> None:
        """Bring every slot's watches in line with the disk."""
        self._watches.mounts = read_mounts()
        for slot in self.slots:
            for _attempt in range(8):  # settle races: a folder created while we re-watch
                if self._refresh(slot, changed=changed, force=force, report=report):
                    break
                self._watches.mounts = read_mounts()
        self._publish()

    def _recheck_later(self, slot: Slot, health: FolderHealth) -> None:
        now = self._clock()
        cap = MAX_RECHECK_SECONDS
        if health.mode == "polling":
            cap = min(cap, self._poll_interval)
        if slot.recheck is None:
            slot.recheck = Backoff(due=now + min(FIRST_RECHECK, cap), delay=FIRST_RECHECK)
        elif now >= slot.recheck.due:
            slot.recheck.again(now, cap)

    def _set_guards(self, slot: Slot, guards: frozenset[str]) -> None:
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

    def _drop_main(self, slot: Slot) -> None:
        if slot.main is not None:
            self._watches.release(slot.main, recursive=self._recursive, mode=slot.main_mode)
            for extra in slot.extras:
                self._watches.release(extra, recursive=True, mode="events")
            log.info("watch_path_gone", path=shown(slot.configured))
            self._on_gone(slot.main)
        slot.main, slot.identity, slot.extras = None, None, frozenset()

    def _publish(self) -> None:
        self.targets = tuple(s.target for s in self.slots)
        self.scopes = tuple(s.main for s in self.slots if s.main is not None)

    def _refresh(self, slot: Slot, *, changed: str | None, force: bool, report: bool) -> bool:
        """Bring one slot's watches in line with the disk; False to try again."""
        slot.target = target = os.path.realpath(slot.configured)
        health = self.check_health(slot, self._watches.mounts)
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
            health = self.check_health(slot, self._watches.mounts)
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
            self._on_watched(target)
        return True
