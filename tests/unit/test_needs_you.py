"""The "needs you" list: a problem leaves it the moment its cause is gone; scripts can read it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fixtures import watched_config

from stravasync.config.settings import Config
from stravasync.owner.attention import Attention
from stravasync.owner.notices import Notices
from stravasync.owner.status import gather_status, status_table
from stravasync.state import FileFacts, State, Store
from stravasync.state.runlock import DaemonInfo, DaemonLock, read_info, write_info
from stravasync.validate.result import Facts

NOW = 1_800_000_000.0
BAD = "a" * 64
GOOD = "b" * 64


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """A config watching tmp/watch, its state in tmp/state."""
    return watched_config(tmp_path)


@pytest.fixture
def store(config: Config) -> Iterator[Store]:
    """The daemon's store."""
    ticks = iter(range(1, 1000))
    s = Store.open(config.state_dir, clock=lambda: NOW - 50 + next(ticks))
    yield s
    s.close()


@pytest.fixture
def attention(config: Config) -> Iterator[Attention]:
    """The daemon's voice, its notices going nowhere but the ledger."""
    notices = Notices(url="https://ntfy.example/t", command=(), on=("problem",),
                      state_path=config.state_dir / "notices.json",
                      transport=httpx.MockTransport(lambda _r: httpx.Response(200)))
    a = Attention(notices=notices, state_dir=config.state_dir,
                  api_url="https://www.strava.com/api/v3", clock=lambda: NOW - 60)
    yield a
    a.close()


def broken_then_replaced(store: Store, path: str) -> None:
    """``path`` is read as an invalid file, then holds a good one that is uploaded."""
    store.record_file(path, size=1, mtime_ns=1, facts=FileFacts(
        sha256=BAD, state=State.INVALID, error="not a FIT file", reason_code="invalid"))


def replace_with_good(store: Store, path: str) -> None:
    """The good file at ``path`` is read and becomes an activity."""
    store.record_file(path, size=2, mtime_ns=2, facts=FileFacts(
        sha256=GOOD, state=State.QUEUED, format="fit",
        facts=Facts(start_time=datetime.fromtimestamp(NOW - 86400, UTC))))
    store.claim_post(GOOD, owner="t:1", external_id="x")
    store.finish(GOOD, owner="t:1", state=State.UPLOADED, activity_id=7)


def test_a_replaced_broken_file_leaves_the_daemons_list_at_once(
    config: Config, store: Store, attention: Attention
) -> None:
    """broken.fit replaced by a good file that is uploaded: its problem is gone, no restart."""
    path = str(config.watch.paths[0] / "broken.fit")
    broken_then_replaced(store, path)
    attention.finished(store)
    assert [f"file:{BAD}"] == list(attention.problems())
    replace_with_good(store, path)
    attention.finished(store)
    assert {} == attention.problems()
    info = read_info(config.state_dir)
    assert info is not None
    assert {} == info["problems"]


def test_status_shows_no_problem_whose_file_was_replaced(
    config: Config, store: Store
) -> None:
    """An older daemon.json naming a file since replaced: status counts only the folder."""
    path = str(config.watch.paths[0] / "broken.fit")
    broken_then_replaced(store, path)
    replace_with_good(store, path)
    locked = str(config.watch.paths[0] / "locked")
    lock = DaemonLock(config.state_dir)
    lock.acquire()
    try:
        write_info(config.state_dir, DaemonInfo(
            pid=os.getpid(), since=NOW - 3600, version="9.9",
            problems={f"file:{BAD}": "broken.fit is not a file Strava would accept",
                      f"folder:{locked}": f"{locked}: permission denied"},
            problems_since={f"folder:{locked}": NOW - 100}))
        status = gather_status(config, clock=lambda: NOW)
    finally:
        lock.release()
    expected = [{"kind": "folder", "path": locked, "message": f"{locked}: permission denied",
                 "since": NOW - 100}]
    assert expected == status.data["needs_you"]
    assert "1 problem needs you" in status_table(status)[0]


def test_status_json_lists_a_refused_file_that_still_needs_you(
    config: Config, store: Store, attention: Attention
) -> None:
    """A file still invalid is in `needs_you` with its kind, path, message and start."""
    path = str(config.watch.paths[0] / "broken.fit")
    broken_then_replaced(store, path)
    attention.finished(store)
    lock = DaemonLock(config.state_dir)
    lock.acquire()
    try:
        attention.publish()
        needs = gather_status(config, clock=lambda: NOW).data["needs_you"]
    finally:
        lock.release()
    assert [("file", path, NOW - 60)] == [(e["kind"], e["path"], e["since"]) for e in needs]
    assert "broken.fit is not a file Strava would accept" in needs[0]["message"]
