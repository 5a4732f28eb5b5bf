"""Tests for a config problem met by ``python -m stravasync``: one line, exit 2."""

from __future__ import annotations

import os
from pathlib import Path


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_main_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    """The console script shows an expected failure as lines of text, no traceback."""
    import subprocess
    import sys

    path = write(tmp_path / "bad.toml", "[strava]\nclient_id = 'x'\n")
    proc = subprocess.run(
        [sys.executable, "-m", "stravasync", "--config", str(path), "config"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert 2 == proc.returncode
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("stravasync: Invalid configuration: 1 problem")
    assert "strava.client_id" in proc.stderr
