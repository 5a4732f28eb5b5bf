"""Owns what a watched folder's health is, and which file systems deliver no change events.

``folder_health(path)`` answers, without a watcher, what a person needs to know about
one configured folder: its ``state`` (``ok``, ``missing``, ``unreadable``,
``not_a_folder``), how it is (or would be) watched (``events`` or ``polling``) and,
when it cannot be used, an ``error`` that says why and what to do. It is checked as
the user running it, so ``config`` and ``service install`` (run as the user the
service runs as) name the folders that user cannot use. The watcher calls it at
start, when a folder changes, and on every rescan.

Change events (inotify) only report changes made through this kernel's view of a
file system. Where the content can change behind it, the folder is polled instead.
That is decided from the mount table (``/proc/self/mountinfo``, Linux):

- network file systems (NFS, SMB/CIFS, 9p and virtiofs shares of a VM host, ...):
  another machine writes the files;
- every FUSE file system (``fuse``, ``fuse.*``): sshfs, the gvfs and jmtpfs/
  simple-mtpfs MTP mounts of newer Garmin watches, rclone, and bindfs (a write to the
  backing folder produces no event on the mount). A FUSE server's files can always
  change without passing through the mount; polling costs one listing per
  ``poll_interval``, a missed event costs a workout. The exception is ``fuseblk``
  (ntfs-3g, exfat-fuse on a USB disk): a local block device that only this mount
  writes, so its events are complete.

Without a mount table (macOS) every folder uses events unless polling is forced.
Paths are ``str`` as the OS gives them (undecodable bytes as surrogate escapes);
nothing here encodes them strictly. ``fsutil.shown()`` renders such a path for people.
"""

from __future__ import annotations

import errno
import os
import pwd
import re
import stat
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from stravasync.fsutil import shown
from stravasync.logs import get_logger

__all__ = [
    "MISSING_TEXT",
    "NO_EVENT_FSTYPES",
    "FolderHealth",
    "FolderState",
    "HealthBoard",
    "Mount",
    "WatchMode",
    "delivers_events",
    "folder_health",
    "folder_warnings",
    "mount_for",
    "parse_mountinfo",
    "read_mounts",
    "watch_mode",
]

FolderState = Literal["ok", "missing", "unreadable", "not_a_folder"]
WatchMode = Literal["events", "polling"]

#: Kernel file systems whose files another machine changes: no events for those changes.
NO_EVENT_FSTYPES = frozenset(
    {
        "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "virtiofs", "vboxsf", "ceph",
        "afs", "coda", "ncpfs", "davfs", "glusterfs", "lustre", "gpfs", "beegfs",
    }
)
#: FUSE types whose only writer is this mount (a local block device): events work.
_LOCAL_FUSE_FSTYPES = frozenset({"fuseblk"})

log = get_logger(__name__)

MISSING_TEXT = "does not exist (yet): waiting for it to appear"
_MOUNTINFO = "/proc/self/mountinfo"
_OCTAL_ESCAPE = re.compile(rb"\\([0-7]{3})")  # mountinfo writes a space as \040


@dataclass(frozen=True)
class Mount:
    """One line of the mount table."""

    mount_id: int
    """The kernel's id of this mount (changes when a device is mounted again)."""
    point: str
    """Where it is mounted (absolute)."""
    fstype: str
    """File system type, e.g. ``ext4``, ``nfs4``, ``fuse.sshfs``."""
    source: str
    """What is mounted: a device, ``host:/export``, a FUSE server's name."""


@dataclass(frozen=True)
class FolderHealth:
    """Whether one configured folder can be watched, and how."""

    path: Path
    """The folder as configured (absolute, ``~`` expanded, symlinks kept)."""
    state: FolderState
    """``ok``; ``missing`` (waited for); ``unreadable``; ``not_a_folder``."""
    mode: WatchMode
    """``events`` (inotify/FSEvents) or ``polling`` (no change events on this file system)."""
    error: str | None
    """Why it cannot be used and what to do; None when ``ok``."""

    @property
    def usable(self) -> bool:
        """Whether its files can be listed and read now."""
        return self.state == "ok"

    def to_json(self) -> dict[str, str | None]:
        """The ``status --json`` ``watch`` entry (path with undecodable bytes escaped)."""
        return {"path": shown(self.path), "state": self.state, "mode": self.mode,
                "error": self.error}


