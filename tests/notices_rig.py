"""Notices built for a test and closed after it (the ``make_notices`` fixture)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stravasync.owner.notices import Notices

__all__ = ["SETTLE", "make_notices"]

SETTLE = 20.0
"""Seconds a test lets the sender thread finish what it was given."""


@pytest.fixture
def make_notices(tmp_path: Path) -> Iterator[Callable[..., Notices]]:
    """Builds Notices on tmp_path/state/notices.json by default, closed after the test."""
    made: list[Notices] = []

    def make(**kwargs: object) -> Notices:
        kwargs.setdefault("url", None)
        kwargs.setdefault("command", ())
        kwargs.setdefault("on", {"problem", "recovered", "uploaded"})
        kwargs.setdefault("state_path", tmp_path / "state" / "notices.json")
        kwargs.setdefault("window_s", 0.0)  # pacing has its own tests (test_notice_pacing)
        notices = Notices(**kwargs)  # type: ignore[arg-type]
        made.append(notices)
        return notices

    yield make
    for notices in made:
        notices.close(SETTLE)
