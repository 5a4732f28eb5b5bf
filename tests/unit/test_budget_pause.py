"""A spent rate-limit budget is said at once: ``status`` shows ``paused_until``, the log says why."""

from __future__ import annotations

from pathlib import Path

from engine_rig import World, workout_file
from pieces_rig import Pieces
from structlog.testing import capture_logs

from stravasync.owner.status import gather_status
from stravasync.stack import RATELIMIT_FILE
from stravasync.state import State
from stravasync.strava.client import StravaClient
from stravasync.strava.governor import Governor
from stravasync.strava.ratewindows import next_quarter_hour


def world_near_the_limit(tmp_path: Path, *, usage_15: int) -> World:
    """A world whose governor keeps its state where ``status`` reads it."""
    world = World(tmp_path)
    world.governor = Governor(state_file=world.state_dir / RATELIMIT_FILE, clock=world.clock)
    world.client = StravaClient(config=world.config.strava, tokens=world.tokens,
                                governor=world.governor, transport=world.transport,
                                clock=world.clock)
    world.emulator.set_usage(usage_15=usage_15, usage_day=usage_15)
    return world


def test_uploads_held_for_the_reads_of_uploads_in_flight_show_paused_until(
    tmp_path: Path,
) -> None:
    """At 199/200 with uploads in flight no POST goes: status and the log say until when."""
    world = world_near_the_limit(tmp_path, usage_15=197)
    pieces = Pieces.over(world)
    paths = [workout_file(world.watch, f"w{i}.fit", start=world.start(hours=i))
             for i in range(3)]
    world.engine().scan(paths)
    shas = [pieces.row_at(p).sha256 for p in paths]
    pieces.transfer.post(shas[0])
    pieces.transfer.post(shas[1])
    assert 199 == world.governor.snapshot()["usage_15"]
    with capture_logs() as logs:
        pieces.transfer.post(shas[2])
    assert State.QUEUED == pieces.row(shas[2]).state
    quarter = next_quarter_hour(world.clock())
    rate = gather_status(world.config, clock=world.clock).data["rate_limit"]
    assert quarter == rate["paused_until"]
    assert [quarter] == [e["until"] for e in logs if e["event"] == "uploads_paused"]


def test_the_hold_ends_when_uploads_go_again(tmp_path: Path) -> None:
    """Once the window turns and a POST goes, status no longer shows the hold."""
    world = world_near_the_limit(tmp_path, usage_15=197)
    pieces = Pieces.over(world)
    paths = [workout_file(world.watch, f"w{i}.fit", start=world.start(hours=i))
             for i in range(3)]
    world.engine().scan(paths)
    shas = [pieces.row_at(p).sha256 for p in paths]
    for sha in shas:
        pieces.transfer.post(sha)
    world.clock.set(next_quarter_hour(world.clock()) + 1.0)
    pieces.transfer.post(shas[2])
    assert State.UPLOADING == pieces.row(shas[2]).state
    rate = gather_status(world.config, clock=world.clock).data["rate_limit"]
    assert rate["paused_until"] is None
