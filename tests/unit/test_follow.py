"""Tests for stravasync.upload.follow: single polls, batch lists and the activity's update."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from engine_rig import World
from pieces_rig import Pieces, SlowGovernor

from stravasync.config.rules import rules_from_toml
from stravasync.errors import (
    ApiError,
    ListScopeMissing,
    TransientError,
    UpdateRefused,
)
from stravasync.state import State
from stravasync.upload.batch import InFlight, plan

READ_ALL = "read,activity:write,activity:read_all"


def pieces_with(tmp_path: Path, *, scope: str = READ_ALL, update: bool = False,
                **knobs: object) -> Pieces:
    world = World(tmp_path, knobs=dict(knobs))
    world.sign_in(scope)
    if update:
        rules, _ = rules_from_toml([{"set": {"sport_type": "VirtualRide"}}],
                                   folder_path=[str(world.watch)])
        world.config = dataclasses.replace(world.config, rules=rules)
    return Pieces.over(world)


# -- lists ------------------------------------------------------------------------------


def test_uploads_in_flight_are_settled_by_one_list(tmp_path: Path) -> None:
    """Two uploads done processing are both settled by one list call, no poll each."""
    pieces = pieces_with(tmp_path)
    shas = pieces.posted("a.fit", "b.fit")
    assert pieces.follower.batching()
    pieces.world.clock.advance(30)
    pieces.follower.follow()
    assert ["create_upload", "create_upload", "list_activities"] == pieces.spy.names()
    assert {State.UPLOADED} == {pieces.row(sha).state for sha in shas}


def test_without_read_all_uploads_are_not_followed_by_lists(tmp_path: Path) -> None:
    """A sign-in that cannot list private activities follows each upload by its own poll."""
    pieces = pieces_with(tmp_path, scope="read,activity:write,activity:read")
    pieces.posted("a.fit", "b.fit")
    assert not pieces.follower.batching()
    assert 2 == pieces.follower.reads_to_keep()


def test_reads_kept_for_a_post_are_one_list_and_one_probe_not_one_per_upload(
    tmp_path: Path,
) -> None:
    """Four uploads that can be listed keep two reads back from the next POST, not four."""
    pieces = pieces_with(tmp_path)
    pieces.posted("a.fit", "b.fit", "c.fit", "d.fit")
    assert 2 == pieces.follower.reads_to_keep()


def test_a_list_refused_for_its_scope_falls_back_to_polls(tmp_path: Path) -> None:
    """Strava refusing the list (scope) records nothing and switches to single polls."""
    pieces = pieces_with(tmp_path)
    shas = pieces.posted("a.fit", "b.fit")
    pieces.world.clock.advance(30)
    pieces.spy.fail["list_activities"] = ListScopeMissing("missing activity:read_all")
    pieces.follower.follow()
    assert {State.UPLOADING} == {pieces.row(sha).state for sha in shas}
    assert {0} == {pieces.row(sha).polls for sha in shas}
    assert not pieces.follower.batching()


def test_a_failed_list_changes_nothing_and_is_tried_again(tmp_path: Path) -> None:
    """A list that got no answer counts as no look; the next one settles the uploads."""
    pieces = pieces_with(tmp_path)
    shas = pieces.posted("a.fit", "b.fit")
    pieces.world.clock.advance(30)
    pieces.spy.fail["list_activities"] = TransientError("Strava answered HTTP 503.")
    pieces.follower.follow()
    assert {(State.UPLOADING, 0)} == {(pieces.row(s).state, pieces.row(s).polls) for s in shas}
    del pieces.spy.fail["list_activities"]
    pieces.world.clock.advance(5)
    pieces.follower.follow()
    assert {State.UPLOADED} == {pieces.row(sha).state for sha in shas}


def test_an_upload_missing_from_a_list_counts_a_look_and_is_due_again(tmp_path: Path) -> None:
    """An upload still processing is absent from the list: one look, and a next time."""
    pieces = pieces_with(tmp_path, processing_min_s=50.0, processing_max_s=60.0)
    shas = pieces.posted("a.fit", "b.fit")
    pieces.world.clock.advance(10)
    now = pieces.world.clock()
    pieces.follower.follow()
    for sha in shas:
        w = pieces.row(sha)
        assert (State.UPLOADING, 1) == (w.state, w.polls)
        assert w.next_attempt_at is not None
        assert w.next_attempt_at > now
    assert ["list_activities"] == pieces.spy.names()[2:]


def test_a_list_is_not_sent_while_the_read_limit_says_wait(tmp_path: Path) -> None:
    """The governor's wait closes the read gate; no list goes out."""
    world = World(tmp_path)
    world.sign_in(READ_ALL)
    until = world.clock() + 600
    pieces = Pieces.over(world, governor=SlowGovernor(world.governor, kind="read", until=until))
    pieces.posted("a.fit", "b.fit")
    world.clock.advance(30)
    pieces.follower.follow()
    assert "list_activities" not in pieces.spy.names()
    assert until == pieces.gates.open_at("read")


