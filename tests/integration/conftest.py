"""Fixtures shared by the integration tests (the rigs themselves live in ``tests/``).

``clock``, ``strava`` and ``http`` come from ``emulator_rig`` (the emulator on
loopback); ``nobody_dir`` is a folder owned by the unprivileged user.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from emulator_rig import clock, http, strava  # noqa: F401 - fixtures for every integration test
from nobody import nobody_folder


@pytest.fixture
def nobody_dir() -> Iterator[Path]:
    """A folder owned by the unprivileged user 65534 (skipped without root and setpriv)."""
    with nobody_folder() as folder:
        yield folder
