"""Crash the engine between every write and its effect, resume, and count activities.

The process "dies" (a BaseException) before each request goes out and after each
answer came back but before the engine recorded it, and between recording the
activity id and archiving the file. A new engine on a reopened store must then
finish the job: every workout on Strava exactly once, no file lost, none re-sent
once its upload id is known.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from engine_rig import Crash, World, workout_file

from stravasync.demo.samples import sample_broken
from stravasync.state import State, Store
from stravasync.upload import outcomes as outcomes_module
from stravasync.upload.archive import carry_out_after


class CrashAt:
    """Raises Crash at the n-th request hook (before sending / after answering)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.count = 0
        self.armed = True

    def hit(self) -> None:
        if not self.armed:
            return
        self.count += 1
        if self.count == self.n:
            self.armed = False
            raise Crash(f"died at step {self.n}")

    def before(self, request: httpx.Request) -> None:
        if "/api/" in request.url.path:
            self.hit()

    def after(self, request: httpx.Request, _response: httpx.Response) -> None:
        if "/api/" in request.url.path:
            self.hit()


def scenario(tmp_path: Path, *, n: int, after: str = "keep") -> tuple[World, bool]:
    """Three workouts, a copy and a bad file; crash at step n, then resume; crashed?"""
    crash = CrashAt(n)
    overrides = {"upload": {"after": after, "archive_dir": str(tmp_path / "archive"),
                            "delete_outside_home": True}}
    world = World(tmp_path, before=crash.before, after=crash.after,
                  config_overrides=overrides if after != "keep" else {})
    paths = [workout_file(world.watch, f"w{i}.fit", start=world.start(hours=i)) for i in range(3)]
    copy = world.watch / "copy-of-w0.fit"
    copy.write_bytes(paths[0].read_bytes())
    bad = world.watch / "bad.fit"
    bad.write_bytes(sample_broken())
    first = world.engine()
    crashed = False
    try:
        first.scan([*paths, copy, bad])
        world.drive(first)
    except Crash:
        crashed = True
    restarted = world.engine(store=Store.open(world.state_dir, clock=world.clock))
    restarted.scan(sorted(p for p in world.watch.rglob("*") if p.is_file()))
    world.drive(restarted)
    return world, crashed


def check(world: World) -> None:
    """Each distinct good workout is exactly one live activity; the bad file was never sent."""
    activities = world.activities()
    shas = [a["sha256"] for a in activities]
    assert 3 == len(activities)
    assert len(set(shas)) == len(shas)
    workouts = {w.sha256: w for w in world.store.workouts()}
    uploaded = [w for w in workouts.values() if w.state is State.UPLOADED]
    assert 3 == len(uploaded)
    assert {a["id"] for a in activities} == {w.activity_id for w in uploaded}
    assert {"invalid"} == {f.state.value for f in world.store.files() if "bad" in f.path}
    sent = {u["sha256"] for u in world.emulator.inspect(requests=False)["uploads"]}
    assert sent <= set(workouts)


def test_a_crash_at_any_request_step_loses_nothing_and_sends_nothing_twice(
    tmp_path: Path,
) -> None:
    """Every crash point between a write and its effect is survived."""
    n = 1
    while True:
        world, crashed = scenario(tmp_path / f"n{n}", n=n)
        check(world)
        if not crashed:
            break
        n += 1
    assert n > 10  # every POST and poll, before and after, was a crash point


def test_an_upload_id_once_stored_is_never_posted_again(tmp_path: Path) -> None:
    """Crash right after the upload id is stored: the restart polls, it does not re-send."""
    world, crashed = scenario(tmp_path, n=3)  # before the first poll's request
    assert crashed
    posts = [r for r in world.emulator.inspect()["requests"] if r["method"] == "POST"
             and r["path"].endswith("/uploads")]
    assert 3 == len(posts)


@pytest.mark.parametrize("after", ["move", "delete"])
def test_a_crash_between_recording_and_archiving_is_finished_on_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, after: str
) -> None:
    """The activity id is recorded first; the interrupted move/delete is done after restart."""
    calls = {"n": 0}

    def dying_after(*args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise Crash("died before archiving")
        carry_out_after(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(outcomes_module, "carry_out_after", dying_after)
    world, crashed = scenario(tmp_path, n=10_000, after=after)
    assert crashed  # at the archive step (the request hooks never reach step 10000)
    check(world)
    assert [] == sorted(p.name for p in world.watch.glob("w*.fit"))
    archived = sorted(p.name for p in (tmp_path / "archive").glob("*.fit"))
    expected = ["copy-of-w0.fit", "w0.fit", "w1.fit", "w2.fit"] if after == "move" else []
    assert expected == archived
