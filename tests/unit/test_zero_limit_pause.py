"""Issue 10, the rate-limit finding: an absurd ``X-RateLimit-Limit: 0,0`` header never pauses
uploads past the next quarter-hour."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from stravasync.strava.governor import Governor

"""How status shows that name: the byte escaped."""


def test_a_zero_limit_never_pauses_past_the_next_quarter_hour(tmp_path: Path) -> None:
    """Even with usage recorded, 0,0 pauses uploads at most until the next quarter-hour."""
    now = datetime(2026, 3, 1, 10, 7, 30, tzinfo=UTC).timestamp()
    governor = Governor(state_file=tmp_path / "ratelimit.json", clock=lambda: now)
    governor.observe({"X-RateLimit-Limit": "200,2000", "X-RateLimit-Usage": "5,50"})
    governor.observe({"X-RateLimit-Limit": "0,0", "X-RateLimit-Usage": "6,51"})
    pause = governor.active_pause("upload")
    quarter = datetime(2026, 3, 1, 10, 15, tzinfo=UTC).timestamp()
    assert pause is None or pause.until <= quarter
    restarted = Governor(state_file=tmp_path / "ratelimit.json", clock=lambda: now)
    assert restarted.snapshot()["limit_15"] == 200