# -- single polls -----------------------------------------------------------------------


def test_a_poll_of_a_finished_upload_records_its_activity(tmp_path: Path) -> None:
    """A poll that finds the activity settles the upload and says so."""
    pieces = pieces_with(tmp_path, scope="read,activity:write")
    [sha] = pieces.posted("a.fit")
    pieces.world.clock.advance(30)
    assert pieces.follower.poll(sha)
    assert State.UPLOADED == pieces.row(sha).state
    assert pieces.row(sha).activity_id is not None


def test_an_upload_strava_does_not_know_is_sent_again(tmp_path: Path) -> None:
    """A 404 for the upload id forgets it: the workout is queued again, a later duplicate is ours."""
    pieces = pieces_with(tmp_path, scope="read,activity:write")
    [sha] = pieces.posted("a.fit")
    pieces.spy.fail["get_upload"] = ApiError("Record Not Found", status_code=404)
    assert not pieces.follower.poll(sha)
    w = pieces.row(sha)
    assert (State.QUEUED, None, True) == (w.state, w.upload_id, w.maybe_posted)


def test_a_failed_poll_keeps_the_upload_id_and_backs_off(tmp_path: Path) -> None:
    """A 5xx on a poll is no look at all: the upload is looked at again after a backoff."""
    pieces = pieces_with(tmp_path, scope="read,activity:write")
    [sha] = pieces.posted("a.fit")
    upload_id = pieces.row(sha).upload_id
    now = pieces.world.clock()
    pieces.spy.fail["get_upload"] = TransientError("Strava answered HTTP 502.")
    assert not pieces.follower.poll(sha)
    w = pieces.row(sha)
    assert (State.UPLOADING, upload_id, 0, 1) == (w.state, w.upload_id, w.polls, w.failures)
    assert w.next_attempt_at is not None
    assert w.next_attempt_at > now


# -- the update -------------------------------------------------------------------------


def updating(tmp_path: Path, **knobs: object) -> tuple[Pieces, str]:
    pieces = pieces_with(tmp_path, scope="read,activity:write", update=True, **knobs)
    [sha] = pieces.posted("a.fit")
    pieces.world.clock.advance(30)
    pieces.follower.poll(sha)
    assert State.UPDATING == pieces.row(sha).state
    return pieces, sha


def test_the_update_is_sent_once_and_ends_uploaded(tmp_path: Path) -> None:
    """The stored fields go in one PUT; the row is then uploaded with nothing left to send."""
    pieces, sha = updating(tmp_path)
    pieces.follower.update(sha)
    pieces.follower.update(sha)
    puts = [args for name, args, _kw in pieces.spy.calls if name == "update_activity"]
    w = pieces.row(sha)
    assert [(w.activity_id, {"sport_type": "VirtualRide"})] == puts
    assert (State.UPLOADED, None, None) == (w.state, w.update_fields, w.warning)


