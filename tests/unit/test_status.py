"""Tests for stravasync.owner.status: what `status` gathers and the headline a person reads first."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stravasync.config.settings import Config, config_from_dict
from stravasync.owner.status import gather_status, status_table
from stravasync.state import FileFacts, State, Store
from stravasync.state.runlock import DaemonInfo, DaemonLock, write_info
from stravasync.strava.governor import Governor
from stravasync.validate.result import Facts

NOW = 1_800_000_000.0


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """Watching tmp/watch (present) and tmp/Garmni (a typo)."""
    (tmp_path / "watch").mkdir()
    return config_from_dict(
        {"strava": {"client_id": "1", "client_secret": "s"},
         "watch": {"paths": [str(tmp_path / "watch"), str(tmp_path / "Garmni")]},
         "state": {"dir": str(tmp_path / "state")}},
        env={"HOME": str(tmp_path)}, source=tmp_path / "config.toml")


@pytest.fixture
def daemon(config: Config) -> Iterator[DaemonLock]:
    """The lock a running daemon holds, and the account it wrote."""
    lock = DaemonLock(config.state_dir)
    lock.acquire()
    write_info(config.state_dir, DaemonInfo(
        pid=os.getpid(), since=NOW - 3600, version="9.9",
        watch=[{"path": str(config.watch.paths[0]), "state": "ok", "mode": "polling",
                "error": None}]))
    yield lock
    lock.release()


def queue_files(config: Config, n: int, *, state: State = State.QUEUED,
                now: float = NOW) -> Store:
    """``n`` files in ``state``, queued ones due ten minutes before ``now``."""
    store = Store.open(config.state_dir, clock=lambda: now - 7200)
    for i in range(n):
        sha = f"{i:064x}"
        store.record_file(f"/w/{i}.fit", size=1, mtime_ns=1, facts=FileFacts(
            sha256=sha, state=state, format="fit", facts=Facts(start_time=datetime.fromtimestamp(float(i * 86400), UTC)),
            error=None if state is State.QUEUED else f"reason {i}"))
        if state is State.QUEUED:
            store.delay(sha, next_attempt_at=now - 600, error="backoff")
    return store


def test_not_running_says_so_and_checks_the_folders_itself(config: Config) -> None:
    """No daemon: `running` false, each folder's health checked now, the headline says how."""
    status = gather_status(config, clock=lambda: NOW)
    assert {"running": False, "pid": None} == {k: status.data["daemon"][k]
                                               for k in ("running", "pid")}
    assert ["ok", "missing"] == [w["state"] for w in status.data["watch"]]
    headline = status_table(status)[0]
    assert headline.startswith("Not running (start it: `stravasync run`")
    assert f"watching 2 folders (missing: {config.watch.paths[1]})" in headline
    assert "no files seen yet" in headline


def test_a_running_daemon_is_read_from_its_lock_and_account(
    config: Config, daemon: DaemonLock
) -> None:
    """Running: pid from the lock, since/version and the folders from daemon.json."""
    data = gather_status(config, clock=lambda: NOW).data
    assert {"running": True, "pid": os.getpid(), "since": NOW - 3600, "version": "9.9"} == data[
        "daemon"]
    assert [("ok", "polling")] == [(w["state"], w["mode"]) for w in data["watch"]]


def test_while_paused_no_waiting_file_is_due_in_the_past(
    config: Config, daemon: DaemonLock
) -> None:
    """A spent budget: paused_until set, every waiting file due then, the headline says so."""
    queue_files(config, 2, now=time.time())
    until = time.time() + 600
    Governor(state_file=config.state_dir / "ratelimit.json").pause(until=until,
                                                                  reason="rate_limit_15")
    status = gather_status(config)
    assert until == pytest.approx(status.data["rate_limit"]["paused_until"])
    assert [until, until] == pytest.approx([f["next_attempt_at"] for f in status.data["files"]])
    headline = status_table(status)[0]
    assert "2 of 2 files waiting, paused until " in headline
    assert time.strftime("%H:%M", time.localtime(until)) in headline


def test_a_cut_list_says_how_many_it_left_out(config: Config) -> None:
    """Twelve refused files: ten problems are listed, then `... and 2 more`."""
    queue_files(config, 12, state=State.INVALID)
    lines = status_table(gather_status(config, clock=lambda: NOW))
    assert 10 == sum(line.startswith("  invalid: /w/") for line in lines)
    assert any(line.startswith("  ... and 2 more") for line in lines)
    assert "12 refused" in lines[0]
