"""Tests for stravasync.owner.attention: one notice per cause, and the account `status` reads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from stravasync.errors import NotSignedIn
from stravasync.intake.folders import MISSING_TEXT, FolderHealth
from stravasync.owner.attention import Attention
from stravasync.owner.notices import Notices
from stravasync.state import FileFacts, State, Store
from stravasync.state.runlock import read_info
from stravasync.validate.result import Facts


class Told:
    """Every notice POSTed, as (priority, body)."""

    def __init__(self) -> None:
        self.notices: list[tuple[str, str]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.notices.append((request.headers.get("Priority", ""), request.content.decode()))
        return httpx.Response(200)


@pytest.fixture
def told() -> Told:
    """The notices sent."""
    return Told()


@pytest.fixture
def attention(tmp_path: Path, told: Told) -> Iterator[Attention]:
    """An Attention that POSTs every kind of notice to a MockTransport."""
    notices = Notices(url="https://ntfy.example/topic", command=(),
                      on=("problem", "uploaded", "recovered"),
                      state_path=tmp_path / "notices.json",
                      transport=httpx.MockTransport(told.handler))
    a = Attention(notices=notices, state_dir=tmp_path, api_url="https://www.strava.com/api/v3")
    yield a
    a.close()


def health(path: Path, state: str) -> FolderHealth:
    """A folder's health as the watcher reports it."""
    error = None if state == "ok" else MISSING_TEXT if state == "missing" else "permission denied"
    return FolderHealth(path, state, "events", error)  # type: ignore[arg-type]


def test_a_folder_missing_from_the_start_is_told_once_and_its_recovery_once(
    tmp_path: Path, attention: Attention, told: Told
) -> None:
    """Missing at start (a typo?): one problem, however often reported; appearing: one recovery."""
    typo = tmp_path / "Garmni"
    for _ in range(3):
        attention.folder(health(typo, "missing"))
    attention.folder(health(typo, "ok"))
    attention.close()
    assert ["high", "default"] == [priority for priority, _ in told.notices]
    assert str(typo) in told.notices[0][1]
    assert "watched again" in told.notices[1][1]


def test_a_device_unplugged_after_it_worked_is_no_problem(
    tmp_path: Path, attention: Attention, told: Told
) -> None:
    """A folder that was fine and went missing is a device unplugged: nothing is told."""
    device = tmp_path / "GARMIN"
    attention.folder(health(device, "ok"))
    attention.folder(health(device, "missing"))
    attention.close()
    assert [] == told.notices
    assert {} == attention.problems()


def test_daemon_json_carries_the_folders_and_open_problems(
    tmp_path: Path, attention: Attention
) -> None:
    """`status` reads each folder's health and the problems from daemon.json."""
    attention.folder(health(tmp_path / "locked", "unreadable"))
    info = read_info(tmp_path)
    assert info is not None
    assert [("unreadable", "events")] == [(w["state"], w["mode"]) for w in info["watch"]]
    assert [f"folder:{tmp_path / 'locked'}"] == list(info["problems"])


def test_a_halt_is_told_once_and_its_end_once(attention: Attention, told: Told) -> None:
    """The same halt seen on every follow-up round is one notice; its end is one more."""
    error = NotSignedIn("the sign-in was revoked")
    for _ in range(3):
        attention.halted(error)
    attention.halted(None)
    attention.halted(None)
    attention.close()
    assert ["high", "default"] == [priority for priority, _ in told.notices]
    assert "uploads resumed" in told.notices[1][1]


def test_finished_files_are_told_once_each(
    tmp_path: Path, attention: Attention, told: Told
) -> None:
    """A refused file is a problem, a new activity is told with its link; never twice."""
    store = Store.open(tmp_path)
    for sha, start in (("a" * 64, 1.0), ("b" * 64, 90000.0)):
        store.record_file(f"/w/{sha[0]}.fit", size=1, mtime_ns=1, facts=FileFacts(
            sha256=sha, state=State.QUEUED, format="fit", facts=Facts(start_time=datetime.fromtimestamp(start, UTC))))
        store.claim_post(sha, owner="t:1", external_id=sha[:8])
    store.finish("a" * 64, owner="t:1", state=State.UPLOADED, activity_id=42)
    store.finish("b" * 64, owner="t:1", state=State.REJECTED, error="Improperly formatted data.")
    attention.finished(store)
    attention.finished(store)
    attention.close()
    bodies = sorted(body for _, body in told.notices)
    assert 2 == len(bodies)
    assert "a.fit is on Strava: https://www.strava.com/activities/42" in bodies[0]
    assert "b.fit was refused by Strava: Improperly formatted data." in bodies[1]
