"""A fresh GPX/TCX waits a moment for a richer copy; a FIT never waits (issue 18.15)."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_rig import World, workout_file

from stravasync.intake.ingest import default_validator, ingest_path
from stravasync.state.dedupe import SAME_WORKOUT_TOLERANCE_S, SIBLING_HOLD_S


@pytest.fixture
def world(tmp_path: Path) -> World:
    """Emulator, manual clock and store."""
    return World(tmp_path)


def next_attempt(world: World, path: Path) -> float | None:
    """When the fresh workout at ``path`` may first be sent (None: at once)."""
    read = ingest_path(str(path), store=world.store, validator=default_validator,
                       now=world.clock(), max_age_days=0,
                       tolerance_s=SAME_WORKOUT_TOLERANCE_S, hold_s=SIBLING_HOLD_S)
    assert read.submitted.sha256 is not None
    workout = world.store.workout(read.submitted.sha256)
    assert workout is not None
    return workout.next_attempt_at


@pytest.mark.parametrize(("fmt", "held"), [("gpx", True), ("tcx", True), ("fit", False)])
def test_only_a_copy_a_richer_one_could_replace_waits(world: World, fmt: str, held: bool) -> None:
    """GPX and TCX wait SIBLING_HOLD_S before their first POST; a lone FIT goes at once."""
    path = workout_file(world.watch, f"ride.{fmt}", start=world.start(), fmt=fmt)
    expected = world.clock() + SIBLING_HOLD_S if held else None
    assert expected == next_attempt(world, path)
