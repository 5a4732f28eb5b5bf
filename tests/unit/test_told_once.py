"""A list and a poll answering about one upload at once: it is recorded and told once."""

from __future__ import annotations

from pathlib import Path

from engine_rig import World
from pieces_rig import Pieces
from structlog.testing import capture_logs

from stravasync.state import State


def test_an_upload_found_by_a_list_and_a_poll_is_logged_done_once(tmp_path: Path) -> None:
    """The poll's answer arriving after the list recorded the activity adds no second line."""
    pieces = Pieces.over(World(tmp_path))
    [sha] = pieces.posted("a.fit")
    seen = pieces.row(sha)  # what the poll read before the list's answer was recorded

    with capture_logs() as logs:
        pieces.outcomes.found(seen, 77, now=pieces.world.clock(), learn=False)  # the list
        pieces.outcomes.found(seen, 77, now=pieces.world.clock(), learn=False)  # the poll

    assert 1 == sum(1 for e in logs if e["event"] == "upload_done")
    assert (State.UPLOADED, 77) == (pieces.row(sha).state, pieces.row(sha).activity_id)
