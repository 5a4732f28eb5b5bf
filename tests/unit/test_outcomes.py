"""Tests for stravasync.upload.outcomes: what Strava's answers mean for the store, and what is learned."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from engine_rig import World, workout_file
from pieces_rig import Pieces

from stravasync.config.rules import rules_from_toml
from stravasync.state import State, Store
from stravasync.strava.client import Upload
from stravasync.upload.polling import ESTIMATES_KEY, Estimates, prior_estimate


def make(tmp_path: Path, *, update: bool = False) -> Pieces:
    world = World(tmp_path)
    if update:
        rules, _ = rules_from_toml([{"set": {"hide_from_home": True}}],
                                   folder_path=[str(world.watch)])
        world.config = dataclasses.replace(world.config, rules=rules)
    return Pieces.over(world)


def answer(upload_id: str, **fields: object) -> Upload:
    return Upload.from_json({"id_str": upload_id, "status": "Your activity is still being "
                             "processed.", "error": None, "activity_id": None, **fields})


def test_before_anything_is_learned_the_first_look_follows_format_and_size(
    tmp_path: Path,
) -> None:
    """A fresh install waits longer for a GPX than for a FIT of the same workout."""
    pieces = make(tmp_path)
    [fit] = pieces.queue("a.fit")
    gpx = workout_file(pieces.world.watch, "b.gpx", start=pieces.world.start(hours=5), fmt="gpx")
    pieces.world.engine().scan([gpx])
    w_fit, w_gpx = pieces.row(fit), pieces.row_at(gpx)
    assert pieces.times.expected(w_fit) < pieces.times.expected(w_gpx)
    size = gpx.stat().st_size
    assert prior_estimate(data_type="gpx", size=size, timing=pieces.world.timing) == (
        pieces.times.expected(w_gpx))


def test_what_is_learned_is_kept_per_kind_of_file_across_a_restart(tmp_path: Path) -> None:
    """An upload followed to its end teaches its kind's estimate, kept in the store."""
    pieces = make(tmp_path)
    [sha] = pieces.posted("a.fit")
    w = pieces.row(sha)
    before = pieces.times.expected(w)
    pieces.world.clock.advance(before)
    pieces.outcomes.found(w, 77, now=pieces.world.clock(), learn=True)
    learned = pieces.times.expected(pieces.row(sha))
    assert learned < before  # done at its first look: a little less next time
    raw = pieces.world.store.get_meta(ESTIMATES_KEY)
    assert raw is not None
    assert "fit:s" in Estimates.loads(raw, timing=pieces.world.timing).by_key
    pieces.world.store = Store.open(pieces.world.state_dir, clock=pieces.world.clock)
    again = Pieces.over(pieces.world)
    assert learned == pytest.approx(again.times.expected(pieces.row(sha)), abs=1e-3)


def test_a_poll_past_the_expected_time_raises_the_estimate(tmp_path: Path) -> None:
    """Still processing well after it was expected done: expect more, and look again later."""
    pieces = make(tmp_path)
    [sha] = pieces.posted("a.fit")
    w = pieces.row(sha)
    expected = pieces.times.expected(w)
    pieces.world.clock.advance(2 * expected)
    now = pieces.world.clock()
    pieces.outcomes.processing(w, now=now, seen_by="poll")
    after = pieces.row(sha)
    assert pieces.times.expected(after) > expected
    assert 1 == after.polls
    assert 2 * expected == pytest.approx(after.last_processing_s)
    assert after.next_attempt_at is not None
    assert after.next_attempt_at > now


def test_a_list_miss_raises_the_estimate_at_the_first_look_only(tmp_path: Path) -> None:
    """Absent from lists again and again (an error lists never show) does not push the estimate out."""
    pieces = make(tmp_path)
    [sha] = pieces.posted("a.fit")
    expected = pieces.times.expected(pieces.row(sha))
    pieces.world.clock.advance(1.5 * expected)
    pieces.outcomes.processing(pieces.row(sha), now=pieces.world.clock(), seen_by="list")
    raised = pieces.times.expected(pieces.row(sha))
    assert raised > expected
    for _ in range(5):
        pieces.world.clock.advance(2 * raised)
        pieces.outcomes.processing(pieces.row(sha), now=pieces.world.clock(), seen_by="list")
    assert raised == pieces.times.expected(pieces.row(sha))
    assert 6 == pieces.row(sha).polls


