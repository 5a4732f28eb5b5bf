"""Tests for `stravasync demo`: the whole pipeline in one command, in under 30 s."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_demo_ends_every_file_as_expected_and_cleans_up(tmp_path: Path) -> None:
    """`stravasync demo` exits 0 within 30 s, shows the table, and leaves no temp folder."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    began = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "stravasync", "demo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    elapsed = time.monotonic() - began
    assert 0 == proc.returncode, proc.stdout + proc.stderr
    assert elapsed < 30
    assert "Files: 6 (3 uploaded, 1 duplicate, 1 invalid, 1 skipped)" in proc.stdout
    assert "every file ended as expected" in proc.stdout
    assert "upload_done" in proc.stderr  # the log is shown as it happens
    assert [] == list(tmp_path.iterdir())  # everything cleaned up
