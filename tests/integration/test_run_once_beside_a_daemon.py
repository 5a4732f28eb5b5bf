"""Issue 18 finding 3: ``run --once`` beside a running daemon never waits silently on its files.

A daemon holding this state folder already uploads what the watched folders hold; a
``run --once`` beside it refuses at once, naming the daemon, as a second ``run`` does,
whether that daemon works, is stopped (SIGSTOP) with files claimed, or is paused by
the rate limit. Each run is bounded: on the code before the fix it hung.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from daemon_rig import Rig, make_rig, wait_until

from stravasync.demo.samples import sample_fit
from stravasync.errors import StateError
from stravasync.state import Store

pytestmark = pytest.mark.integration

ONCE_TIMEOUT_S = 20.0
"""Far longer than a refusal takes; on the code before the fix ``run --once`` never ended."""


def put(folder: Path, name: str, hours_ago: int) -> Path:
    """Write a distinct valid FIT workout the way copy tools do (then rename)."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1, hours=hours_ago)
    part = folder / (name + ".part")
    part.write_bytes(sample_fit(start=start))
    return part.rename(folder / name)


def claimed_by_another(rig: Rig) -> bool:
    """Whether some workout is sent and held (claimed) by a process."""
    store = Store.open(rig.state_dir, read_only=True)
    try:
        return any(w.owner is not None and w.upload_id is not None for w in store.unfinished())
    except StateError:  # busy: look again
        return False
    finally:
        store.close()


@contextlib.contextmanager
def daemon_beside(root: Path, **knobs: Any) -> Iterator[tuple[Rig, subprocess.Popen[str]]]:
    """A rig (with emulator ``knobs``) and its daemon, run as the service runs it."""
    with make_rig(root, **knobs) as rig, open(root / "daemon.log", "w") as log:
        proc = rig.start(stderr=log)
        try:
            yield rig, proc
        finally:
            stop(proc)


def stop(proc: subprocess.Popen[str]) -> None:
    """Continue the daemon if it was stopped, then end it with SIGTERM (SIGKILL if it hangs).

    SIGTERM is sent only once the process runs again: sent while its threads still
    resume, the kernel may hand it to a thread other than the one that waits for it.
    """
    os.kill(proc.pid, signal.SIGCONT)
    wait_until(lambda: not stopped(proc.pid), 10, "the daemon continued")
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def stopped(pid: int) -> bool:
    """Whether process ``pid`` is stopped (state ``T`` in /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] in "Tt"


def run_once(rig: Rig) -> subprocess.CompletedProcess[str]:
    """``stravasync run --once`` beside the daemon, bounded."""
    return rig.command("run", "--once", timeout=ONCE_TIMEOUT_S)


def test_run_once_beside_a_stopped_daemon_refuses_naming_it(tmp_path: Path) -> None:
    """A daemon stopped (SIGSTOP) with a file claimed: ``run --once`` exits 1 at once, naming its pid."""
    with daemon_beside(tmp_path, processing_min_s=60.0, processing_max_s=60.0) as (rig, proc):
        put(rig.watch, "ride.fit", 1)
        wait_until(lambda: claimed_by_another(rig), 20, "the daemon claimed the file")
        os.kill(proc.pid, signal.SIGSTOP)
        result = run_once(rig)
    assert 1 == result.returncode, result.stderr
    assert f"pid {proc.pid}" in result.stderr
    assert "stravasync status" in result.stderr


def test_run_once_beside_a_daemon_paused_by_the_rate_limit_refuses_naming_it(
    tmp_path: Path,
) -> None:
    """A daemon paused by the rate limit with files claimed: ``run --once`` exits 1 at once, naming it."""
    with daemon_beside(tmp_path, read_limit_15=1, processing_min_s=5.0,
                       processing_max_s=5.0) as (rig, proc):
        put(rig.watch, "ride.fit", 1)
        put(rig.watch, "run.fit", 2)
        wait_until(lambda: claimed_by_another(rig), 20, "the daemon claimed a file")
        wait_until(lambda: read_budget_spent(rig), 20, "the daemon is paused by the rate limit")
        result = run_once(rig)
    assert 1 == result.returncode, result.stderr
    assert f"pid {proc.pid}" in result.stderr


def read_budget_spent(rig: Rig) -> bool:
    """Whether ``status --json`` shows the 15-minute read budget spent (polls pause)."""
    limits = json.loads(rig.command("status", "--json").stdout)["rate_limit"]
    return bool(limits["read_usage_15"]) and limits["read_usage_15"] >= limits["read_limit_15"]