def test_an_upload_a_miss_already_accounted_for_does_not_raise_the_estimate_again(
    tmp_path: Path,
) -> None:
    """A slow upload raises the estimate once: when it was missed, not again when it is found."""
    pieces = make(tmp_path)
    shas = pieces.posted("a.fit", "b.fit")
    expected = pieces.times.expected(pieces.row(shas[0]))
    pieces.world.clock.advance(1.2 * expected)
    for sha in shas:  # one list missed both
        pieces.outcomes.processing(pieces.row(sha), now=pieces.world.clock(), seen_by="list")
    raised = pieces.times.expected(pieces.row(shas[0]))
    pieces.world.clock.advance(0.1 * expected)
    for sha in shas:  # the next list found both
        pieces.outcomes.found(pieces.row(sha), 70 + len(sha), now=pieces.world.clock(),
                              learn=True)
    assert raised == pieces.times.expected(pieces.row(shas[0]))


def test_an_activity_with_update_fields_becomes_updating_due_now(tmp_path: Path) -> None:
    """The activity id is recorded with the update still to send: updating, due at once."""
    pieces = make(tmp_path, update=True)
    [sha] = pieces.posted("a.fit")
    now = pieces.world.clock()
    pieces.outcomes.apply(pieces.row(sha), answer(str(pieces.row(sha).upload_id),
                                                  activity_id=55), now=now, learn=False)
    w = pieces.row(sha)
    assert (State.UPDATING, 55, now) == (w.state, w.activity_id, w.next_attempt_at)
    assert {"hide_from_home": True} == w.update_fields
    assert [w.sha256] == [u.sha256 for u in pieces.world.store.due_updates(now=now, owner="x")]


def test_a_duplicate_of_another_activity_is_never_updated(tmp_path: Path) -> None:
    """Strava's duplicate of an activity that may predate us ends duplicate, no update planned."""
    pieces = make(tmp_path, update=True)
    [sha] = pieces.posted("a.fit")
    error = "a.fit duplicate of <a href='/activities/31' target='_blank'>activity 31</a>"
    pieces.outcomes.apply(pieces.row(sha), answer(str(pieces.row(sha).upload_id), error=error),
                          now=pieces.world.clock(), learn=False)
    w = pieces.row(sha)
    assert (State.DUPLICATE, 31, None) == (w.state, w.activity_id, w.update_fields)
    assert "<a" not in (w.error or "")


def test_a_duplicate_of_our_own_unanswered_post_is_our_activity(tmp_path: Path) -> None:
    """After a POST whose answer was lost, "duplicate of N" is our own upload: updated as ours."""
    pieces = make(tmp_path, update=True)
    [sha] = pieces.queue("a.fit")
    store = pieces.world.store
    store.claim_post(sha, owner="dead:1@1", external_id="x", update_fields={"a": 1})
    store.release_post(sha, owner="dead:1@1", state=State.RETRYING, sent=None,
                       next_attempt_at=None, error="no answer")
    pieces.transfer.post(sha)
    assert pieces.row(sha).maybe_posted
    pieces.outcomes.finish_duplicate(pieces.row(sha), 31, "duplicate of activity 31", at="poll")
    w = pieces.row(sha)
    assert (State.UPDATING, 31) == (w.state, w.activity_id)
    assert {"hide_from_home": True} == w.update_fields


def test_an_error_is_final_and_keeps_stravas_reason(tmp_path: Path) -> None:
    """A processing error ends the upload as rejected with Strava's words."""
    pieces = make(tmp_path)
    [sha] = pieces.posted("a.fit")
    upload = answer(str(pieces.row(sha).upload_id), error="Improperly formatted data.",
                    status="There was an error processing your activity.")
    pieces.outcomes.apply(pieces.row(sha), upload, now=pieces.world.clock(), learn=True)
    w = pieces.row(sha)
    assert (State.REJECTED, "Improperly formatted data.") == (w.state, w.error)
