"""Tests for the rate-limit governor: pure decisions, header parsing, 429s and persistence."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from stravasync.strava.governor import (
    DEFAULT_LIMITS,
    PROBE_WAIT_S,
    Governor,
    Limits,
    Usage,
    decide_wait,
    effective_limits,
    next_quarter_hour,
    next_utc_midnight,
    parse_rate_headers,
)

# 2026-03-02 10:07:30 UTC: inside the 10:00-10:15 window.
T0 = 1_772_446_050.0
Q_NEXT = 1_772_446_500.0  # 10:15:00 UTC
MIDNIGHT = 1_772_496_000.0  # 2026-03-03 00:00:00 UTC


def headers(
    usage: tuple[int, int],
    read: tuple[int, int],
    *,
    limit: tuple[int, int] = (200, 2000),
    read_limit: tuple[int, int] = (100, 1000),
) -> dict[str, str]:
    """Strava-shaped rate-limit headers."""
    return {
        "X-RateLimit-Limit": f"{limit[0]},{limit[1]}",
        "X-RateLimit-Usage": f"{usage[0]},{usage[1]}",
        "X-ReadRateLimit-Limit": f"{read_limit[0]},{read_limit[1]}",
        "X-ReadRateLimit-Usage": f"{read[0]},{read[1]}",
    }


class Clock:
    """A settable clock."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_constants_are_utc_boundaries() -> None:
    """The test's own boundary constants are what the helpers compute."""
    assert Q_NEXT == next_quarter_hour(T0)
    assert MIDNIGHT == next_utc_midnight(T0)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (0.0, 900.0),
        (899.999, 900.0),
        (900.0, 1800.0),  # exactly on a boundary: the next one
        (T0, Q_NEXT),
    ],
)
def test_next_quarter_hour(now: float, expected: float) -> None:
    """Quarter-hour boundaries fall at :00, :15, :30, :45 UTC."""
    assert expected == next_quarter_hour(now)


def test_next_utc_midnight() -> None:
    """The daily window resets at midnight UTC."""
    assert 86400.0 == next_utc_midnight(0.0)
    assert 86400.0 == next_utc_midnight(86399.5)
    assert MIDNIGHT == next_utc_midnight(T0)


def test_parse_rate_headers_case_insensitive() -> None:
    """All four headers are parsed whatever their case."""
    parsed = parse_rate_headers({k.lower(): v for k, v in headers((32, 198), (20, 101)).items()})
    assert parsed is not None
    assert Limits(200, 2000, 100, 1000) == parsed.limits
    assert (32, 198, 20, 101) == (
        parsed.usage.usage_15,
        parsed.usage.usage_day,
        parsed.usage.read_usage_15,
        parsed.usage.read_usage_day,
    )


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"X-RateLimit-Limit": "200,2000"},
        {"X-RateLimit-Limit": "x,y", "X-RateLimit-Usage": "1,2"},
        {"X-RateLimit-Limit": "200", "X-RateLimit-Usage": "1,2"},
    ],
)
def test_parse_rate_headers_absent_or_garbled(bad: dict[str, str]) -> None:
    """Missing or garbled headers parse to None rather than to invented numbers."""
    assert parse_rate_headers(bad) is None


def test_parse_without_read_headers_takes_half_the_overall_limits() -> None:
    """Responses without read headers leave read limits at half the overall ones, as Strava's defaults are."""
    parsed = parse_rate_headers({"X-RateLimit-Limit": "600,30000", "X-RateLimit-Usage": "5,9"})
    assert parsed is not None
    assert Limits(600, 30000, 300, 15000) == parsed.limits


def test_missing_read_headers_stop_polls_at_half_the_overall_limit() -> None:
    """With only overall headers at Strava's defaults, the 101st poll of a window waits; uploads still go."""
    gov = Governor(state_file=None, clock=Clock())
    gov.observe({"X-RateLimit-Limit": "200,2000", "X-RateLimit-Usage": "0,0"})
    granted = [gov.acquire("read") for _ in range(101)]
    assert [None] * 100 + [Q_NEXT] == granted
    assert gov.decide("upload") is None


def test_unknown_limits_are_defaults_minus_margin() -> None:
    """Before any response we plan with less than Strava's documented defaults."""
    assumed = effective_limits(None)
    assert assumed.limit_15 < DEFAULT_LIMITS.limit_15
    assert assumed.read_limit_day < DEFAULT_LIMITS.read_limit_day
    assert DEFAULT_LIMITS == effective_limits(DEFAULT_LIMITS)


