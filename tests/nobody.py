"""Running things as the unprivileged user 65534, where permission problems show.

Root reads everything, so a test that proves what an ordinary user meets runs the
check as ``nobody`` through ``setpriv`` in a folder outside root's private pytest
folders. Tests skip where there is no root or no setpriv. (No tests here.)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOBODY = 65534


def as_user(user: int | None) -> list[str]:
    """The setpriv prefix that runs a command as ``user`` (nothing for None)."""
    if user is None:
        return []
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]


def _need_setpriv(what: str) -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip(f"needs root and setpriv to {what}")


def _open_up_and_remove(folder: Path) -> None:
    for top, dirs, _files in os.walk(folder):
        for d in dirs:
            os.chmod(os.path.join(top, d), 0o755)
    shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def nobody_root() -> Iterator[Path]:
    """A folder (root's, mode 755) outside root's private pytest folders."""
    _need_setpriv("run as an unprivileged user")
    folder = Path(tempfile.mkdtemp(prefix="stravasync-rig-", dir="/tmp"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        _open_up_and_remove(folder)


@contextlib.contextmanager
def nobody_folder() -> Iterator[Path]:
    """A folder the unprivileged user owns, outside root's private pytest folders."""
    _need_setpriv("run a check as an unprivileged user")
    folder = Path(tempfile.mkdtemp(prefix="stravasync-nobody-", dir="/tmp"))
    os.chown(folder, NOBODY, NOBODY)
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        _open_up_and_remove(folder)


def give_to_nobody(*paths: Path) -> None:
    """``chown -R 65534:65534`` each path."""
    for path in paths:
        os.chown(path, NOBODY, NOBODY)
        for top, dirs, files in os.walk(path):
            for name in (*dirs, *files):
                os.chown(os.path.join(top, name), NOBODY, NOBODY, follow_symlinks=False)


def run_as_nobody(script: str, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with our interpreter as uid/gid 65534 (root reads everything)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [*as_user(NOBODY), sys.executable, "-c", script, *args],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )
