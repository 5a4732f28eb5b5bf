"""A backfill does not flood the owner: one notice per kind per minute, the rest summed."""

from __future__ import annotations

from pathlib import Path

import httpx

from stravasync.owner.notices import Notices

SETTLE = 20.0
"""Seconds a test waits at most for the worker: generous, never a timing assertion."""


class Told:
    """Every notice POSTed, as (priority, title, body)."""

    def __init__(self) -> None:
        self.notices: list[tuple[str, str, str]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.notices.append((request.headers["Priority"], request.headers["Title"],
                             request.content.decode()))
        return httpx.Response(200)


def make(tmp_path: Path, told: Told, *, window_s: float) -> Notices:
    """Notices of every kind, POSTed to ``told``, one per kind per ``window_s``."""
    return Notices(url="https://ntfy.example/t", command=(),
                   on=("problem", "uploaded", "recovered"),
                   state_path=tmp_path / "notices.json",
                   transport=httpx.MockTransport(told.handler), window_s=window_s)


def test_a_backfill_of_240_files_is_two_notices(tmp_path: Path) -> None:
    """240 uploads in a burst: the first is told at once, the other 239 in one sum."""
    told = Told()
    notices = make(tmp_path, told, window_s=0.5)  # 240 calls take about a millisecond
    for n in range(240):
        notices.uploaded(f"file:{n}", f"ride{n}.fit is on Strava: https://x/{n}")
    assert notices.flush(SETTLE)
    notices.close(SETTLE)
    assert 2 == len(told.notices)
    assert "ride0.fit is on Strava: https://x/0" == told.notices[0][2]
    assert "stravasync: 239 activities uploaded" == told.notices[1][1]
    assert told.notices[1][2].startswith("239 activities uploaded: ride1.fit is on Strava")


def test_a_problem_is_not_held_back_by_a_backfill(tmp_path: Path) -> None:
    """Uploads being summed do not delay a problem: it goes out before their sum."""
    told = Told()
    notices = make(tmp_path, told, window_s=3600.0)  # the sum goes out at the close
    for n in range(5):
        notices.uploaded(f"file:{n}", f"ride{n}.fit is on Strava")
    notices.problem("auth:signed_out", "Signed out of Strava")
    notices.close(SETTLE)
    assert [("default", "ride0.fit is on Strava"), ("high", "Signed out of Strava"),
            ("default", "4 activities uploaded: ride1.fit is on Strava; ride2.fit is on "
                        "Strava; ride3.fit is on Strava; ride4.fit is on Strava")] == [
        (priority, body) for priority, _title, body in told.notices]


def test_what_is_held_goes_out_at_shutdown(tmp_path: Path) -> None:
    """A second problem within the minute is held, and sent when the daemon stops."""
    told = Told()
    notices = make(tmp_path, told, window_s=3600.0)
    notices.problem("folder:/a", "/a cannot be read")
    notices.problem("folder:/b", "/b cannot be read")
    notices.close(SETTLE)
    assert ["/a cannot be read", "/b cannot be read"] == [body for *_, body in told.notices]
