"""One daemon per state folder, and what it tells ``status`` about itself.

Owns ``state_dir/daemon.lock`` (an exclusive ``flock`` held for the daemon's life; it
holds the pid) and ``state_dir/daemon.json`` (when it started, its version, the
health of each watched folder, problems that need the owner). :func:`lock_holder`
asks the lock itself, so ``status`` tells the truth after a crash: a dead daemon
holds no lock, whatever its files say. :func:`nudge` wakes the daemon that holds it
(``SIGUSR1``: look at the store now, e.g. for ``stravasync retry``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stravasync.errors import AlreadyRunning
from stravasync.fsutil import atomic_write, ensure_private_dir
from stravasync.logs import get_logger

__all__ = ["INFO_NAME", "LOCK_NAME", "NUDGE_SIGNAL", "DaemonInfo", "DaemonLock", "lock_holder",
           "nudge", "read_info", "write_info"]

log = get_logger(__name__)

LOCK_NAME = "daemon.lock"
INFO_NAME = "daemon.json"
NUDGE_SIGNAL = signal.SIGUSR1
"""The signal that asks a running daemon to look at the store now."""


class DaemonLock:
    """An exclusive ``flock`` on ``state_dir/daemon.lock``: one daemon per state folder."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise AlreadyRunning naming the holder's pid."""
        ensure_private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise AlreadyRunning(
                f"stravasync is already running for {self.path.parent} (pid {holder}); "
                "stop it first, or give this one another [state] dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        """Let go of the lock (closing the descriptor releases it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def lock_holder(state_dir: Path) -> int | None:
    """The pid of the daemon holding ``state_dir``'s lock, or None when none runs."""
    path = state_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode(errors="replace").strip()
            return int(text) if text.isdigit() else 0
        except OSError:
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def nudge(state_dir: Path, *, reload: bool = False) -> bool:
    """Wake the daemon holding ``state_dir`` (:data:`NUDGE_SIGNAL`); False if none was.

    ``reload``: send SIGHUP instead: the daemon re-reads its configuration (a new
    intervals.icu key, read where the configuration says).

    Only a daemon that says in ``daemon.json`` that it takes the signal is sent it (the
    signal's default action ends a process): one embedded in another program (the
    demo, a test) looks on its own every few seconds instead.
    """
    pid = lock_holder(state_dir)
    info = read_info(state_dir) if pid else None
    if not pid or info is None or info.get("pid") != pid or (
        info.get("wake_signal") != NUDGE_SIGNAL.name
    ):
        return False
    try:
        os.kill(pid, signal.SIGHUP if reload else NUDGE_SIGNAL)
    except OSError as exc:  # another user's daemon: it looks on its own within a minute
        log.debug("daemon_not_nudged", pid=pid, error=exc.strerror or str(exc))
        return False
    return True


@dataclass(frozen=True)
class DaemonInfo:
    """What a running daemon says of itself in ``daemon.json``."""

    pid: int
    """Its process id."""
    since: float
    """When it started (Unix seconds)."""
    version: str
    """Its stravasync version."""
    watch: list[dict[str, Any]] = field(default_factory=list)
    """Each watched folder: SPEC's ``status --json`` ``watch`` entries."""
    problems: dict[str, str] = field(default_factory=dict)
    """Problems that need the owner now, by cause (e.g. ``state``: the reason)."""
    list_mode: str | None = None
    """How uploads are followed: ``list`` (one call settles many) or ``single``."""
    problems_since: dict[str, float] = field(default_factory=dict)
    """When each open problem began, by cause."""
    wake_signal: str | None = None
    """The signal that wakes it (:data:`NUDGE_SIGNAL`'s name), if it takes one."""
    account: str | None = None
    """The account whose folder this is, when there are several (its problems' owner)."""

    def as_json(self) -> dict[str, Any]:
        """The JSON object stored (and ``status --json``'s ``daemon`` fields)."""
        return {"pid": self.pid, "since": self.since, "version": self.version,
                "watch": self.watch, "problems": self.problems, "list_mode": self.list_mode,
                "problems_since": self.problems_since, "wake_signal": self.wake_signal,
                "account": self.account}


def write_info(state_dir: Path, info: DaemonInfo) -> None:
    """Store ``info`` (best effort: a full disk must not stop the daemon)."""
    try:
        atomic_write(state_dir / INFO_NAME, json.dumps(info.as_json()).encode(), mode=0o600)
    except OSError as exc:
        log.debug("daemon_info_unwritten", error=exc.strerror or str(exc))


def read_info(state_dir: Path) -> dict[str, Any] | None:
    """What the daemon last wrote of itself, or None (absent or unreadable)."""
    with contextlib.suppress(OSError, ValueError):
        data = json.loads((state_dir / INFO_NAME).read_bytes())
        if isinstance(data, dict):
            return data
    return None
