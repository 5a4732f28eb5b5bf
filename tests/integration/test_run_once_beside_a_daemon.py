"""Issue 18 finding 3: ``run --once`` beside a daemon never waits silently on the daemon's files.

Files the daemon has claimed are the daemon's to finish, even when it is stopped
(SIGSTOP) or paused by the rate limit: ``run --once`` leaves them to it, says so
(naming the daemon's pid and the files) and exits 75, as SPEC says for work left for
later; nothing is sent twice. Each run is bounded: on the code before the fix it hung.
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
from daemon_rig import Rig, json_lines, make_rig, wait_until

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


def test_run_once_beside_a_stopped_daemon_leaves_its_file_to_it(tmp_path: Path) -> None:
    """A daemon stopped (SIGSTOP) with a file claimed: ``run --once`` exits 75 at once, naming the daemon and the file."""
    with daemon_beside(tmp_path, processing_min_s=60.0, processing_max_s=60.0) as (rig, proc):
        ride = put(rig.watch, "ride.fit", 1)
        wait_until(lambda: claimed_by_another(rig), 20, "the daemon claimed the file")
        os.kill(proc.pid, signal.SIGSTOP)
        result = run_once(rig)
        uploads = rig.uploads()
    assert 75 == result.returncode, result.stderr
    assert ([proc.pid], proc.pid, [str(ride)]) == left_to(result)
    assert 1 == uploads


def test_run_once_beside_a_daemon_paused_by_the_rate_limit_leaves_its_files_to_it(
    tmp_path: Path,
) -> None:
    """A daemon paused by the rate limit with files claimed: ``run --once`` exits 75 at once, naming the daemon and the files."""
    with daemon_beside(tmp_path, read_limit_15=1, processing_min_s=5.0,
                       processing_max_s=5.0) as (rig, proc):
        ride, run = put(rig.watch, "ride.fit", 1), put(rig.watch, "run.fit", 2)
        wait_until(lambda: claimed_by_another(rig), 20, "the daemon claimed a file")
        wait_until(lambda: read_budget_spent(rig), 20, "the daemon is paused by the rate limit")
        result = run_once(rig)
        uploads = rig.uploads()
    assert 75 == result.returncode, result.stderr
    assert ([proc.pid], proc.pid, sorted([str(ride), str(run)])) == left_to(result)
    assert 2 == uploads


def left_to(result: subprocess.CompletedProcess[str]) -> tuple[list[int], int, list[str]]:
    """What ``run --once`` said it left to another process: its pids, the daemon's, the files."""
    said = [e for e in json_lines(result.stderr) if e["event"] == "run_left_to_holder"]
    assert 1 == len(said), result.stderr
    return said[0]["pids"], said[0]["daemon_pid"], said[0]["files"]


def read_budget_spent(rig: Rig) -> bool:
    """Whether ``status --json`` shows the 15-minute read budget spent (polls pause)."""
    limits = json.loads(rig.command("status", "--json").stdout)["rate_limit"]
    return bool(limits["read_usage_15"]) and limits["read_usage_15"] >= limits["read_limit_15"]