LIMITS = Limits(limit_15=200, limit_day=2000, read_limit_15=100, read_limit_day=1000)


def test_decide_go_when_room() -> None:
    """A call that fits in every window goes now."""
    usage = Usage(10, 10, 5, 5, at=T0)
    assert decide_wait(kind="read", usage=usage, limits=LIMITS, now=T0) is None
    assert decide_wait(kind="upload", usage=usage, limits=LIMITS, now=T0) is None


def test_read_limit_stops_reads_but_not_uploads() -> None:
    """A full read window stops polls until the quarter-hour; uploads count overall only."""
    usage = Usage(150, 500, 100, 400, at=T0)
    assert Q_NEXT == decide_wait(kind="read", usage=usage, limits=LIMITS, now=T0)
    assert decide_wait(kind="upload", usage=usage, limits=LIMITS, now=T0) is None


def test_overall_limit_stops_everything_until_quarter_hour() -> None:
    """A full overall 15-minute window stops uploads and reads alike."""
    usage = Usage(200, 500, 50, 400, at=T0)
    assert Q_NEXT == decide_wait(kind="upload", usage=usage, limits=LIMITS, now=T0)
    assert Q_NEXT == decide_wait(kind="read", usage=usage, limits=LIMITS, now=T0)


def test_daily_limit_waits_until_midnight() -> None:
    """A full daily window means nothing before midnight UTC, even with a fresh quarter."""
    usage = Usage(3, 2000, 0, 900, at=T0)
    assert MIDNIGHT == decide_wait(kind="upload", usage=usage, limits=LIMITS, now=T0)
    read_day_full = Usage(3, 1500, 0, 1000, at=T0)
    assert MIDNIGHT == decide_wait(kind="read", usage=read_day_full, limits=LIMITS, now=T0)
    assert decide_wait(kind="upload", usage=read_day_full, limits=LIMITS, now=T0) is None


def test_reserve_keeps_polls_available() -> None:
    """An upload waits if the polls of uploads already in flight would no longer fit."""
    usage = Usage(100, 100, 97, 97, at=T0)
    assert decide_wait(kind="upload", usage=usage, limits=LIMITS, now=T0, reserve=3) is None
    assert Q_NEXT == decide_wait(kind="upload", usage=usage, limits=LIMITS, now=T0, reserve=4)


def test_reserve_never_blocks_an_empty_window() -> None:
    """A reserve larger than a limit cannot stall forever: an empty window admits a call."""
    tiny = Limits(2, 10, 2, 10)
    assert decide_wait(kind="upload", usage=Usage(at=T0), limits=tiny, now=T0, reserve=50) is None


def test_usage_resets_when_window_passes() -> None:
    """Usage seen in a past quarter counts 0 in the next; the day keeps counting."""
    usage = Usage(200, 1500, 100, 900, at=T0)
    later = usage.as_of(Q_NEXT + 1)
    assert (0, 1500, 0, 900) == (
        later.usage_15,
        later.usage_day,
        later.read_usage_15,
        later.read_usage_day,
    )
    tomorrow = usage.as_of(MIDNIGHT + 1)
    assert (0, 0, 0, 0) == (
        tomorrow.usage_15,
        tomorrow.usage_day,
        tomorrow.read_usage_15,
        tomorrow.read_usage_day,
    )


def test_governor_predicts_from_headers() -> None:
    """After a response shows the window full, the next call is held back without a 429."""
    clock = Clock()
    gov = Governor(state_file=None, clock=clock)
    assert gov.decide("read") is None
    gov.observe(headers((200, 300), (80, 200)))
    assert Q_NEXT == gov.decide("read")
    assert Q_NEXT == gov.decide("upload")
    clock.now = Q_NEXT
    assert gov.decide("read") is None


def test_governor_counts_calls_in_flight() -> None:
    """Calls acquired but not yet answered count, so concurrent callers cannot overshoot."""
    gov = Governor(state_file=None, clock=Clock())
    gov.observe(headers((195, 300), (10, 20)))
    granted = [gov.acquire("upload") for _ in range(10)]
    assert [None] * 5 + [Q_NEXT] * 5 == granted
    # Answers arrive: the server's count replaces our estimate.
    for _ in range(5):
        gov.complete(headers((196, 301), (10, 20)))
    assert gov.decide("upload") is None


def test_unanswered_calls_still_count() -> None:
    """A call that got no answer (timeout) is counted: Strava may have seen it."""
    gov = Governor(state_file=None, clock=Clock())
    gov.observe(headers((199, 300), (10, 20)))
    assert gov.acquire("upload") is None
    gov.complete(None)
    assert Q_NEXT == gov.decide("upload")


