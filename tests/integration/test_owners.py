"""Tests for owner tags: a claim's process, told apart from a later one with its pid."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from processes import stop

from stravasync.state import owners
from stravasync.state.owners import _this_host, owner_alive, owner_tag, process_started


def _child() -> subprocess.Popen[bytes]:
    """A live process of ours that is not this one."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])  # until killed


def test_an_owner_tag_outlives_pid_reuse() -> None:
    """A tag names a pid and its start: the pid reused by another process is not the owner."""
    own = owner_tag()
    assert own.startswith(f"{_this_host()}:{os.getpid()}@")
    assert owner_alive(own)
    assert not owner_alive(f"{_this_host()}:{os.getpid()}@1")  # an earlier process, our pid
    child = _child()
    try:
        started = process_started(child.pid)
        assert started is not None
        assert owner_alive(f"{_this_host()}:{child.pid}@{started}")
        assert not owner_alive(f"{_this_host()}:{child.pid}@{started}0")
        assert owner_alive(f"{_this_host()}:{child.pid}")  # an old tag: the pid alone
    finally:
        stop(child, signal.SIGKILL)
    assert not owner_alive(f"{_this_host()}:{child.pid}@{started}")
    assert not owner_alive(f"{_this_host()}:{child.pid}")


def test_process_start_is_found_without_proc(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    """Where there is no /proc (macOS), ps tells the start; a dead pid has none."""
    if shutil.which("ps") is None:
        pytest.skip("no ps here")
    monkeypatch.setattr(owners, "_PROC", tmp_path / "no-proc")
    child = _child()
    try:
        started = owners.process_started(child.pid)
        assert started is not None
        assert set(started).isdisjoint(":@")
        assert started == owners.process_started(child.pid)
    finally:
        stop(child, signal.SIGKILL)
    assert owners.process_started(child.pid) is None

