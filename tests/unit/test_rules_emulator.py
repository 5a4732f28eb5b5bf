"""Issue 12 against the emulator: ``[[rules]]`` fields with the POST, one PUT for the rest.

The engine runs on the in-process emulator and a manual clock (``engine_rig``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from engine_rig import Crash, World, with_rules, workout_file

from stravasync.state import Store
from stravasync.upload.engine import Engine

#: Every file: fields that go with the POST. Rides: the update's fields too.
RULES: list[dict[str, Any]] = [
    {"set": {"name": "{sport} by rule", "description": "set by stravasync",
             "trainer": True, "commute": True}},
    {"glob": "ride*", "set": {"sport_type": "VirtualRide", "gear_id": "b2345678",
                              "hide_from_home": True}},
]
UPDATE = {"sport_type": "VirtualRide", "gear_id": "b2345678", "hide_from_home": True}


def puts(world: World) -> list[dict[str, Any]]:
    """The PUT /activities/{id} requests the emulator answered."""
    return [r for r in world.emulator.inspect()["requests"] if r["method"] == "PUT"]


def by_name(world: World) -> dict[str, dict[str, Any]]:
    """File name -> its activity on the emulator (through the store's activity id)."""
    activities = {a["id"]: a for a in world.emulator.inspect(requests=False)["activities"]}
    return {Path(w.path).name: activities[w.activity_id] for w in world.store.workouts()
            if w.activity_id is not None}


def run_until(world: World, engine: Engine, done: Callable[[], bool], *,
              steps: int = 500) -> None:
    """Tick the engine on the manual clock until ``done()``."""
    for _ in range(steps):
        if done():
            return
        due = engine.tick()
        if due is not None and due > world.clock():
            world.clock.set(due)
    raise AssertionError("the condition never held")


def files(world: World, names: list[str]) -> list[Path]:
    return [workout_file(world.watch, name, start=world.start(hours=i), sport="ride")
            for i, name in enumerate(names)]


def test_fields_go_with_the_post_and_one_put_only_where_rules_need_it(tmp_path: Path) -> None:
    """Name, description, trainer and commute arrive with the POST; rides get exactly one PUT."""
    world = with_rules(World(tmp_path), RULES)
    engine = world.engine()
    engine.scan(files(world, ["ride1.fit", "ride2.fit", "run1.fit", "run2.fit"]))
    world.drive(engine)
    assert {"uploaded"} == set(world.states().values())
    uploads = world.emulator.inspect(requests=False)["uploads"]
    assert 4 == len(uploads)
    for upload in uploads:  # what the POST carried
        assert ("Ride by rule", "set by stravasync", True, True) == (
            upload["name"], upload["description"], upload["trainer"], upload["commute"])
    activities = by_name(world)
    for name in ("ride1.fit", "ride2.fit"):
        updates = activities[name]["updates"]
        assert [(UPDATE, True)] == [(u["fields"], u["applied"]) for u in updates]
        assert ("VirtualRide", "b2345678", True) == (
            activities[name]["sport_type"], activities[name]["gear_id"],
            activities[name]["hide_from_home"])
    for name in ("run1.fit", "run2.fit"):
        assert [] == activities[name]["updates"]
    assert 2 == len(puts(world))
    assert all(w.update_fields is None for w in world.store.workouts())


@pytest.mark.parametrize("at_post", [False, True], ids=["duplicate-at-poll", "duplicate-at-post"])
def test_no_put_is_sent_to_an_activity_strava_calls_a_duplicate(
    tmp_path: Path, at_post: bool
) -> None:
    """A workout Strava already had (another app sent it) ends duplicate, its activity untouched."""
    world = with_rules(World(tmp_path, knobs={"duplicate_at_post": at_post}), RULES)
    [path] = files(world, ["ride1.fit"])
    world.client.create_upload(data=path.read_bytes(), data_type="fit", external_id="other-app")
    world.clock.advance(30)
    [existing] = world.activities()
    engine = world.engine()
    engine.scan([path])
    world.drive(engine)
    assert {"ride1.fit": "duplicate"} == world.states()
    assert [] == puts(world)
    assert [] == world.emulator.inspect(requests=False)["activities"][0]["updates"]
    assert existing["id"] == world.store.workouts()[0].activity_id


class PutCrash:
    """Dies (Crash) at the first PUT once armed: before it is sent, or after its answer."""

    def __init__(self, when: str) -> None:
        self.when = when
        self.armed = False

    def _hit(self, request: httpx.Request) -> None:
        if self.armed and request.method == "PUT":
            self.armed = False
            raise Crash(f"died {self.when} the PUT")

    def before(self, request: httpx.Request) -> None:
        if self.when == "before":
            self._hit(request)

    def after(self, request: httpx.Request, _response: httpx.Response) -> None:
        if self.when == "after":
            self._hit(request)


def failing_then_crash(tmp_path: Path, when: str) -> World:
    """Two rides whose PUTs fail with 5xx a few times, then a crash at the next PUT, a restart."""
    crash = PutCrash(when)
    world = with_rules(World(tmp_path, knobs={"update_5xx_share": 1.0}, before=crash.before,
                             after=crash.after), RULES)
    engine = world.engine()
    engine.scan(files(world, ["ride1.fit", "ride2.fit"]))
    run_until(world, engine, lambda: len(puts(world)) >= 6)  # three failures each
    assert {"updating"} == set(world.states().values())
    assert all(w.error is not None for w in world.store.workouts())  # Strava's 5xx, kept
    world.emulator.set_knobs(update_5xx_share=0.0)
    crash.armed = True
    with pytest.raises(Crash):
        run_until(world, engine, lambda: False)
    restarted = world.engine(store=Store.open(world.state_dir, clock=world.clock))
    restarted.scan(sorted(world.watch.iterdir()))
    world.drive(restarted)
    assert {"uploaded"} == set(world.states().values())
    assert 2 == len(world.emulator.inspect(requests=False)["uploads"])  # never re-sent
    return world


def test_failed_updates_then_a_crash_then_a_restart_apply_exactly_one_put(tmp_path: Path) -> None:
    """5xx answers keep the file updating; after a crash at the PUT, one PUT succeeds per activity."""
    world = failing_then_crash(tmp_path, "before")
    for name, activity in by_name(world).items():
        updates = activity["updates"]
        assert 1 == sum(u["applied"] for u in updates), name
        assert all(u["status"] >= 500 for u in updates if not u["applied"])
        assert updates[-1]["applied"]
        assert UPDATE == updates[-1]["fields"]
        assert ("VirtualRide", "b2345678", True) == (
            activity["sport_type"], activity["gear_id"], activity["hide_from_home"])
    assert all(w.error is None and w.warning is None for w in world.store.workouts())


def test_a_crash_after_the_put_answered_sends_the_same_update_once_more(tmp_path: Path) -> None:
    """A PUT applied but not recorded is sent again after the restart: the same fields, no harm."""
    world = failing_then_crash(tmp_path, "after")
    applied = [[u["fields"] for u in a["updates"] if u["applied"]]
               for a in by_name(world).values()]
    assert sorted(len(a) for a in applied) == [1, 2]  # only the crashed one was repeated
    assert all(fields == UPDATE for a in applied for fields in a)


def test_an_unknown_gear_ends_uploaded_with_stravas_reason_and_no_retry(tmp_path: Path) -> None:
    """Strava refusing the update (gear not the athlete's) keeps its reason as a warning, once."""
    rules = [{"set": {"gear_id": "b9999999", "sport_type": "Ride"}}]
    world = with_rules(World(tmp_path), rules)
    engine = world.engine()
    engine.scan(files(world, ["ride1.fit"]))
    world.drive(engine)
    world.clock.advance(3 * 3600)
    world.drive(world.engine())
    assert {"ride1.fit": "uploaded"} == world.states()
    [entry] = world.store.files()
    assert entry.warning is not None
    assert "gear" in entry.warning.lower()
    assert "warning" in entry.as_json()
    assert 1 == len(puts(world))
    assert 400 == puts(world)[0]["status"]
    assert 1 == len(world.emulator.inspect(requests=False)["uploads"])


