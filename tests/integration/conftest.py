"""Fixtures shared by the integration tests (the rigs themselves live in ``tests/``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from nobody import nobody_folder


@pytest.fixture
def nobody_dir() -> Iterator[Path]:
    """A folder owned by the unprivileged user 65534 (skipped without root and setpriv)."""
    with nobody_folder() as folder:
        yield folder