def test_first_calls_are_paced_before_any_response() -> None:
    """With no headers ever seen (every call failed), calls stop at the assumed limit."""
    gov = Governor(state_file=None, clock=Clock())
    granted = 0
    for _ in range(300):
        if gov.acquire("read") is None:
            granted += 1
            gov.complete(None)  # e.g. a connection error: no headers learned
    assert effective_limits(None).read_limit_15 == granted


def test_one_probe_at_a_time_until_headers_arrive_in_a_window() -> None:
    """Until an answer's headers tell the real usage in this window, one call at a time."""
    clock = Clock()
    gov = Governor(state_file=None, clock=clock)
    assert gov.acquire("upload") is None
    assert T0 + PROBE_WAIT_S == gov.acquire("upload")  # the probe is still out
    gov.complete(headers((20, 30), (5, 10)))
    assert gov.acquire("upload") is None
    assert gov.acquire("upload") is None  # usage known: no more pacing
    gov.complete(None)
    gov.complete(None)
    clock.now = Q_NEXT + 1  # a new window: other clients may have used it already
    assert gov.acquire("read") is None
    assert Q_NEXT + 1 + PROBE_WAIT_S == gov.acquire("read")


def test_429_pauses_until_quarter_hour() -> None:
    """A 429 in the 15-minute window pauses calls until the next boundary."""
    clock = Clock()
    gov = Governor(state_file=None, clock=clock)
    gov.observe(headers((201, 300), (50, 100)))
    assert Q_NEXT == gov.observe_429(kind="upload")
    assert Q_NEXT == gov.decide("upload")
    assert Q_NEXT == gov.snapshot()["paused_until"]


def test_429_with_daily_usage_spent_pauses_until_midnight() -> None:
    """A 429 with the daily count used up pauses until midnight UTC."""
    gov = Governor(state_file=None, clock=Clock())
    gov.observe(headers((20, 2000), (10, 900)))
    assert MIDNIGHT == gov.observe_429(kind="upload")
    assert MIDNIGHT == gov.decide("read")


def test_429_on_read_limit_pauses_reads_only() -> None:
    """When only the read window ran out, uploads may still go."""
    gov = Governor(state_file=None, clock=Clock())
    gov.observe(headers((120, 300), (100, 200)))
    assert Q_NEXT == gov.observe_429(kind="read")
    assert Q_NEXT == gov.decide("read")
    assert gov.decide("upload") is None


def test_429_without_any_knowledge_pauses_until_quarter_hour() -> None:
    """A 429 before any header was seen pauses everything until the next quarter-hour."""
    gov = Governor(state_file=None, clock=Clock())
    assert Q_NEXT == gov.observe_429()
    assert Q_NEXT == gov.decide("upload")


def test_restart_keeps_usage_and_pause(tmp_path: Path) -> None:
    """A restarted governor remembers usage and pauses (no burst after a crash)."""
    state = tmp_path / "ratelimit.json"
    clock = Clock()
    gov = Governor(state_file=state, clock=clock)
    gov.observe(headers((200, 400), (10, 20)))
    assert 0o600 == os.stat(state).st_mode & 0o777
    again = Governor(state_file=state, clock=clock)
    assert Q_NEXT == again.decide("upload")
    gov.observe_429(kind="upload")
    clock.now += 60
    assert Q_NEXT == Governor(state_file=state, clock=clock).decide("read")


def test_restart_after_window_passed_goes(tmp_path: Path) -> None:
    """Persisted usage from a window that has passed no longer holds calls back."""
    state = tmp_path / "ratelimit.json"
    Governor(state_file=state, clock=Clock()).observe(headers((200, 400), (100, 120)))
    assert Governor(state_file=state, clock=Clock(Q_NEXT + 5)).decide("read") is None


def test_damaged_state_file_is_ignored(tmp_path: Path) -> None:
    """A garbled state file costs caution, not a crash."""
    state = tmp_path / "ratelimit.json"
    state.write_text("{not json")
    gov = Governor(state_file=state, clock=Clock())
    assert gov.decide("upload") is None


def test_dead_end_pause_is_persisted(tmp_path: Path) -> None:
    """A dead-end pause stops all calls and survives a restart."""
    state = tmp_path / "ratelimit.json"
    gov = Governor(state_file=state, clock=Clock())
    gov.pause(until=T0 + 3600, reason="app_inactive")
    again = Governor(state_file=state, clock=Clock())
    assert T0 + 3600 == again.decide("upload")
    pause = again.active_pause("read")
    assert pause is not None
    assert "app_inactive" == pause.reason
    again.clear_pauses()
    assert again.decide("upload") is None


