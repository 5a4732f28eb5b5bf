"""Issue 12 on a real daemon: one killed with SIGKILL while its updates fail leaves
``run --once`` to apply exactly one PUT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from daemon_rig import seed_tokens, wait_for_event, write_daemon_config
from emulator_rig import serving
from engine_rig import World, workout_file
from processes import reaped, stop

from stravasync.demo.samples import sample_fit
from stravasync.emulator import Emulator, Knobs
from stravasync.state import State, Store


def files(world: World, names: list[str]) -> list[Path]:
    return [workout_file(world.watch, name, start=world.start(hours=i), sport="ride")
            for i, name in enumerate(names)]


# -- a real daemon, SIGKILLed while its updates fail -------------------------------------


@pytest.fixture
def strava() -> Iterator[Emulator]:
    """A running emulator whose activity PUTs all fail (5xx)."""
    knobs = Knobs(processing_min_s=0.2, processing_max_s=0.6, update_5xx_share=1.0)
    with serving(seed=3, knobs=knobs) as emulator:
        yield emulator


def write_config(tmp_path: Path, strava: Emulator) -> Path:
    (tmp_path / "watch").mkdir()
    config = write_daemon_config(
        tmp_path / "config.toml", strava, paths=[str(tmp_path / "watch")],
        state_dir=tmp_path / "state",
        extra='[[rules]]\nglob = "*.fit"\n[rules.set]\nsport_type = "VirtualRide"\n'
              "hide_from_home = true\n")
    seed_tokens(strava, tmp_path / "state")
    return config


def stravasync(config: Path, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "stravasync", "--config", str(config), "run", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "HOME": str(tmp_path)})


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_sigkill_while_updates_fail_then_run_once_applies_one_put(
    tmp_path: Path, strava: Emulator
) -> None:
    """Killed while every PUT fails, the daemon's `run --once` then applies one PUT per activity and waits for it."""
    config = write_config(tmp_path, strava)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    for i in range(2):
        (tmp_path / "watch" / f"w{i}.fit").write_bytes(sample_fit(start=start + timedelta(hours=i)))
    daemon = stravasync(config, tmp_path)
    try:
        wait_for_event(daemon, "activity_update_failed")
    finally:
        stop(daemon, signal.SIGKILL)
    strava.set_knobs(update_5xx_share=0.0)
    once = stravasync(config, tmp_path, "--once")
    with reaped(once):
        _out, err = once.communicate(timeout=60)
    assert 0 == once.returncode, err[-2000:]
    seen = strava.inspect(requests=False)
    assert 2 == len(seen["uploads"])
    for activity in seen["activities"]:
        assert 1 == sum(u["applied"] for u in activity["updates"])
        assert "VirtualRide" == activity["sport_type"]
    failed = [u for a in seen["activities"] for u in a["updates"] if not u["applied"]]
    assert failed
    assert all(u["status"] >= 500 for u in failed)
    store = Store.open(tmp_path / "state", read_only=True)
    try:
        assert {State.UPLOADED} == {f.state for f in store.files()}
    finally:
        store.close()
