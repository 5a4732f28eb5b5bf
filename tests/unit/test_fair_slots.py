"""Two accounts of one app, one POST per upload slot: fresh first, backlogs take turns."""

from __future__ import annotations

from pathlib import Path

from engine_rig import World, workout_file
from slots_rig import Household

from stravasync.stack import build_engine
from stravasync.upload.slots import SlotArbiter


def test_a_fresh_ride_waits_at_most_one_slot_behind_another_accounts_300_backlog(
    tmp_path: Path,
) -> None:
    """Account a has 300 old files in line; b's new ride goes out within two upload slots."""
    home = Household(tmp_path)
    a, b = home.accounts["a"], home.accounts["b"]
    a.add(300, start=home.now(days_ago=200))
    home.run(posts=3)
    ride = b.add(1, start=home.now(days_ago=0.1), prefix="ride")[0]
    before = len(home.strava.posts)
    home.run(posts=2)
    sent = [p.external_id for p in home.strava.posts[before:]]
    assert b.external_id(ride) in sent
    assert ["a"] * 3 == [p.account for p in home.strava.posts[:before]]


def test_two_backlogs_take_turns(tmp_path: Path) -> None:
    """Both accounts backfilling: the slots alternate between them."""
    home = Household(tmp_path)
    home.accounts["a"].add(8, start=home.now(days_ago=100))
    home.accounts["b"].add(8, start=home.now(days_ago=100), prefix="b")
    home.run(posts=12)
    assert ["a", "b"] * 6 == [p.account for p in home.strava.posts]


def test_each_account_finishes_when_the_other_has_nothing_left(tmp_path: Path) -> None:
    """Turns never block an account alone in line: b's three files, then a's rest, one per slot."""
    home = Household(tmp_path, slot_s=30.0)
    home.accounts["a"].add(6, start=home.now(days_ago=10))
    home.accounts["b"].add(3, start=home.now(days_ago=10), prefix="b")
    start = home.clock()
    home.run(posts=9)
    assert ["a", "b", "a", "b", "a", "b", "a", "a", "a"] == [p.account for p in home.strava.posts]
    assert [start + 30.0 * i for i in range(9)] == [p.at for p in home.strava.posts]


def calls_alone(tmp: Path, *, slots: SlotArbiter | None) -> list[tuple[str, str, float]]:
    """Every call one engine makes for 12 workouts (seconds after the start)."""
    world = World(tmp, knobs={"processing_min_s": 0.5, "processing_max_s": 20.0})
    paths = [workout_file(world.watch, f"w{i}.fit", start=world.start(days_ago=i / 3))
             for i in range(12)]
    engine = build_engine(config=world.config, store=world.store, client=world.client,
                          governor=world.governor, clock=world.clock, timing=world.timing,
                          slots=slots)
    start = world.clock()
    engine.scan(paths)
    world.drive(engine)
    assert 12 == len(world.activities())
    return [(r["method"], r["path"], r["time"] - start) for r in world.emulator.inspect()["requests"]]


def test_one_engine_at_the_arbiter_works_as_without_one(tmp_path: Path) -> None:
    """Alone at the arbiter, an engine makes the same calls at the same times as without one."""
    alone = calls_alone(tmp_path / "arbiter", slots=SlotArbiter())
    assert calls_alone(tmp_path / "none", slots=None) == alone