def _is_ancestor_or_self(ancestor: str, path: str) -> bool:
    return path == ancestor or path.startswith(ancestor.rstrip(os.sep) + os.sep)


def _unescape(field: bytes) -> str:
    return os.fsdecode(_OCTAL_ESCAPE.sub(lambda m: bytes([int(m.group(1), 8)]), field))


def parse_mountinfo(data: bytes) -> list[Mount]:
    """Parse ``/proc/self/mountinfo`` text (bytes: mount points may be any bytes)."""
    mounts = []
    for line in data.splitlines():
        fields = line.split(b" ")
        try:
            dash = fields.index(b"-", 6)
            mount_id = int(fields[0])
        except ValueError:
            continue
        if len(fields) < dash + 3:
            continue
        mounts.append(Mount(mount_id=mount_id, point=_unescape(fields[4]),
                            fstype=_unescape(fields[dash + 1]),
                            source=_unescape(fields[dash + 2])))
    return mounts


def read_mounts(path: str = _MOUNTINFO) -> list[Mount] | None:
    """This process's mount table, or None where there is none (macOS, no /proc)."""
    try:
        with open(path, "rb") as fh:
            return parse_mountinfo(fh.read())
    except OSError:
        return None


def mount_for(path: str, mounts: Sequence[Mount]) -> Mount | None:
    """The mount holding ``path`` (the topmost of those stacked on its mount point)."""
    best: Mount | None = None
    for mount in mounts:
        if _is_ancestor_or_self(mount.point, path) and (
            best is None or len(mount.point) >= len(best.point)
        ):
            best = mount
    return best


def delivers_events(fstype: str) -> bool:
    """Whether inotify sees every change on a file system of this type (module docstring)."""
    if fstype in _LOCAL_FUSE_FSTYPES:
        return True
    if fstype == "fuse" or fstype.startswith("fuse."):
        return False
    return fstype.split(".", 1)[0] not in NO_EVENT_FSTYPES


def watch_mode(
    path: str,
    *,
    mounts: Sequence[Mount] | None,
    recursive: bool = True,
    force_polling: bool = False,
) -> WatchMode:
    """``polling`` when ``path`` (or, recursively, a mount below it) delivers no events."""
    if force_polling:
        return "polling"
    if not mounts:
        return "events"
    real = os.path.realpath(path)
    holder = mount_for(real, mounts)
    if holder is not None and not delivers_events(holder.fstype):
        return "polling"
    if recursive and any(
        m.point != real and _is_ancestor_or_self(real, m.point) and not delivers_events(m.fstype)
        for m in mounts
    ):
        return "polling"
    return "events"


def _user() -> str:
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _oserror_text(exc: OSError, *, listing: bool) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        if listing:
            return (f"permission denied: user {_user()} may not list this folder; "
                    "give it read and search permission (chmod u+rx) or change its owner")
        return (f"permission denied: user {_user()} may not reach this folder "
                "(a parent folder lacks search permission); fix the parents' permissions "
                "(chmod +x)")
    name = errno.errorcode.get(exc.errno or 0, "")
    reason = exc.strerror or str(exc)
    return (f"cannot be read: {reason}{f' ({name})' if name else ''}; "
            "check that the device or network share is connected and mount it again")


