"""Tests for stravasync.service.sdnotify: sd_notify messages reach a datagram socket at $NOTIFY_SOCKET."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from stravasync.service.sdnotify import SystemdNotifier


@pytest.fixture
def listener() -> Iterator[tuple[str, socket.socket]]:
    """A datagram socket bound to a short filesystem path (AF_UNIX paths max out at 108 bytes)."""
    with tempfile.TemporaryDirectory(prefix="sn") as folder:
        path = str(Path(folder) / "notify")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(path)
            sock.settimeout(2)
            yield path, sock


def test_messages_reach_the_socket(listener: tuple[str, socket.socket]) -> None:
    """READY, STATUS, WATCHDOG and STOPPING arrive as KEY=value datagrams."""
    path, sock = listener
    notifier = SystemdNotifier({"NOTIFY_SOCKET": path})
    notifier.ready("watching 1 folder")
    notifier.status("uploading\nride.fit")
    notifier.watchdog()
    notifier.stopping()
    received = [sock.recv(4096) for _ in range(4)]
    assert [
        b"READY=1\nSTATUS=watching 1 folder",
        b"STATUS=uploading ride.fit",
        b"WATCHDOG=1",
        b"STOPPING=1",
    ] == received


def test_abstract_namespace_socket() -> None:
    """An address starting with @ is an abstract-namespace socket."""
    name = f"stravasync-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(2)
        SystemdNotifier({"NOTIFY_SOCKET": "@" + name}).ready()
        assert b"READY=1" == sock.recv(4096)


def test_unreachable_socket_is_not_an_error(tmp_path: Path) -> None:
    """A socket path nobody listens on is logged, not raised."""
    with capture_logs() as logs:
        SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "nobody")}).ready()
    assert [("notify_failed", "warning")] == [(e["event"], e["log_level"]) for e in logs]
    assert "No such file or directory" in logs[0]["error"]