def test_snapshot_has_spec_keys() -> None:
    """The snapshot is SPEC's rate_limit object."""
    gov = Governor(state_file=None, clock=Clock())
    gov.observe(headers((12, 40), (8, 30)))
    snap = gov.snapshot()
    expected = {
        "limit_15": 200,
        "usage_15": 12,
        "limit_day": 2000,
        "usage_day": 40,
        "read_limit_15": 100,
        "read_usage_15": 8,
        "read_limit_day": 1000,
        "read_usage_day": 30,
        "paused_until": None,
    }
    assert expected == {k: snap[k] for k in expected}
    assert json.dumps(snap)


def test_answers_arriving_out_of_order_never_lower_the_count() -> None:
    """Concurrent calls whose answers are processed late-first: the older headers cannot hide calls."""
    gov = Governor(state_file=None, clock=Clock())
    gov.observe(headers((0, 0), (0, 0), limit=(3, 2000)))
    assert [None, None, None] == [gov.acquire("upload") for _ in range(3)]
    # Strava counted the three calls as 1, 2, 3; their answers are handled 3, 2, 1.
    for count in (3, 2, 1):
        gov.complete(headers((count, count), (0, 0), limit=(3, 2000)))
    assert Q_NEXT == gov.decide("upload")
    assert 3 == gov.snapshot()["usage_15"]


def test_zero_limits_do_not_defer_uploads_to_midnight() -> None:
    """One answer with `X-RateLimit-Limit: 0,0` is ignored: uploads still go, today and after the quarter."""
    clock = Clock()
    gov = Governor(state_file=None, clock=clock)
    gov.observe(headers((12, 40), (8, 30)))
    with capture_logs() as logs:
        gov.observe(headers((13, 41), (8, 30), limit=(0, 0)))
    assert gov.decide("upload") is None
    assert gov.paused_until("upload") is None
    assert 200 == gov.snapshot()["limit_15"]
    assert ["warning"] == [e["log_level"] for e in logs if e["event"] == "rate_limit_header_ignored"]


def test_zero_limits_first_answer_fall_back_to_defaults() -> None:
    """With no good limits known yet, a zero limit leaves the governor on Strava's defaults."""
    gov = Governor(state_file=None, clock=Clock())
    gov.observe(headers((5, 5), (0, 0), limit=(0, 0), read_limit=(0, 0)))
    assert gov.decide("upload") is None
    assert gov.decide("read") is None
    assert DEFAULT_LIMITS.limit_15 == gov.snapshot()["limit_15"]


def test_absurd_header_is_warned_about_once_per_window() -> None:
    """Repeated nonsense in one window is one warning; the next window warns again."""
    clock = Clock()
    gov = Governor(state_file=None, clock=clock)
    with capture_logs() as logs:
        for _ in range(5):
            gov.observe(headers((1, 1), (0, 0), limit=(0, 0)))
        clock.now = Q_NEXT + 1
        gov.observe(headers((1, 2), (0, 0), limit=(0, 0)))
    assert 2 == sum(1 for e in logs if e["event"] == "rate_limit_header_ignored")


def test_limit_dropping_below_recorded_usage_is_ignored() -> None:
    """A limit that falls below the calls already counted in the window is not believed."""
    gov = Governor(state_file=None, clock=Clock())
    gov.observe(headers((150, 1500), (50, 500)))
    gov.observe(headers((151, 1501), (50, 500), limit=(100, 1000)))
    assert gov.decide("upload") is None
    assert 200 == gov.snapshot()["limit_15"]


def test_absurd_header_day_usage_pauses_no_longer_than_the_quarter() -> None:
    """An absurd answer can hold calls back until the quarter-hour at most, never until midnight."""
    clock = Clock()
    gov = Governor(state_file=None, clock=clock)
    gov.observe(headers((10, 100), (5, 50)))
    gov.observe(headers((500, 99999), (5, 50), limit=(0, 0)))
    assert Q_NEXT == gov.decide("upload")
    clock.now = Q_NEXT
    assert gov.decide("upload") is None


def test_lowered_limit_above_usage_is_trusted() -> None:
    """A limit lowered by Strava but still above the usage counted is real news."""
    gov = Governor(state_file=None, clock=Clock())
    gov.observe(headers((10, 100), (5, 50)))
    gov.observe(headers((11, 101), (5, 50), limit=(12, 2000)))
    assert 12 == gov.snapshot()["limit_15"]


