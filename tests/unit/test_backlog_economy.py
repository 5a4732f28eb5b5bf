"""Issue 19's economy: in a backlog one list settles many uploads, and the window's
calls go to POSTs (one athlete, and two athletes' engines sharing one governor)."""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path

from engine_rig import World, workout_file

from benchmarks.api_calls import FAST, baseline, engine_cold_warm
from benchmarks.household_calls import backlog, cold_warm
from stravasync.state import State
from stravasync.upload.batch import BatchSettings, InFlight, plan, waiting_for_list

NOW = 1_772_445_600.0
BACKLOG = 500  # POSTs waiting: more than the window's reads


def flight(upload_id: str, *, posted: float, expected: float = 4.0) -> InFlight:
    return InFlight(upload_id=upload_id, posted_at=NOW + posted, start_time=NOW - 86400,
                    polls=0, due_at=NOW + posted + expected, expected_s=expected)


def test_in_a_backlog_a_list_waits_until_it_can_settle_many() -> None:
    """Three uploads done in a backlog get no list yet: more are posted before the one list goes."""
    uploads = [flight("1", posted=-5.0), flight("2", posted=-4.5), flight("3", posted=-4.2)]
    decided = plan(uploads=uploads, can_list=True, read_budget=100, now=NOW,
                   posts_waiting=BACKLOG)
    assert (None, ()) == (decided.list_call, decided.polls)
    assert NOW + 4.0 == decided.next_look_at


def test_in_a_backlog_a_list_goes_once_a_batch_is_ripe() -> None:
    """Once ``backlog_batch`` uploads are past their time, one list covers them all."""
    batch = BatchSettings().backlog_batch
    uploads = [flight(str(i), posted=-5.0 - i) for i in range(batch)]
    decided = plan(uploads=uploads, can_list=True, read_budget=100, now=NOW,
                   posts_waiting=BACKLOG)
    assert decided.list_call is not None
    assert {str(i) for i in range(batch)} == set(decided.list_call.covers)


def test_in_a_backlog_the_first_ripe_upload_waits_at_most_backlog_wait() -> None:
    """A backlog whose POSTs are held still lists what is done, ``backlog_wait_s`` after it ripened."""
    wait = BatchSettings().backlog_wait_s
    uploads = [flight("1", posted=-4.0 - wait), flight("2", posted=-4.0 - wait + 1.0)]
    decided = plan(uploads=uploads, can_list=True, read_budget=100, now=NOW,
                   posts_waiting=BACKLOG)
    assert decided.list_call is not None
    assert {"1", "2"} == set(decided.list_call.covers)


def test_in_a_backlog_uploads_past_their_time_free_their_post_slots() -> None:
    """Uploads only waiting for the next list hold no slot in a backlog (up to a batch), else all do."""
    ripe = [flight(str(i), posted=-10.0) for i in range(20)]
    fresh = [flight("f", posted=-1.0)]
    batch = BatchSettings().backlog_batch
    assert batch == waiting_for_list([*ripe, *fresh], can_list=True, now=NOW, queued=True)
    assert 0 == waiting_for_list([*ripe, *fresh], can_list=True, now=NOW, queued=False)
    assert 0 == waiting_for_list([*ripe, *fresh], can_list=False, now=NOW, queued=True)


def test_an_upload_missed_once_in_a_backlog_waits_for_the_next_list() -> None:
    """In a backlog an upload one list missed is looked for in the next list, not polled on its own."""
    batch = BatchSettings().backlog_batch
    missed = dataclasses.replace(flight("m", posted=-20.0), polls=1, due_at=NOW - 1.0)
    uploads = [missed, *(flight(str(i), posted=-5.0 - i) for i in range(batch - 1))]
    decided = plan(uploads=uploads, can_list=True, read_budget=100, now=NOW,
                   posts_waiting=BACKLOG)
    assert () == decided.polls
    assert decided.list_call is not None
    assert "m" in decided.list_call.covers


def test_a_backlog_fills_a_full_window_with_posts(tmp_path: Path) -> None:
    """60 workouts at limits 40/20: at least 35 activities in the first full window, no 429, one each."""
    world = World(tmp_path, knobs={"limit_15": 40, "read_limit_15": 20,
                                   "processing_min_s": 0.5, "processing_max_s": 6.0})
    world.sign_in("read,activity:write,activity:read_all")
    window = (world.clock() // 900 + 1) * 900
    world.clock.set(window)
    paths = [workout_file(world.watch, f"w{i:02d}.fit", start=world.start(hours=i))
             for i in range(60)]
    engine = world.engine()
    engine.scan(paths)
    world.drive(engine, horizon=6 * 3600.0, steps=20_000)
    seen = world.emulator.inspect(requests=False)
    known = [w.finished_at for w in world.store.workouts(states=(State.UPLOADED,))
             if w.finished_at is not None]
    assert (60, 60, 0) == (len(world.activities()), len(seen["uploads"]),
                           seen["counters"]["by_status"].get("429", 0))
    assert sum(1 for t in known if t < window + 900) >= 35


def test_two_athletes_backlogs_fill_the_window_with_posts() -> None:
    """Two athletes' backlogs on one governor at limits 40/20: at least 34 activities per full window, no 429."""
    result = backlog(1, 2, 100, (40, 20))
    assert 200 == result["activities"]
    assert 0 == result["429"]
    assert result["full_mean"] >= 34


def test_with_posts_waiting_a_list_waits_a_little_past_the_expected_time() -> None:
    """Uploads just expected done while more wait to be POSTed: the list goes ``gather_wait_s`` later."""
    wait = BatchSettings().gather_wait_s
    uploads = [flight("1", posted=-4.0), flight("2", posted=-4.0)]
    decided = plan(uploads=uploads, can_list=True, read_budget=100, now=NOW, posts_waiting=3)
    assert (None, (), NOW + wait) == (decided.list_call, decided.polls, decided.next_look_at)
    later = plan(uploads=uploads, can_list=True, read_budget=100, now=NOW + wait,
                 posts_waiting=3)
    assert later.list_call is not None
    assert {"1", "2"} == set(later.list_call.covers)


def test_two_athletes_from_a_cold_start_cost_fewer_calls() -> None:
    """12 workouts each for two athletes on one governor, from empty states: under 1.45 calls per activity."""
    runs = [cold_warm(seed, 2, 12) for seed in (1, 2, 3)]
    assert [48, 48, 48] == [r["activities"] for r in runs]
    assert [0, 0, 0] == [r["429"] for r in runs]
    assert statistics.mean(r["cold"] for r in runs) <= 1.45


def test_one_athlete_cold_start_costs_fewer_calls_and_no_latency() -> None:
    """One athlete's 12 cold workouts: under 1.47 calls each, latency at most 1.2 times a 1-s poller's."""
    ours = [engine_cold_warm(seed, FAST, 12) for seed in (1, 2, 3)]
    base = [baseline(seed, FAST, 12) for seed in (1, 2, 3)]
    assert statistics.mean(r["cold"] for r in ours) <= 1.47
    assert statistics.median(o["lat_cold"] / b["lat"] for o, b in zip(ours, base,
                                                                     strict=True)) <= 1.2
