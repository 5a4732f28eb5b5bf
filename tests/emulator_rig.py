"""The Strava emulator served on 127.0.0.1 (port 0) for integration tests.

Every integration test that talks HTTP to the emulator starts it here: :func:`serving`
for a test or rig with its own settings, or the fixtures ``clock``, ``strava`` and
``http`` (offered to every integration test by ``integration/conftest.py``; a module
overrides ``clock`` for another start time). Unit tests use no server: ``engine_rig``
puts the emulator's state behind ``httpx.MockTransport``. (No tests here.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from stravasync.emulator import Emulator, EmulatorConfig, Knobs, ManualClock

START = 1_700_000_100.0 + 300
"""Where the ``clock`` fixture starts: five minutes into a 15-minute window."""


@contextlib.contextmanager
def serving(**config: Any) -> Iterator[Emulator]:
    """The emulator on 127.0.0.1, port 0, with these ``EmulatorConfig`` fields; stopped after."""
    with Emulator(EmulatorConfig(**config)) as emulator:
        yield emulator


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    """The Authorization header for ``tokens``."""
    return {"Authorization": f"Bearer {tokens['access_token']}"}


@pytest.fixture
def clock() -> ManualClock:
    """A clock the test moves by hand."""
    return ManualClock(START)


@pytest.fixture
def strava(clock: ManualClock) -> Iterator[Emulator]:
    """A running emulator with 1-2 s processing on the manual clock."""
    knobs = Knobs(processing_min_s=1.0, processing_max_s=2.0)
    with serving(seed=7, clock=clock, knobs=knobs) as emulator:
        yield emulator


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """A plain httpx client that follows no redirects."""
    with httpx.Client(timeout=10.0) as client:
        yield client
