"""An idle daemon sleeps: it wakes for news (a `retry`, a finished upload), not on a 2 s clock."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from daemon_rig import Rig, make_rig, wait_until
from processes import stop

from stravasync.demo.samples import sample_fit
from stravasync.state.runlock import read_info

pytestmark = pytest.mark.integration

IDLE_WINDOW_S = 20.0
"""How long the idle daemon's wake-ups are counted (a measurement window, not a wait)."""
MAX_WAKEUPS_PER_MINUTE = 60
"""0.2 woke 110-155 times a minute (its 2-second job); a bare watchdog observer about 32."""


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """An emulator and a signed-in rig in tmp_path."""
    with make_rig(tmp_path) as r:
        yield r


def wakeups(pid: int) -> int:
    """Voluntary context switches of every thread of ``pid``: how often it woke."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except OSError:
            continue  # a thread that just ended
        for line in status.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                total += int(line.split()[1])
    return total


def started(rig: Rig) -> subprocess.Popen[str]:
    """``stravasync run`` as the service runs it, once it has written daemon.json."""
    proc = rig.start(stderr=subprocess.DEVNULL)

    def announced() -> bool:
        info = read_info(rig.state_dir)
        return info is not None and info.get("pid") == proc.pid

    wait_until(announced, 20, "the daemon announces itself")
    return proc


def cpu_ticks(pid: int) -> int:
    """User and system CPU ticks of ``pid`` so far (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def settled(pid: int) -> None:
    """Wait until start-up is over: no CPU used for a whole second (at most 20 s).

    On a loaded machine the daemon's start (imports, the first scan, its first calls)
    can run into the measurement window, and its threads then wake for the GIL.
    """
    deadline = time.monotonic() + 20
    last = cpu_ticks(pid)
    while time.monotonic() < deadline:
        time.sleep(1.0)  # the quiet second being measured
        now = cpu_ticks(pid)
        if now == last:
            return
        last = now


def test_an_idle_daemon_process_hardly_wakes(rig: Rig) -> None:
    """With nothing to do, the real daemon wakes far less than 0.2's every-2-seconds job made it."""
    proc = started(rig)
    try:
        wait_until(lambda: rig.files() == {}, 10, "the first scan")
        settled(proc.pid)
        before, began = wakeups(proc.pid), time.monotonic()
        time.sleep(IDLE_WINDOW_S)  # the measurement window itself
        per_minute = (wakeups(proc.pid) - before) * 60 / (time.monotonic() - began)
    finally:
        stop(proc)
    assert per_minute < MAX_WAKEUPS_PER_MINUTE


def test_retry_wakes_the_daemon_process_at_once(rig: Rig) -> None:
    """`retry FILE` signals the running daemon: the file is read again within seconds."""
    rig.write_config(max_age_days=5)
    old = rig.watch / "old.fit"
    old.write_bytes(sample_fit(start=datetime.now(UTC) - timedelta(days=10)))
    proc = started(rig)
    try:
        wait_until(lambda: rig.files() == {str(old): "skipped"}, 15, "skipped as too old")
    finally:
        stop(proc)
    rig.write_config(max_age_days=30)
    proc = started(rig)
    try:
        result = rig.command("retry", str(old))
        took = wait_until(lambda: rig.files() == {str(old): "uploaded"}, 30, "the retried file")
        info = read_info(rig.state_dir)
    finally:
        stop(proc)
    assert 0 == result.returncode, result.stderr
    assert "SIGUSR1" == (info or {}).get("wake_signal")
    assert took < 10
    assert "no daemon is running" not in result.stdout
