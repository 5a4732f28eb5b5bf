"""Tests for stravasync.state.runlock: one daemon per state folder, and what status learns of it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stravasync.errors import AlreadyRunning
from stravasync.state.runlock import DaemonInfo, DaemonLock, lock_holder, read_info, write_info


def test_the_holder_is_known_while_the_lock_is_held(tmp_path: Path) -> None:
    """No daemon: None; held: its pid; released: None again."""
    assert lock_holder(tmp_path) is None
    lock = DaemonLock(tmp_path)
    lock.acquire()
    try:
        assert os.getpid() == lock_holder(tmp_path)
        with pytest.raises(AlreadyRunning, match=f"pid {os.getpid()}"):
            DaemonLock(tmp_path).acquire()
    finally:
        lock.release()
    assert lock_holder(tmp_path) is None


def test_daemon_info_round_trips_and_garbage_reads_as_none(tmp_path: Path) -> None:
    """What the daemon writes is what status reads; a damaged file is None, no error."""
    assert read_info(tmp_path) is None
    info = DaemonInfo(pid=42, since=1700000000.0, version="0.2.0",
                      watch=[{"path": "/w", "state": "ok", "mode": "events", "error": None}],
                      problems={"state:unwritable": "full"}, list_mode="single")
    write_info(tmp_path, info)
    assert info.as_json() == read_info(tmp_path)
    assert 0o600 == (tmp_path / "daemon.json").stat().st_mode & 0o777
    (tmp_path / "daemon.json").write_text("{damaged")
    assert read_info(tmp_path) is None


def test_info_that_cannot_be_written_does_not_raise(tmp_path: Path) -> None:
    """A state folder that cannot be written never stops the daemon (best effort)."""
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    write_info(not_a_folder, DaemonInfo(pid=1, since=0.0, version="x"))
    assert read_info(not_a_folder) is None
