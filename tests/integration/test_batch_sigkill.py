"""Issue 14 on a real daemon: one killed with SIGKILL while its first list call is being
answered leaves `run --once` one activity per workout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from daemon_rig import seed_tokens, write_daemon_config
from emulator_rig import serving
from processes import stop

from stravasync.demo.samples import sample_fit
from stravasync.emulator import Emulator, Knobs
from stravasync.state import State, Store

READ_ALL = "read,activity:write,activity:read_all"


# -- a real daemon, SIGKILLed while its first list call is answered ----------------------


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_sigkill_between_the_list_call_and_its_recording(tmp_path: Path) -> None:
    """A daemon killed while its list call is answered leaves `run --once` one activity per workout."""
    victim: dict[str, subprocess.Popen[str]] = {}
    killed: list[str] = []

    def on_request(entry: Any) -> None:
        proc = victim.get("daemon")
        if proc is not None and not killed and str(entry["path"]).endswith("/athlete/activities"):
            proc.send_signal(signal.SIGKILL)  # before the answer leaves the emulator
            killed.append(entry["path"])

    knobs = Knobs(processing_min_s=0.2, processing_max_s=1.0, private_share=0.25)
    with serving(seed=4, on_request=on_request, knobs=knobs) as strava:
        config = _write_config(tmp_path, strava)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
        for i in range(6):
            (tmp_path / "watch" / f"w{i}.fit").write_bytes(
                sample_fit(start=start + timedelta(hours=i)))
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "HOME": str(tmp_path)}
        cmd = [sys.executable, "-m", "stravasync", "--config", str(config), "run"]
        victim["daemon"] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                            text=True, env=env)
        ended = stop(victim["daemon"], None, timeout=40)  # killed from on_request
        assert killed
        assert -signal.SIGKILL == ended
        once = subprocess.run([*cmd, "--once"], capture_output=True, text=True, env=env,
                              timeout=60, check=False)
        assert 0 == once.returncode, once.stderr[-2000:]
        seen = strava.inspect(requests=False)
        assert 6 == len(seen["uploads"]) == len(seen["activities"])
        assert 6 == len({a["sha256"] for a in seen["activities"]})
        store = Store.open(tmp_path / "state", read_only=True)
        try:
            assert {State.UPLOADED} == {f.state for f in store.files()}
        finally:
            store.close()


def _write_config(tmp_path: Path, strava: Emulator) -> Path:
    (tmp_path / "watch").mkdir()
    config = write_daemon_config(tmp_path / "config.toml", strava,
                                 paths=[str(tmp_path / "watch")], state_dir=tmp_path / "state")
    seed_tokens(strava, tmp_path / "state", scope=READ_ALL)
    return config
