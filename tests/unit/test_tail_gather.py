"""Issue 19's cold-start economy: once nothing waits to be POSTed, a due list still waits
for the uploads in flight about to be expected done, so the last uploads of a run share
one list; it never waits when that would add nothing to the list."""

from __future__ import annotations

import statistics

from benchmarks.api_calls import FAST, baseline
from benchmarks.household_calls import cold_warm
from stravasync.upload.batch import BatchSettings, InFlight, plan

NOW = 1_772_445_600.0


def flight(upload_id: str, *, posted: float, expected: float = 4.0) -> InFlight:
    return InFlight(upload_id=upload_id, posted_at=NOW + posted, start_time=NOW - 86400,
                    polls=0, due_at=NOW + posted + expected, expected_s=expected)


def test_with_nothing_to_post_a_list_waits_for_the_upload_about_to_be_done() -> None:
    """The last two uploads in flight, one expected done now and one half a second later: one list covers both then."""
    uploads = [flight("1", posted=-4.0), flight("2", posted=-3.5)]
    now_plan = plan(uploads=uploads, can_list=True, read_budget=100, now=NOW, posts_waiting=0)
    assert (None, (), NOW + 0.5) == (now_plan.list_call, now_plan.polls, now_plan.next_look_at)
    later = plan(uploads=uploads, can_list=True, read_budget=100, now=NOW + 0.5,
                 posts_waiting=0)
    assert later.list_call is not None
    assert ({"1", "2"}, ()) == (set(later.list_call.covers), later.polls)


def test_with_nothing_to_post_a_list_waits_only_for_uploads_ripening_within_gather_wait() -> None:
    """The other upload in flight is expected done only after ``gather_wait_s``: the due ones are listed at once."""
    wait = BatchSettings().gather_wait_s
    uploads = [flight("1", posted=-4.0), flight("2", posted=-4.0),
               flight("3", posted=-4.0 + wait + 0.5)]
    decided = plan(uploads=uploads, can_list=True, read_budget=100, now=NOW, posts_waiting=0)
    assert decided.list_call is not None
    assert {"1", "2"} == set(decided.list_call.covers)


def test_with_nothing_to_post_and_every_upload_due_the_list_goes_at_once() -> None:
    """Every upload in flight is expected done and nothing is left to post: waiting would only add latency."""
    uploads = [flight("1", posted=-4.0), flight("2", posted=-4.2)]
    decided = plan(uploads=uploads, can_list=True, read_budget=100, now=NOW, posts_waiting=0)
    assert decided.list_call is not None
    assert {"1", "2"} == set(decided.list_call.covers)


def test_two_athletes_from_a_cold_start_spend_fewer_calls_at_the_same_latency() -> None:
    """Two athletes' 12 cold workouts each: under 1.39 calls per activity (was 1.40), latency at most 1.3 times a 1-s poller's."""
    runs = [cold_warm(seed, 2, 12) for seed in (1, 2, 3)]
    base = [baseline(seed, FAST, 12) for seed in (1, 2, 3)]
    assert [48, 48, 48] == [r["activities"] for r in runs]
    assert [0, 0, 0] == [r["429"] for r in runs]
    assert statistics.mean(r["cold"] for r in runs) < 1.39
    assert statistics.median(r["lat_cold"] / b["lat"] for r, b in zip(runs, base,
                                                                      strict=True)) <= 1.3
