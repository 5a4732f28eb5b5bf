"""Lists or single polls: a bare-code sign-in tries lists, an unusable list falls back to polls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine_rig import World, workout_file
from pieces_rig import Spy

from stravasync.errors import ApiError
from stravasync.owner.status import gather_status, status_table
from stravasync.state import State
from stravasync.state.runlock import DaemonLock
from stravasync.strava.tokens import Athlete, TokenSet, TokenStore
from stravasync.upload.engine import Engine
from stravasync.upload.listing import FOLLOW_MODE_KEY, read_follow_mode

READ_ALL = "read,activity:write,activity:read_all"
UNREADABLE = ApiError("Strava listed an activity without an id or a start time. "
                      "It will be retried later.")


def bare_code_world(tmp_path: Path, *, granted: str, **knobs: Any) -> World:
    """A world whose stored sign-in has no scope (``auth --code``) but ``granted`` on Strava."""
    world = World(tmp_path, knobs=dict(knobs))
    body = world.emulator.issue_tokens(scope=granted)
    TokenStore(state_dir=world.state_dir, clock=world.clock).save_initial(TokenSet(
        access_token=body["access_token"], refresh_token=body["refresh_token"],
        expires_at=int(body["expires_at"]), scope=None,
        athlete=Athlete(id=int(body["athlete"]["id"]))))
    return world


def run_for(world: World, engine: Engine, seconds: float) -> None:
    """Run the engine on the manual clock for ``seconds``, or until nothing is left."""
    end = world.clock() + seconds
    while True:
        due = engine.tick()
        if due is None or due > end:
            return
        world.clock.set(max(due, world.clock()))


def sent(world: World) -> list[str]:
    """``list`` or ``poll`` for every read the emulator answered, in order."""
    reads = []
    for r in world.emulator.inspect()["requests"]:
        if r["path"].endswith("/athlete/activities"):
            reads.append("list")
        elif r["method"] == "GET" and "/uploads/" in r["path"]:
            reads.append("poll")
    return reads


def queue(world: World, count: int) -> list[Path]:
    return [workout_file(world.watch, f"w{i:02d}.fit", start=world.start(hours=i))
            for i in range(count)]


def follow_mode(world: World) -> tuple[str, str] | None:
    mode = read_follow_mode(world.store.get_meta(FOLLOW_MODE_KEY))
    return None if mode is None else (mode.mode, mode.why)


def test_an_unusable_list_answer_falls_back_to_polls_and_backs_off(tmp_path: Path) -> None:
    """Lists whose answer cannot be read are not retried every 2 s: polls settle the uploads."""
    world = World(tmp_path, knobs={"processing_min_s": 0.5, "processing_max_s": 3.0})
    world.sign_in(READ_ALL)
    spy = Spy(world.client)

    def unreadable(**kwargs: Any) -> None:
        world.client.list_activities(**kwargs)  # Strava answered (and counted it)
        raise UNREADABLE

    spy.fail["list_activities"] = unreadable
    engine = world.engine(client=spy)
    engine.scan(queue(world, 6))
    run_for(world, engine, 90.0)
    assert {"uploaded"} == set(world.states().values())
    reads = sent(world)
    assert reads.count("list") <= 2
    assert 6 <= reads.count("poll")
    mode = follow_mode(world)
    assert mode is not None
    assert "single" == mode[0]
    assert "could not be used" in mode[1]


def test_status_says_how_uploads_are_followed_and_why(tmp_path: Path) -> None:
    """While the daemon runs, status (and --json) names the way in use and the reason for it."""
    world = World(tmp_path)
    world.sign_in(READ_ALL)
    spy = Spy(world.client)
    spy.fail["list_activities"] = UNREADABLE
    engine = world.engine(client=spy)
    engine.scan(queue(world, 4))
    run_for(world, engine, 30.0)
    lock = DaemonLock(world.state_dir)
    lock.acquire()
    try:
        status = gather_status(world.config, clock=world.clock)
    finally:
        lock.release()
    assert "single" == status.data["follow_mode"]
    assert "could not be used" in status.data["follow_reason"]
    [line] = [x for x in status_table(status) if x.startswith("Following uploads")]
    assert "one poll per upload" in line
    assert "could not be used" in line


def test_every_list_counts_on_the_read_budget(tmp_path: Path) -> None:
    """A list whose answer was unusable still used a read: the governor counts it."""
    world = World(tmp_path)
    world.sign_in(READ_ALL)
    spy = Spy(world.client)

    def unreadable(**kwargs: Any) -> None:
        world.client.list_activities(**kwargs)
        raise UNREADABLE

    spy.fail["list_activities"] = unreadable
    engine = world.engine(client=spy)
    engine.scan(queue(world, 4))
    run_for(world, engine, 90.0)
    usage = world.emulator.inspect(requests=False)["counters"]
    reads_seen = len(sent(world))
    assert reads_seen == world.governor.snapshot(now=world.clock())["read_usage_15"]
    assert usage["api_calls"] >= reads_seen


def test_a_bare_code_sign_in_follows_uploads_by_lists(tmp_path: Path) -> None:
    """With the scope unknown, lists are tried, and kept while they find the uploads."""
    world = bare_code_world(tmp_path, granted=READ_ALL, private_share=0.5)
    engine = world.engine()
    engine.scan(queue(world, 8))
    world.drive(engine)
    assert {"uploaded"} == set(world.states().values())
    reads = sent(world)
    assert reads.count("list") >= 1
    assert reads.count("poll") < 8
    mode = follow_mode(world)
    assert mode is not None
    assert "list" == mode[0]
    assert "unknown" in mode[1]


def test_a_bare_code_sign_in_that_cannot_see_private_activities_turns_to_polls(
    tmp_path: Path,
) -> None:
    """A list that misses an upload its poll finds done stops the lists: polls settle the rest."""
    world = bare_code_world(tmp_path, granted="read,activity:write,activity:read",
                            private_share=1.0)
    engine = world.engine()
    engine.scan(queue(world, 8))
    world.drive(engine)
    assert {State.UPLOADED.value} == set(world.states().values())
    reads = sent(world)
    assert "list" in reads
    assert "list" not in reads[reads.index("poll"):]  # the first poll to find one ends lists
    mode = follow_mode(world)
    assert mode is not None
    assert "single" == mode[0]
    assert "missed" in mode[1]
