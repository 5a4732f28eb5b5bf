"""``run --once`` says "done" when its last upload ends while it is looking, not "deferred"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine_rig import World, workout_file


def test_an_upload_ending_between_two_looks_is_done_not_deferred(tmp_path: Path) -> None:
    """The wait reads the unfinished rows just before the last upload ends: still "done"."""
    world = World(tmp_path, knobs={"processing_min_s": 0.5, "processing_max_s": 1.0})
    engine = world.engine()
    engine.submit(workout_file(world.watch, "a.fit", start=world.start()))
    before = world.store.unfinished(None)  # what a look just before the end reads
    world.drive(engine)
    real = world.store.unfinished
    looks: list[int] = []

    def stale_once(only: Any = None) -> Any:
        looks.append(1)
        return before if len(looks) == 1 else real(only)

    world.store.unfinished = stale_once  # type: ignore[method-assign]
    result = engine.wait_idle(timeout=5)

    assert ({"a.fit": "uploaded"}, "done") == (world.states(), result.status)
