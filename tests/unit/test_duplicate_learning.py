"""A duplicate answer found only after lists missed it says nothing of Strava's pace:
lists never show duplicates, so it must not teach the expected processing time."""

from __future__ import annotations

from pathlib import Path

from engine_rig import World, workout_file

READ_ALL = "read,activity:write,activity:read_all"


def test_a_duplicate_found_after_list_misses_does_not_slow_later_looks(tmp_path: Path) -> None:
    """Workouts that take 2 s beside one another app sent already: the learned time stays under 4 s."""
    world = World(tmp_path, knobs={"processing_min_s": 2.0, "processing_max_s": 2.0})
    world.sign_in(READ_ALL)
    paths = [workout_file(world.watch, f"w{i:02d}.fit", start=world.start(hours=i))
             for i in range(6)]
    world.client.create_upload(data=paths[0].read_bytes(), data_type="fit",
                               external_id="other-app")
    world.clock.advance(60)
    engine = world.engine()
    engine.scan(paths)
    world.drive(engine)
    assert "duplicate" == world.states()[paths[0].name]
    assert ["uploaded"] * 5 == [world.states()[p.name] for p in paths[1:]]
    assert engine.processing_estimate <= 4.0