def folder_health(
    path: str | os.PathLike[str],
    *,
    mounts: Sequence[Mount] | None = None,
    recursive: bool = True,
    force_polling: bool = False,
) -> FolderHealth:
    """Check one configured folder as the current user (``mounts``: read if not given)."""
    configured = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if mounts is None:
        mounts = read_mounts()
    mode = watch_mode(configured, mounts=mounts, recursive=recursive,
                      force_polling=force_polling)
    result = Path(configured)
    try:
        st = os.stat(configured)
    except FileNotFoundError:
        return FolderHealth(result, "missing", mode, MISSING_TEXT)
    except NotADirectoryError:
        return FolderHealth(result, "not_a_folder", mode,
                            "a part of this path is a file, not a folder; "
                            "point watch.paths at the folder that holds the workout files")
    except OSError as exc:
        return FolderHealth(result, "unreadable", mode, _oserror_text(exc, listing=False))
    if not stat.S_ISDIR(st.st_mode):
        kind = "a file" if stat.S_ISREG(st.st_mode) else "a special file"
        return FolderHealth(result, "not_a_folder", mode,
                            f"is {kind}, not a folder; "
                            "point watch.paths at the folder that holds the workout files")
    try:
        if not os.access(configured, os.R_OK | os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        with os.scandir(configured) as entries:
            next(entries, None)
    except OSError as exc:
        return FolderHealth(result, "unreadable", mode, _oserror_text(exc, listing=True))
    return FolderHealth(result, "ok", mode, None)


def folder_warnings(paths: Sequence[Path], *, recursive: bool = True) -> list[str]:
    """One line per configured folder this user cannot use now (missing, unreadable, a file).

    Checked as the user running it: run it as the user the service runs as. These are
    warnings (a USB device may simply not be plugged in), for ``config`` and
    ``service install`` to print.
    """
    warnings = []
    for path in paths:
        health = folder_health(path, recursive=recursive)
        if health.usable:
            continue
        hint = ("; unless it is a device not plugged in now, check the spelling"
                if health.state == "missing" else "")
        warnings.append(f"[watch] paths: {shown(health.path)} is {health.state}: "
                        f"{health.error}{hint}")
    return warnings



@dataclass
class _Record:
    health: FolderHealth
    warned: bool
    ever_ok: bool


class HealthBoard:
    """Each folder's last known health; logs and reports every change once (thread-safe).

    An unusable folder is logged once at warning level with its reason, and its
    recovery once at info level. A folder that was usable and went missing (a device
    unplugged) is logged at info level: that is no mistake of the owner's.
    """

    def __init__(self, *, on_change: Callable[[FolderHealth], None] | None = None) -> None:
        self._on_change = on_change
        self._records: dict[Path, _Record] = {}
        self._lock = threading.Lock()

    def get(self, path: Path) -> FolderHealth | None:
        """The last health noted for ``path`` (as configured), if any."""
        with self._lock:
            record = self._records.get(path)
        return record.health if record is not None else None

    def note(self, health: FolderHealth) -> bool:
        """Record a check; on a change, log it and call ``on_change``. True if it changed."""
        with self._lock:
            record = self._records.get(health.path)
            if record is not None and record.health == health:
                return False
            previous = record.health if record is not None else None
            if record is None:
                record = self._records[health.path] = _Record(health, warned=False, ever_ok=False)
            record.health = health
            self._log(record, previous)
        if self._on_change is not None:
            try:
                self._on_change(health)
            except Exception:  # a failing callback must not stop the checks (logged)
                log.exception("on_health_failed", path=shown(health.path))
        return True

    @staticmethod
    def _log(record: _Record, previous: FolderHealth | None) -> None:
        health = record.health
        if health.usable:
            if record.warned:
                log.info("watch_path_recovered", path=shown(health.path), mode=health.mode)
            record.warned, record.ever_ok = False, True
        elif previous is None or (previous.state, previous.error) != (health.state, health.error):
            if health.state == "missing" and record.ever_ok:
                log.info("watch_path_missing", path=shown(health.path), error=health.error)
            else:
                log.warning("watch_path_unusable", path=shown(health.path), state=health.state,
                            mode=health.mode, error=health.error)
                record.warned = True
