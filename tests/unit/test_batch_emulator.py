"""Issue 14 against the emulator: one list call settles many uploads, private ones too.

A quarter of the activities are private (``private_share=0.25``). The engine runs on
the in-process emulator and a manual clock (``engine_rig``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from engine_rig import Crash, World, with_rules, workout_file

from stravasync.owner.status import gather_status
from stravasync.state import State, Store

READ_ALL = "read,activity:write,activity:read_all"
PRIVATE = {"private_share": 0.25, "processing_min_s": 0.5, "processing_max_s": 6.0}


def world_with(tmp_path: Path, scope: str, **kw: Any) -> World:
    knobs = {**PRIVATE, **kw.pop("knobs", {})}
    world = World(tmp_path, knobs=knobs, **kw)
    world.sign_in(scope)
    return world


def requests(world: World) -> list[dict[str, Any]]:
    return [r for r in world.emulator.inspect()["requests"] if "/api/" in r["path"]]


def lists(world: World) -> list[dict[str, Any]]:
    return [r for r in requests(world) if r["path"].endswith("/athlete/activities")]


def polled(world: World) -> dict[str, int]:
    """Upload id -> single polls (GET /uploads/{id}) it had."""
    counts: dict[str, int] = {}
    for r in requests(world):
        if r["method"] == "GET" and "/uploads/" in r["path"]:
            upload_id = r["path"].rsplit("/", 1)[1]
            counts[upload_id] = counts.get(upload_id, 0) + 1
    return counts


def workouts(world: World, count: int, *, prefix: str = "w") -> list[Path]:
    return [workout_file(world.watch, f"{prefix}{i:02d}.fit", start=world.start(hours=i))
            for i in range(count)]


def one_activity_each(world: World, count: int) -> None:
    """Each workout is exactly one live activity, matched by upload id, and was POSTed once."""
    activities = world.activities()
    assert count == len(activities)
    assert count == len({a["sha256"] for a in activities})
    assert count == len(world.emulator.inspect(requests=False)["uploads"])
    by_upload = {str(a["upload_id"]): a["id"] for a in activities}
    for w in world.store.workouts(states=(State.UPLOADED,)):
        assert by_upload[str(w.upload_id)] == w.activity_id


def test_with_read_all_one_list_settles_private_uploads_too(tmp_path: Path) -> None:
    """With activity:read_all lists settle private and public uploads alike, for few calls."""
    world = world_with(tmp_path, READ_ALL)
    engine = world.engine()
    engine.scan(workouts(world, 12))
    world.drive(engine)
    assert {"uploaded"} == set(world.states().values())
    one_activity_each(world, 12)
    private = [a for a in world.activities() if a["private"]]
    assert private
    singly = polled(world)
    assert [a for a in private if str(a["upload_id"]) not in singly]  # a list found them
    assert lists(world)
    assert 12 + len(lists(world)) + sum(singly.values()) == world.api_calls()
    assert world.api_calls() / 12 < 2.0  # single polls can never go below 2
    assert "list" == gather_status(world.config, clock=world.clock).data["follow_mode"]


@pytest.mark.parametrize("scope", ["read,activity:write", "read,activity:write,activity:read"])
def test_without_read_all_every_upload_is_followed_by_its_own_poll(
    tmp_path: Path, scope: str
) -> None:
    """A sign-in that cannot see private activities in lists never lists; polls find them all."""
    world = world_with(tmp_path, scope)
    engine = world.engine()
    engine.scan(workouts(world, 8))
    world.drive(engine)
    assert {"uploaded"} == set(world.states().values())
    one_activity_each(world, 8)
    assert [] == lists(world)
    singly = polled(world)
    assert {str(u["id_str"]) for u in world.emulator.inspect(requests=False)["uploads"]} == set(
        singly)
    assert [a for a in world.activities() if a["private"]]
    assert "single" == gather_status(world.config, clock=world.clock).data["follow_mode"]


def test_errors_and_duplicates_missing_from_lists_are_learned_by_their_own_poll(
    tmp_path: Path,
) -> None:
    """Uploads that end in an error or as a duplicate never show in a list; each gets its poll."""
    world = world_with(tmp_path, READ_ALL)
    paths = workouts(world, 10)
    for path in paths[:2]:  # another app sent these two already
        world.client.create_upload(data=path.read_bytes(), data_type="fit",
                                   external_id=f"other-{path.name}")
    world.clock.advance(60)
    others = {a["id"] for a in world.activities()}
    world.emulator.set_knobs(deleted_share=0.25)
    engine = world.engine()
    engine.scan(paths)
    world.drive(engine)
    states = world.states()
    assert ["duplicate", "duplicate"] == [states[p.name] for p in paths[:2]]
    ours = [w for w in world.store.workouts() if w.upload_id is not None]
    errors = [w for w in ours if w.state is State.REJECTED]
    assert errors
    assert all(w.error and "deleted" in w.error for w in errors)
    singly = polled(world)
    for w in [*errors, *(w for w in ours if w.state is State.DUPLICATE)]:
        assert singly.get(str(w.upload_id), 0) >= 1, w.path
        assert w.finished_at is not None
        assert w.posted_at is not None
        assert w.finished_at - w.posted_at < 40.0  # its poll came once its time was clearly up
    assert lists(world)
    live = {a["id"] for a in world.activities()}
    assert others <= live
    uploaded = world.store.workouts(states=(State.UPLOADED,))
    assert 10 - 2 - len(errors) == len(uploaded)
    assert {w.activity_id for w in uploaded} == live - others


class ListCrash:
    """Dies (Crash) at the n-th list call: just before it is sent, or once it is answered."""

    def __init__(self, n: int, when: str) -> None:
        self.n, self.when, self.seen = n, when, 0

    def _hit(self, request: httpx.Request) -> None:
        if request.url.path.endswith("/athlete/activities"):
            self.seen += 1
            if self.seen == self.n:
                raise Crash(f"died {self.when} list {self.n}")

    def before(self, request: httpx.Request) -> None:
        if self.when == "before":
            self._hit(request)

    def after(self, request: httpx.Request, _response: httpx.Response) -> None:
        if self.when == "after":
            self._hit(request)


@pytest.mark.parametrize(("n", "when"), [(1, "after"), (2, "after"), (1, "before")])
def test_a_crash_around_a_list_call_still_gives_one_activity_per_workout(
    tmp_path: Path, n: int, when: str
) -> None:
    """Dying between a list's answer and its recording costs a read, never a second activity."""
    crash = ListCrash(n, when)
    world = world_with(tmp_path, READ_ALL, before=crash.before, after=crash.after)
    paths = workouts(world, 8)
    engine = world.engine()
    engine.scan(paths)
    with pytest.raises(Crash):
        world.drive(engine)
    restarted = world.engine(store=Store.open(world.state_dir, clock=world.clock))
    restarted.scan(paths)
    world.drive(restarted)
    assert {"uploaded"} == set(world.states().values())
    one_activity_each(world, 8)


def test_nothing_is_matched_on_name(tmp_path: Path) -> None:
    """Activities that share our name and start range are never taken for our uploads."""
    rules = [{"set": {"name": "Morning Ride"}}]
    world = world_with(tmp_path, READ_ALL)
    with_rules(world, rules)
    decoys = workouts(world, 4, prefix="decoy")
    for path in decoys:  # the athlete's own, same name, starts within the lists' range
        world.client.create_upload(data=path.read_bytes(), data_type="fit",
                                   external_id=f"watch-{path.name}", name="Morning Ride")
        path.unlink()
    world.clock.advance(60)
    decoy_ids = {a["id"] for a in world.activities()}
    engine = world.engine()
    ours = [workout_file(world.watch, f"w{i}.fit", start=world.start(hours=i, days_ago=1.01))
            for i in range(6)]
    engine.scan(ours)
    world.drive(engine)
    assert lists(world)
    uploaded = world.store.workouts(states=(State.UPLOADED,))
    assert 6 == len(uploaded)
    assert not decoy_ids & {w.activity_id for w in uploaded}
    by_upload = {str(a["upload_id"]): a["id"] for a in world.activities()}
    assert all(by_upload[str(w.upload_id)] == w.activity_id for w in uploaded)
