"""An uploaded file emptied to 0 bytes keeps showing its activity, with a note (issue 18.11)."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_rig import World, workout_file

from stravasync.state import State


@pytest.fixture
def world(tmp_path: Path) -> World:
    """Emulator with processing inside the default estimate."""
    return World(tmp_path, knobs={"processing_min_s": 0.5, "processing_max_s": 2.0})


def test_an_uploaded_file_emptied_to_zero_bytes_still_shows_its_activity(world: World) -> None:
    """Emptied after upload: the path stays uploaded with its activity, says so, sends nothing."""
    path = workout_file(world.watch, "ride.fit", start=world.start())
    engine = world.engine()
    engine.submit(path)
    world.drive(engine)
    before = {f.path: f for f in world.store.files()}[str(path)]
    uploads = len(world.emulator.inspect(requests=False)["uploads"])
    path.write_bytes(b"")
    submitted = engine.submit(path)
    world.drive(engine)
    after = {f.path: f for f in world.store.files()}[str(path)]
    assert (State.UPLOADED, before.activity_id) == (after.state, after.activity_id)
    assert State.UPLOADED == submitted.state
    assert after.warning is not None
    assert "emptied" in after.warning
    assert uploads == len(world.emulator.inspect(requests=False)["uploads"])
    assert 1 == len(world.activities())


def test_an_emptied_file_filled_again_with_a_new_workout_is_sent(world: World) -> None:
    """The note lasts only while the file is empty: new content at the path is judged and sent."""
    path = workout_file(world.watch, "ride.fit", start=world.start(hours=3))
    engine = world.engine()
    engine.submit(path)
    world.drive(engine)
    path.write_bytes(b"")
    engine.submit(path)
    workout_file(world.watch, "ride.fit", start=world.start())
    engine.submit(path)
    world.drive(engine)
    after = {f.path: f for f in world.store.files()}[str(path)]
    assert (State.UPLOADED, None) == (after.state, after.warning)
    assert 2 == len(world.activities())


def test_status_names_the_emptied_file_beside_its_activity(world: World) -> None:
    """The table a person reads lists the note under "Notes:" with the file's path."""
    from stravasync.owner.status import Status, status_table

    path = workout_file(world.watch, "ride.fit", start=world.start())
    engine = world.engine()
    engine.submit(path)
    world.drive(engine)
    path.write_bytes(b"")
    engine.submit(path)
    files = world.store.files()
    data = {"watch": [], "files": [f.as_json() for f in files], "auth": None,
            "follow_mode": "poll", "rate_limit": {}, "daemon": {"running": False}}
    table = status_table(Status(files=files, data=data))
    notes = table[table.index("Notes:") + 1:]
    assert notes[0].startswith(f"  uploaded: {path}: the file was emptied"), table
