"""Telling systemd how the daemon is doing (sd_notify), and nothing more.

Speaks the ``$NOTIFY_SOCKET`` datagram protocol (``READY=1``, ``STATUS=...``,
``WATCHDOG=1``, ``STOPPING=1``), abstract-namespace sockets (``@...``) included.
Without ``$NOTIFY_SOCKET`` (not started by systemd, or ``Type=simple``) every call
does nothing; a failure to send is logged, never raised: notification is best effort.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from stravasync.logs import get_logger

__all__ = ["SystemdNotifier", "watchdog_interval"]

log = get_logger(__name__)


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Seconds between ``WATCHDOG=1`` pings: half of ``$WATCHDOG_USEC``, or None if unset.

    ``$WATCHDOG_PID``, when set, must be this process (else the ping is not ours to send).
    """
    env = os.environ if env is None else env
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID")
    if usec <= 0 or (pid is not None and pid.strip() != str(os.getpid())):
        return None
    return usec / 1_000_000 / 2


class SystemdNotifier:
    """Sends state changes to systemd; a no-op without ``$NOTIFY_SOCKET``."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        self._address: str | bytes | None = None
        if address.startswith("@"):
            self._address = b"\0" + address[1:].encode()  # abstract namespace
        elif address.startswith("/"):
            self._address = address
        elif address:
            log.warning("notify_socket_unsupported", address=address)

    @property
    def enabled(self) -> bool:
        """Whether there is a socket to notify."""
        return self._address is not None

    def notify(self, **fields: str | int) -> None:
        """Send ``KEY=value`` lines, e.g. ``notify(READY=1, STATUS="watching 2 folders")``."""
        if self._address is None or not fields:
            return
        message = "\n".join(f"{key}={value}" for key, value in fields.items()).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message, self._address)
        except OSError as exc:
            log.warning("notify_failed", error=str(exc))

    def ready(self, status: str | None = None) -> None:
        """Startup is finished (``Type=notify`` units count as started from here)."""
        if status is None:
            self.notify(READY=1)
        else:
            self.notify(READY=1, STATUS=status)

    def status(self, status: str) -> None:
        """One line shown by ``systemctl --user status``."""
        self.notify(STATUS=status.replace("\n", " "))

    def watchdog(self) -> None:
        """Still alive: call every ``watchdog_interval()`` seconds."""
        self.notify(WATCHDOG=1)

    def stopping(self) -> None:
        """Shutdown has begun."""
        self.notify(STOPPING=1)
