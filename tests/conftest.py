"""Shared fixtures: every test runs with a throwaway HOME and no stravasync environment.

The tests live in ``unit/`` (no processes, no sockets beyond ``httpx.MockTransport``)
and ``integration/`` (the real daemon, the emulator on loopback, mounts, other users).
The rigs they share (``engine_rig``, ``daemon_rig``, ``fixtures``, ``nobody`` …) sit here
in ``tests/``, which is put on ``sys.path`` below so both folders import them by name;
test modules never import each other.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

REPO = Path(__file__).resolve().parents[1]
CORPUS = (REPO / ".." / "shared" / "corpus").resolve()

RIGS = str(Path(__file__).parent)
if RIGS not in sys.path:
    sys.path.insert(0, RIGS)

from notices_rig import make_notices  # noqa: E402, F401 - a fixture for the notices tests


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point HOME and the XDG folders at a temporary folder, never the real home."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_CACHE_HOME", ".cache"),
    ):
        monkeypatch.setenv(var, str(home / sub))
    for var in ("STRAVASYNC_CONFIG", "STRAVASYNC_CLIENT_SECRET", "NOTIFY_SOCKET", "WATCHDOG_USEC"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    """Leave structlog as each test found it (some tests configure real output)."""
    yield
    structlog.reset_defaults()


@pytest.fixture
def corpus() -> Path:
    """The shared corpus of real workout files; the test is skipped where it is absent."""
    if not (CORPUS / "MANIFEST.tsv").is_file():
        pytest.skip(f"the shared corpus is not at {CORPUS} (it is not redistributed with the repo)")
    return CORPUS