def test_a_refused_update_ends_uploaded_with_the_reason_as_a_warning(tmp_path: Path) -> None:
    """A 4xx is final: uploaded, Strava's reason kept, never sent again."""
    pieces, sha = updating(tmp_path)
    pieces.spy.fail["update_activity"] = UpdateRefused("gear_id: not found")
    pieces.follower.update(sha)
    w = pieces.row(sha)
    assert State.UPLOADED == w.state
    assert "gear_id: not found" in (w.warning or "")
    pieces.follower.update(sha)
    assert 1 == pieces.spy.names().count("update_activity")


def test_a_failed_update_stays_updating_and_backs_off(tmp_path: Path) -> None:
    """A 5xx keeps the row updating, free for any process, due again after a growing backoff."""
    pieces, sha = updating(tmp_path)
    pieces.spy.fail["update_activity"] = TransientError("Strava answered HTTP 500.")
    delays = []
    for _ in range(3):
        now = pieces.world.clock()
        pieces.follower.update(sha)
        w = pieces.row(sha)
        assert (State.UPDATING, None) == (w.state, w.owner)
        assert w.next_attempt_at is not None
        delays.append(w.next_attempt_at - now)
        pieces.world.clock.set(w.next_attempt_at)
    assert 3 == pieces.row(sha).failures
    assert delays[-1] > delays[0]
    assert "500" in (pieces.row(sha).error or "")


def test_an_update_waits_for_the_read_limit(tmp_path: Path) -> None:
    """The PUT counts on the read limit: when it says wait, nothing is sent."""
    pieces, sha = updating(tmp_path)
    until = pieces.world.clock() + 120
    slow = Pieces.over(pieces.world, governor=SlowGovernor(pieces.world.governor, kind="read",
                                                           until=until))
    slow.follower.update(sha)
    assert [] == slow.spy.names()
    assert State.UPDATING == pieces.row(sha).state
    assert until == slow.gates.open_at("read")


# -- what the follower plans (batch.plan's backlog and likely-done rules) ----------------


NOW = 1_772_445_600.0


def flight(upload_id: str, *, posted: float, expected: float = 4.0, polls: int = 0) -> InFlight:
    return InFlight(upload_id=upload_id, posted_at=NOW + posted, start_time=NOW - 86400,
                    polls=polls, due_at=NOW + posted + expected, expected_s=expected)


@pytest.mark.parametrize(("waiting", "listed"), [(0, True), (500, False)])
def test_in_a_backlog_a_list_waits_for_the_whole_set_in_flight(waiting: int, listed: bool) -> None:
    """With more POSTs waiting than reads left, a due list waits until every upload is expected done."""
    uploads = [flight("1", posted=-5.0), flight("2", posted=-4.5), flight("3", posted=-1.0)]
    decided = plan(uploads=uploads, can_list=True, read_budget=100, now=NOW,
                   posts_waiting=waiting)
    assert listed == (decided.list_call is not None)
    if not listed:
        assert NOW + 3.0 == decided.next_look_at
        assert () == decided.polls


def test_a_lone_ripe_upload_is_listed_when_another_is_likely_done() -> None:
    """One upload due beside one posted half its expected time ago: one list may settle both."""
    uploads = [flight("1", posted=-5.0), flight("2", posted=-2.5)]
    decided = plan(uploads=uploads, can_list=True, read_budget=100, now=NOW)
    assert decided.list_call is not None
    assert ("1",) == decided.list_call.covers
    assert () == decided.polls


def test_an_upload_past_its_time_is_left_out_of_lists_sent_for_others() -> None:
    """An upload lists have missed for long (an error?) is not counted missed again: its own poll stays due."""
    aged = InFlight(upload_id="9", posted_at=NOW - 30.0, start_time=NOW - 86400, polls=4,
                    due_at=NOW + 2.0, expected_s=4.0)
    uploads = [aged, flight("1", posted=-5.0), flight("2", posted=-4.5)]
    decided = plan(uploads=uploads, can_list=True, read_budget=100, now=NOW)
    assert decided.list_call is not None
    assert {"1", "2"} == set(decided.list_call.covers)
    later = plan(uploads=[dataclasses.replace(aged, due_at=NOW)], can_list=True,
                 read_budget=100, now=NOW)
    assert ("9",) == later.polls