def test_usage_over_an_unchanged_limit_is_trusted() -> None:
    """Usage 201 of 200 (calls over a limit still count) is normal, not absurd."""
    gov = Governor(state_file=None, clock=Clock())
    gov.observe(headers((200, 300), (10, 20)))
    gov.observe(headers((201, 301), (10, 20)))
    assert Q_NEXT == gov.decide("upload")


def test_persisted_zero_limits_are_discarded_at_start(tmp_path: Path) -> None:
    """A state file holding 0,0 limits and a midnight pause (older versions) no longer stops uploads past the quarter."""
    state = tmp_path / "ratelimit.json"
    state.write_text(json.dumps({
        "version": 1,
        "limits": {"limit_15": 0, "limit_day": 0, "read_limit_15": 0, "read_limit_day": 0},
        "usage": {"usage_15": 3, "usage_day": 9, "read_usage_15": 1, "read_usage_day": 2,
                  "at": T0 - 60},
        "pauses": [{"until": MIDNIGHT, "scope": "all", "reason": "rate_limit_day"}],
    }))
    clock = Clock()
    with capture_logs() as logs:
        gov = Governor(state_file=state, clock=clock)
    assert ["ratelimit_state_limits_discarded"] == [
        e["event"] for e in logs if e["log_level"] == "warning"]
    assert Q_NEXT == gov.paused_until("upload")
    clock.now = Q_NEXT + 1
    assert gov.decide("upload") is None


def test_persisted_good_limits_and_day_pause_are_kept(tmp_path: Path) -> None:
    """Sensible persisted limits and a real daily pause survive a restart."""
    state = tmp_path / "ratelimit.json"
    gov = Governor(state_file=state, clock=Clock())
    gov.observe(headers((20, 2000), (10, 900)))
    gov.observe_429(kind="upload")
    assert MIDNIGHT == Governor(state_file=state, clock=Clock(Q_NEXT + 5)).paused_until()


def test_paused_until_tells_a_spent_window() -> None:
    """A spent 15-minute budget is a pause until the quarter-hour, shown in the snapshot."""
    gov = Governor(state_file=None, clock=Clock())
    gov.observe(headers((200, 300), (80, 200)))
    assert Q_NEXT == gov.paused_until("upload")
    snap = gov.snapshot()
    assert (Q_NEXT, "rate_limit_15") == (snap["paused_until"], snap["pause_reason"])


def test_paused_until_is_none_when_uploads_may_go() -> None:
    """A spent read budget pauses polls, not uploads: paused_until stays None."""
    gov = Governor(state_file=None, clock=Clock())
    gov.observe(headers((120, 300), (100, 200)))
    assert gov.paused_until("upload") is None
    assert Q_NEXT == gov.paused_until("read")
    snap = gov.snapshot()
    assert (None, Q_NEXT) == (snap["paused_until"], snap["read_paused_until"])


def test_paused_until_ignores_the_probe_wait() -> None:
    """The half-second wait while the window's first answer is out is not a pause."""
    gov = Governor(state_file=None, clock=Clock())
    assert gov.acquire("upload") is None
    assert T0 + PROBE_WAIT_S == gov.decide("upload")
    assert gov.paused_until("upload") is None


def test_paused_until_daily_budget_is_midnight() -> None:
    """A spent daily budget pauses uploads until midnight UTC, with its reason."""
    gov = Governor(state_file=None, clock=Clock())
    gov.observe(headers((5, 2000), (0, 900)))
    snap = gov.snapshot()
    assert (MIDNIGHT, "rate_limit_day") == (snap["paused_until"], snap["pause_reason"])


def test_reads_left_is_the_tightest_window() -> None:
    """Reads left is bounded by the overall window too, since a read counts on both."""
    gov = Governor(state_file=None, clock=Clock())
    gov.observe(headers((190, 300), (20, 200)))
    assert 10 == gov.reads_left()
    gov.observe_429(kind="read")
    assert 0 == gov.reads_left()


def test_429_with_zero_limits_pauses_only_until_the_quarter() -> None:
    """A 429 whose headers announce 0,0 pauses until the next quarter-hour, not midnight."""
    clock = Clock()
    gov = Governor(state_file=None, clock=clock)
    gov.observe(headers((40, 400), (20, 200)))
    gov.observe(headers((41, 401), (20, 200), limit=(0, 0), read_limit=(0, 0)))
    assert Q_NEXT == gov.observe_429(kind="upload")
    clock.now = Q_NEXT + 1
    assert gov.decide("upload") is None
