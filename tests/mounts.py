"""A small real file system for the tests that fill a disk (root and mount(2) needed)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["small_tmpfs"]


@contextlib.contextmanager
def small_tmpfs(point: Path, *, size: str = "256k") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``point`` (made), unmounted on leaving.

    Skips, saying why, where it cannot be had (not root, no mount permission).
    Unmounted lazily: a connection the test left open must not keep it mounted.
    """
    point.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "--lazy", str(point)], check=False)
