"""A fresh workout (started in the last 48 hours) is sent before the backlog."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_rig import World, workout_file
from pieces_rig import Spy
from store_rig import T0, add, facts

from stravasync.state import Store
from stravasync.state.model import FRESH_S, is_fresh


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """An empty store whose clock stands at T0."""
    return Store.open(tmp_path / "state", clock=lambda: T0)


def test_a_fresh_workout_comes_before_a_year_of_backlog(store: Store) -> None:
    """Backlog oldest first behind the fresh ones, which also go oldest first."""
    add(store, "/w/old.fit", facts("o" * 64, start=T0 - 365 * 86400))
    add(store, "/w/older.fit", facts("p" * 64, start=T0 - 400 * 86400))
    add(store, "/w/today.fit", facts("t" * 64, start=T0 - 3600))
    add(store, "/w/yesterday.fit", facts("y" * 64, start=T0 - 30 * 3600))
    add(store, "/w/unknown.fit", facts("u" * 64, start=None))
    due = store.due_posts(now=T0, owner="h:1", limit=10)
    assert ["y", "t", "p", "o", "u"] == [w.sha256[0] for w in due]


def test_fresh_ends_at_48_hours(store: Store) -> None:
    """A workout started exactly 48 hours ago is still fresh; a second earlier is backlog."""
    add(store, "/w/edge.fit", facts("e" * 64, start=T0 - FRESH_S))
    add(store, "/w/past.fit", facts("p" * 64, start=T0 - FRESH_S - 1, sport="ride"))
    add(store, "/w/oldest.fit", facts("a" * 64, start=T0 - FRESH_S - 7200))
    due = store.due_posts(now=T0, owner="h:1", limit=10)
    assert ["e", "a", "p"] == [w.sha256[0] for w in due]
    assert (True, False, False) == (is_fresh(T0 - FRESH_S, now=T0),
                                    is_fresh(T0 - FRESH_S - 1, now=T0), is_fresh(None, now=T0))


def test_todays_ride_is_the_first_post_despite_500_backlog_files(tmp_path: Path) -> None:
    """One engine, 500 queued files from last year and today's ride: today's is POSTed first."""
    world = World(tmp_path, config_overrides={"watch": {"max_age_days": 0}})
    backlog = [workout_file(world.watch, f"old{i:03d}.fit", start=world.start(days_ago=365 - i / 2))
               for i in range(500)]
    today = workout_file(world.watch, "today.fit", start=world.start(days_ago=0, hours=2))
    spy = Spy(world.client)
    engine = world.engine(client=spy)
    engine.scan([*backlog, today])
    engine.tick()
    record = world.store.path_record(str(today.resolve()))
    assert record is not None
    assert record.sha256 is not None
    posted = [kwargs["external_id"] for name, _args, kwargs in spy.calls
              if name == "create_upload"]
    assert f"stravasync-{record.sha256[:20]}" == posted[0]
