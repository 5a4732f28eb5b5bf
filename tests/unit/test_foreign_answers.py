"""Strava's answers about another file are never trusted: nothing recorded, nothing deleted."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from engine_rig import World, workout_file
from pieces_rig import Pieces

from stravasync.owner.status import gather_status, status_table
from stravasync.state import State
from stravasync.strava.client import STATUS_READY, Upload
from stravasync.strava.wire import echo_agrees
from stravasync.upload.outcomes import FOREIGN_ANSWER_LIMIT

READ_ALL = "read,activity:write,activity:read_all"


def pieces_deleting(tmp_path: Path, *, scope: str = "read,activity:write") -> Pieces:
    world = World(tmp_path, config_overrides={
        "upload": {"after": "delete", "delete_outside_home": True}})
    world.sign_in(scope)
    return Pieces.over(world)


def queued(pieces: Pieces, name: str, *, hours: float) -> str:
    """Write and read a workout that started ``hours`` before the others; its sha256."""
    path = workout_file(pieces.world.watch, name, start=pieces.world.start(hours=hours))
    pieces.world.engine().scan([path])
    return pieces.row_at(path).sha256


def uploaded(pieces: Pieces, name: str) -> tuple[str, Upload]:
    """Send ``name`` to its activity (its file deleted); return its sha256 and upload."""
    [sha] = pieces.posted(name)
    pieces.world.clock.advance(30)
    assert pieces.follower.poll(sha)
    upload_id = pieces.row(sha).upload_id
    assert upload_id is not None
    return sha, pieces.world.client.get_upload(upload_id)


@pytest.mark.parametrize(("echo", "agrees"), [
    ("stravasync-0123", True),
    ("stravasync-0123.fit", True),
    ("stravasync-0123.gpx.gz", True),
    ("stravasync-0123.TCX", True),
    ("stravasync-01234", False),
    ("stravasync-012", False),
    ("stravasync-0123.fit.zip", False),
    ("stravasync-9999.fit", False),
])
def test_an_echo_agrees_only_as_ours_or_ours_with_a_workout_extension(
    echo: str, agrees: bool,
) -> None:
    """Strava may append the file's extension to our external_id; anything else is not ours."""
    assert agrees == echo_agrees("stravasync-0123", echo)


def test_a_post_answer_with_another_files_upload_deletes_nothing(tmp_path: Path) -> None:
    """A POST answered with an upload of another file records nothing, and keeps the file."""
    pieces = pieces_deleting(tmp_path)
    _first, other = uploaded(pieces, "a.fit")
    sha = queued(pieces, "b.fit", hours=5)
    path = Path(pieces.row(sha).path)
    pieces.spy.fail["create_upload"] = lambda **_kw: other
    pieces.transfer.post(sha)
    w = pieces.row(sha)
    assert (State.RETRYING, None, None) == (w.state, w.upload_id, w.activity_id)
    assert path.exists()
    assert w.error is not None
    assert "another file" in w.error


def test_a_post_answer_with_another_external_id_is_not_recorded(tmp_path: Path) -> None:
    """A new upload whose external_id echo is not ours is not taken as this file's."""
    pieces = pieces_deleting(tmp_path)
    [sha] = pieces.queue("b.fit")
    lie = Upload(id="4242", external_id="someone-else.fit", status=STATUS_READY, error=None,
                 activity_id=77)
    pieces.spy.fail["create_upload"] = lambda **_kw: lie
    pieces.transfer.post(sha)
    w = pieces.row(sha)
    assert (State.RETRYING, None, None) == (w.state, w.upload_id, w.activity_id)
    assert Path(w.path).exists()


def test_a_post_answer_echoing_ours_with_an_extension_is_recorded(tmp_path: Path) -> None:
    """Strava's usual echo ("<ours>.fit") is ours: the upload id is stored as always."""
    pieces = pieces_deleting(tmp_path)
    [sha] = pieces.posted("b.fit")
    w = pieces.row(sha)
    assert (State.UPLOADING, None) == (w.state, w.error)
    assert w.upload_id is not None


def test_a_poll_answer_with_another_external_id_is_not_recorded(tmp_path: Path) -> None:
    """A poll answered about another file records nothing and looks again after a backoff."""
    pieces = pieces_deleting(tmp_path)
    [sha] = pieces.posted("a.fit")
    real = pieces.world.client.get_upload

    def lying(upload_id: str) -> Upload:
        return dataclasses.replace(real(upload_id), external_id="someone-else.fit")

    pieces.spy.fail["get_upload"] = lying
    pieces.world.clock.advance(30)
    assert not pieces.follower.poll(sha)
    w = pieces.row(sha)
    assert (State.UPLOADING, None, 1) == (w.state, w.activity_id, w.failures)
    assert w.next_attempt_at is not None
    assert w.next_attempt_at > pieces.world.clock()
    assert Path(w.path).exists()


def test_a_list_entry_with_another_external_id_settles_nothing(tmp_path: Path) -> None:
    """A listed activity naming our upload but another external_id leaves it to its own poll."""
    pieces = pieces_deleting(tmp_path, scope=READ_ALL)
    shas = pieces.posted("a.fit", "b.fit")
    real = pieces.world.client.list_activities

    def lying(**kwargs: Any) -> list[Any]:
        return [dataclasses.replace(a, external_id="someone-else.fit")
                for a in real(**kwargs)]

    pieces.spy.fail["list_activities"] = lying
    pieces.world.clock.advance(30)
    pieces.follower.follow()
    assert {(State.UPLOADING, None)} == {(pieces.row(s).state, pieces.row(s).activity_id)
                                         for s in shas}
    assert all(Path(pieces.row(s).path).exists() for s in shas)


def test_answers_about_another_file_again_and_again_need_the_owner(tmp_path: Path) -> None:
    """After a few foreign answers in a row the file ends rejected, kept, and status says why."""
    pieces = pieces_deleting(tmp_path)
    _first, other = uploaded(pieces, "a.fit")
    sha = queued(pieces, "b.fit", hours=5)
    pieces.spy.fail["create_upload"] = lambda **_kw: other
    for _ in range(FOREIGN_ANSWER_LIMIT):
        due = pieces.row(sha).next_attempt_at
        if due is not None:
            pieces.world.clock.set(max(due, pieces.world.clock()))
        pieces.transfer.post(sha)
    w = pieces.row(sha)
    assert (State.REJECTED, None) == (w.state, w.activity_id)
    assert Path(w.path).exists()
    assert FOREIGN_ANSWER_LIMIT == pieces.spy.names().count("create_upload") - 1
    lines = status_table(gather_status(pieces.world.config, clock=pieces.world.clock))
    needs_you = lines[lines.index("Needs you:") + 1]
    assert "b.fit" in needs_you
    assert "stravasync retry" in needs_you


def test_a_lying_emulator_gets_no_file_deleted(tmp_path: Path) -> None:
    """End to end: the emulator answers every later POST with the first upload; only it is deleted."""
    world = World(tmp_path, knobs={"answer_first_upload": True}, config_overrides={
        "upload": {"after": "delete", "delete_outside_home": True, "concurrency": 1}})
    paths = [workout_file(world.watch, f"{name}.fit", start=world.start(hours=hours))
             for name, hours in (("a", 0), ("b", 5), ("c", 10))]
    engine = world.engine()
    engine.scan(paths)
    world.drive(engine, horizon=40_000.0)
    assert 1 == len(world.activities())
    kept = {p.name for p in paths if p.exists()}
    assert 2 == len(kept)
    assert dict.fromkeys(kept, "rejected") == {
        name: state for name, state in world.states().items() if name in kept}
