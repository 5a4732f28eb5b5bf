"""Tests for stravasync.upload.transfer: the claim, the POST, and Strava's first answer recorded."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from engine_rig import World
from pieces_rig import OWNER, Pieces, SlowGovernor

from stravasync.config.rules import rules_from_toml
from stravasync.errors import DuplicateActivity, TransientError, UploadRejected
from stravasync.state import State
from stravasync.upload.polling import first_poll_delay

RULES: list[dict[str, Any]] = [
    {"set": {"name": "{sport} at {start:%H:%M}", "commute": True}},
    {"glob": "zwift*", "set": {"trainer": True, "sport_type": "VirtualRide",
                               "hide_from_home": True}},
]


@pytest.fixture
def pieces(tmp_path: Path) -> Pieces:
    world = World(tmp_path)
    rules, problems = rules_from_toml(RULES, folder_path=[str(world.watch)])
    assert [] == problems
    world.config = dataclasses.replace(world.config, rules=rules)
    return Pieces.over(world)


def test_the_update_fields_are_claimed_before_the_post_and_the_rest_go_with_it(
    pieces: Pieces,
) -> None:
    """The row holds the PUT's fields when the POST leaves; name, trainer, commute ride along."""
    [sha] = pieces.queue("zwift-ride.fit")
    seen: dict[str, Any] = {}

    def create_upload(**kwargs: Any) -> Any:
        seen["row"] = pieces.row(sha)
        seen["kwargs"] = kwargs
        return pieces.spy.real.create_upload(**kwargs)

    pieces.spy.fail["create_upload"] = create_upload
    pieces.transfer.post(sha)
    row = seen["row"]
    assert (State.UPLOADING, OWNER) == (row.state, row.owner)
    assert {"sport_type": "VirtualRide", "hide_from_home": True} == row.update_fields
    kwargs = seen["kwargs"]
    assert (True, True) == (kwargs["trainer"], kwargs["commute"])
    assert kwargs["name"].startswith("Run at ")
    assert "sport_type" not in kwargs
    assert "description" not in kwargs  # a setting no rule made is not sent


def test_a_workout_no_update_rule_matches_stores_no_update(pieces: Pieces) -> None:
    """Without sport_type, gear or mute in its rules the row carries no update fields."""
    [sha] = pieces.posted("run.fit")
    assert pieces.row(sha).update_fields is None
    assert pieces.row(sha).upload_id is not None


def test_the_answer_is_recorded_and_the_first_look_waits_for_the_expected_time(
    pieces: Pieces,
) -> None:
    """The upload id is stored at once; the first look is due after the expected processing."""
    [sha] = pieces.queue("run.fit")
    now = pieces.world.clock()
    pieces.transfer.post(sha)
    w = pieces.row(sha)
    expected = pieces.times.expected(w)
    assert (State.UPLOADING, now) == (w.state, w.posted_at)
    assert now + first_poll_delay(expected, pieces.world.timing) == w.next_attempt_at
    assert ["create_upload"] == pieces.spy.names()


def test_a_duplicate_at_the_post_ends_duplicate_without_an_update(pieces: Pieces) -> None:
    """Strava refusing the POST as a duplicate of another activity records it; no PUT is planned."""
    [sha] = pieces.queue("zwift-ride.fit")
    pieces.spy.fail["create_upload"] = DuplicateActivity("duplicate of activity 42",
                                                         activity_id=42)
    pieces.transfer.post(sha)
    w = pieces.row(sha)
    assert (State.DUPLICATE, 42, None) == (w.state, w.activity_id, w.update_fields)


def test_a_rejection_at_the_post_ends_rejected_with_stravas_words(pieces: Pieces) -> None:
    """A 400 about the file itself is final: rejected, with Strava's reason."""
    [sha] = pieces.queue("run.fit")
    pieces.spy.fail["create_upload"] = UploadRejected("Improperly formatted data.")
    pieces.transfer.post(sha)
    w = pieces.row(sha)
    assert (State.REJECTED, "Improperly formatted data.") == (w.state, w.error)


def test_a_transient_failure_backs_off_and_remembers_the_post_may_have_gone(
    pieces: Pieces,
) -> None:
    """A 5xx leaves the outcome unknown: retrying later, and a later duplicate is ours."""
    [sha] = pieces.queue("run.fit")
    now = pieces.world.clock()
    pieces.spy.fail["create_upload"] = TransientError("Strava answered HTTP 502.")
    pieces.transfer.post(sha)
    w = pieces.row(sha)
    assert (State.RETRYING, True, 1) == (w.state, w.maybe_posted, w.failures)
    assert w.next_attempt_at is not None
    assert now < w.next_attempt_at <= now + pieces.world.timing.backoff_base_s


def test_the_rate_limit_closes_the_upload_gate_without_a_call(tmp_path: Path) -> None:
    """When the governor says wait, nothing is claimed nor sent; the gate opens at its time."""
    world = World(tmp_path)
    until = world.clock() + 300
    pieces = Pieces.over(world, governor=SlowGovernor(world.governor, kind="upload",
                                                      until=until))
    [sha] = pieces.queue("run.fit")
    pieces.transfer.post(sha)
    assert [] == pieces.spy.names()
    assert (State.QUEUED, 0) == (pieces.row(sha).state, pieces.row(sha).attempts)
    assert until == pieces.gates.open_at("upload")


def test_a_file_changed_before_its_post_is_skipped_not_sent(pieces: Pieces) -> None:
    """A file whose bytes changed since it was read is not sent as it was; its new content is read on its own."""
    [sha] = pieces.queue("run.fit")
    path = Path(pieces.row(sha).path)
    path.write_bytes(path.read_bytes() + b"\0")
    pieces.transfer.post(sha)
    w = pieces.row(sha)
    assert (State.SKIPPED, "changed") == (w.state, w.reason_code)
    assert [] == pieces.spy.names()


def test_a_row_already_sent_is_not_posted_again(pieces: Pieces) -> None:
    """Once the upload id is stored, post() never sends the workout again."""
    [sha] = pieces.posted("run.fit")
    pieces.transfer.post(sha)
    assert ["create_upload"] == pieces.spy.names()
