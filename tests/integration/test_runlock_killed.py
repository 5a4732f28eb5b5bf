"""Tests for stravasync.state.runlock with a real child process: a killed daemon holds nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from processes import stop

from stravasync.state.runlock import lock_holder


def test_a_killed_daemon_holds_nothing(tmp_path: Path) -> None:
    """A daemon killed with SIGKILL leaves its files, but no holder: status says not running."""
    script = ("import sys, time\nfrom pathlib import Path\nfrom stravasync.state.runlock import "
              "DaemonLock\nDaemonLock(Path(sys.argv[1])).acquire()\nprint('held', flush=True)\n"
              "time.sleep(60)\n")  # holds the lock until the test kills it
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert "held" == proc.stdout.readline().strip()
        assert proc.pid == lock_holder(tmp_path)
    finally:
        stop(proc, signal.SIGKILL)
    assert lock_holder(tmp_path) is None
    assert str(proc.pid) == (tmp_path / "daemon.lock").read_text()
