"""Stopping the child processes tests start, so that no later test inherits one.

Every test that starts a daemon, a ``run --once`` or a stand-in child ends it through
:func:`stop`. (No tests here.)
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Iterator
from typing import Any


def stop(proc: subprocess.Popen[Any], signum: int | None = signal.SIGTERM, *,
         timeout: float = 10.0) -> int:
    """Send ``signum`` (None: none, it ends by itself), reap ``proc``; its exit status.

    The process gets ``timeout`` seconds to exit while its pipes are drained (a daemon
    blocked on a full stderr pipe would never exit). One that does not is killed and
    reaped, and ``subprocess.TimeoutExpired`` is raised: a hang is a failure. A status
    below 0 names the signal that ended it. Stopping a stopped process is harmless.
    """
    if proc.returncode is not None and all(
            pipe is None or pipe.closed for pipe in (proc.stdin, proc.stdout, proc.stderr)):
        return proc.returncode
    if signum is not None and proc.poll() is None:
        proc.send_signal(signum)
    try:
        proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return proc.returncode


@contextlib.contextmanager
def reaped(*procs: subprocess.Popen[Any]) -> Iterator[None]:
    """Kill and reap each of ``procs`` still running on leaving, however the test went."""
    try:
        yield
    finally:
        for proc in procs:
            stop(proc, signal.SIGKILL)
