"""Owner tags: which process holds a claimed row, and whether it still runs.

A claim in the state store carries the tag of the process that made it,
``host:pid@start``. The start time (``/proc/<pid>/stat`` on Linux, ``ps -o lstart``
elsewhere) tells a process apart from a later, unrelated one that was given the same
pid after a crash, so a dead owner's rows are always freed. Tags written by earlier
versions (``host:pid``) are still read, checked by pid alone.
"""

from __future__ import annotations

import functools
import os
import socket
import subprocess
from pathlib import Path

__all__ = ["owner_alive", "owner_pid", "owner_tag", "process_started"]

_PROC = Path("/proc")


def _this_host() -> str:
    return socket.gethostname()


def process_started(pid: int) -> str | None:
    """When process ``pid`` started, as a token that differs for a later process given the
    same pid; None if it is not running (or this cannot be told here).

    Linux: the start time in ``/proc/<pid>/stat`` (clock ticks after boot). Elsewhere
    (macOS, BSD): ``ps -o lstart=``, letters and digits only (the tag parser splits on
    ``:`` and ``@``).
    """
    if (_PROC / "self" / "stat").exists():
        try:
            raw = (_PROC / str(pid) / "stat").read_bytes()
            # Fields after the command name in parentheses; starttime is field 22.
            return raw[raw.rindex(b")") + 2:].split()[19].decode()
        except (OSError, ValueError, IndexError):
            return None
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            ["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True, check=False,  # noqa: S607
            timeout=10, env={**os.environ, "LC_ALL": "C"})
    except (OSError, subprocess.SubprocessError):
        return None
    text = "".join(ch for ch in done.stdout.decode(errors="replace") if ch.isalnum())
    return text if done.returncode == 0 and text else None


@functools.lru_cache(maxsize=4)
def _tag_of(pid: int) -> str:
    started = process_started(pid)
    return f"{_this_host()}:{pid}" + (f"@{started}" if started else "")


def owner_tag() -> str:
    """This process's owner tag: ``host:pid@start`` (``host:pid`` if the start is unknown)."""
    return _tag_of(os.getpid())


def owner_pid(owner: str) -> int | None:
    """The process id an owner tag names (``host:pid@start`` or ``host:pid``), if any."""
    pid_text = owner.partition("@")[0].rpartition(":")[2]
    return int(pid_text) if pid_text.isdigit() else None


def owner_alive(owner: str) -> bool:
    """Whether the process named by an owner tag still runs here.

    ``host:pid@start`` names one process: the same pid with another start time is a
    later, unrelated process (pid reuse), so the owner is dead. Tags of older versions
    (``host:pid``) can only be checked by pid.
    """
    if owner == owner_tag():
        return True
    base, _, started = owner.partition("@")
    host, _, pid_text = base.rpartition(":")
    if host != _this_host() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # an earlier process that had our pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    if not started:
        return True
    now = process_started(pid)
    return now is None or now == started
