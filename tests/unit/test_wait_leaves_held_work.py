"""``wait_idle(leave_held=True)`` (``run --once``) does not wait on workouts another live process holds."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from engine_rig import FAST, World, workout_file


@pytest.fixture
def world(tmp_path: Path) -> World:
    """Emulator with processing inside the default estimate; any wait at all defers (the
    manual clock moves only when the test moves it)."""
    return World(tmp_path, knobs={"processing_min_s": 0.5, "processing_max_s": 2.0},
                 timing=replace(FAST, short_wait_s=0.0))


def held_by_a_live_process(world: World, name: str) -> tuple[str, str]:
    """A workout claimed for its POST by our parent process (alive, not us): its path and owner tag."""
    path = workout_file(world.watch, name, start=world.start())
    sha = world.engine().submit(path).sha256
    assert sha is not None
    holder = f"{os.uname().nodename}:{os.getppid()}"  # as owners tags a process
    assert world.store.claim_post(sha, owner=holder, external_id="theirs") is not None
    return os.path.realpath(path), holder


def test_work_held_by_another_live_process_is_left_to_it(world: World) -> None:
    """Only a held workout left: ``deferred`` at once, naming it and its holder; nothing sent."""
    path, holder = held_by_a_live_process(world, "held.fit")
    result = world.engine().wait_idle(timeout=30.0, leave_held=True)
    assert ("deferred", {path: holder}, 0) == (result.status, result.held, world.api_calls())


def test_free_work_is_done_before_the_held_is_left(world: World) -> None:
    """A free workout beside a held one is uploaded; the held one is left, still queued for its holder."""
    path, holder = held_by_a_live_process(world, "held.fit")
    free = workout_file(world.watch, "free.fit", start=world.start(hours=3))
    engine = world.engine()
    engine.submit(free)
    result = engine.wait_idle(leave_held=True)
    for _ in range(100):  # the manual clock moves only when told: on to each due time
        if result.next_due is None:
            break
        world.clock.set(result.next_due)
        result = engine.wait_idle(leave_held=True)
    assert ("deferred", {path: holder}) == (result.status, result.held)
    assert {"free.fit": "uploaded", "held.fit": "uploading"} == world.states()


def test_without_leave_held_the_wait_goes_on(tmp_path: Path) -> None:
    """``upload`` waits for another process's work on its files: without ``leave_held`` the wait runs to its timeout."""
    world = World(tmp_path, knobs={"processing_min_s": 0.5, "processing_max_s": 2.0})
    held_by_a_live_process(world, "held.fit")
    assert "timeout" == world.engine().wait_idle(timeout=0.5).status
