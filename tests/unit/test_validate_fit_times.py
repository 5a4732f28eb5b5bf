"""The FIT time rules of the profile, one generated fixture each (tests/fitgen.py)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import fitdecode
import pytest
from fitdecode import CrcCheck, ErrorHandling, FitReader
from fitgen import (
    activity,
    build,
    file_id,
    fit_datetime,
    fit_seconds,
    time_rule_files,
    timed_run,
)
from fixtures import NOW, START

from stravasync.validate import Verdict, validate_bytes
from stravasync.validate.fit import analyse_fit, analyse_fit_fast
from stravasync.validate.result import Analysis

FILES = time_rule_files(START)
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def _judge(name: str) -> Analysis:
    """The full fitdecode pass's analysis, after checking the fast walker agrees."""
    data = FILES[name]
    full = analyse_fit(data, now=NOW, fast=False, zone=UTC)
    assert full == analyse_fit_fast(data, now=NOW, zone=UTC)
    return full


def _record_times(data: bytes) -> list[datetime | None]:
    """Record timestamps as strict fitdecode reads them (its compressed-header rule)."""
    with FitReader(
        io.BytesIO(data), check_crc=CrcCheck.RAISE, error_handling=ErrorHandling.RAISE
    ) as reader:
        return [
            frame.get_value("timestamp")
            for frame in reader
            if frame.frame_type == fitdecode.FIT_FRAME_DATA and frame.name == "record"
        ]


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_time_rule_file_is_judged_by_the_walker_as_by_fitdecode(name: str) -> None:
    """The fast walker vouches for each fixture and agrees with the full pass."""
    data = FILES[name]
    assert analyse_fit(data, now=NOW, fast=False) == analyse_fit_fast(data, now=NOW)


def test_compressed_timestamps_roll_over_their_five_bits() -> None:
    """Compressed headers add their 5-bit offset to the last full time, rolling over at 32."""
    base = (fit_seconds(START) | 0x1F) - 1
    expected = [fit_datetime(base + d) for d in (0, 1, 2, 3, 33)]
    assert expected == _record_times(FILES["compressed timestamps"])
    result = _judge("compressed timestamps")
    assert (Verdict.OK, expected[0], 33, 5) == (
        result.verdict,
        result.facts.start_time,
        result.facts.duration_s,
        result.facts.points,
    )


def test_compressed_timestamps_count_from_any_message_with_a_full_time() -> None:
    """A full timestamp on an event message resets the base of later compressed records."""
    base = (fit_seconds(START) | 0x1F) - 1
    assert [fit_datetime(base + d) for d in (0, 101, 102)] == _record_times(
        FILES["compressed after an event"]
    )
    assert 102 == _judge("compressed after an event").facts.duration_s


def test_system_time_is_placed_by_timestamp_correlation() -> None:
    """Records in system time are put on the UTC line by timestamp_correlation."""
    result = _judge("system time + correlation")
    assert (Verdict.OK, START, 4, None) == (
        result.verdict,
        result.facts.start_time,
        result.facts.duration_s,
        result.assumption,
    )


def test_correlation_wins_over_activity_local_time() -> None:
    """With a correlation the UTC start is known: no time zone is assumed."""
    result = _judge("system time + correlation + local")
    assert (Verdict.OK, START, None) == (
        result.verdict,
        result.facts.start_time,
        result.assumption,
    )


def test_local_timestamp_never_moves_a_utc_start() -> None:
    """Records in UTC keep their start although activity.local_timestamp is two hours on."""
    result = _judge("utc + local_timestamp")
    assert (Verdict.OK, START, None) == (
        result.verdict,
        result.facts.start_time,
        result.assumption,
    )


@pytest.mark.parametrize(
    ("local_start", "utc_start", "offset"),
    [
        (datetime(2024, 5, 1, 9, 30), datetime(2024, 5, 1, 7, 30, tzinfo=UTC), "UTC+02:00"),
        (datetime(2024, 1, 15, 9, 30), datetime(2024, 1, 15, 8, 30, tzinfo=UTC), "UTC+01:00"),
    ],
    ids=["summer", "winter"],
)
def test_activity_local_time_is_placed_in_the_given_zone_on_that_date(
    local_start: datetime, utc_start: datetime, offset: str
) -> None:
    """System-time records anchored by activity.local_timestamp take the zone's offset
    on the workout's date, and the result says what was assumed."""
    wall = fit_seconds(local_start.replace(tzinfo=UTC))
    data = build(
        [
            file_id(created=1000),
            *timed_run(start=1000, points=5),
            activity(stamp=1004, local=wall + 4),
        ]
    )
    result = validate_bytes(data, now=NOW, zone=AMSTERDAM)
    assert (Verdict.OK, utc_start, 4.0) == (result.verdict, result.start_time, result.duration_s)
    assert result.assumption is not None
    assert "Europe/Amsterdam" in result.assumption
    assert offset in result.assumption


@pytest.fixture
def machine_in_new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This computer's zone is America/New_York for the test (restored afterwards)."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("machine_in_new_york")
def test_without_a_zone_the_machine_zone_on_that_date_is_assumed() -> None:
    """By default local-only times are placed in this computer's zone (with its DST)."""
    result = validate_bytes(FILES["system time + activity local"], now=NOW)
    assert START + timedelta(hours=4) == result.start_time  # 07:30 EDT is 11:30 UTC
    assert result.assumption is not None
    assert "this computer's time zone, UTC-04:00" in result.assumption
    assert f"assumed: {result.assumption}" in result.summary()


def test_system_time_without_an_anchor_is_an_unset_clock() -> None:
    """Power-on times with nothing to place them: the device clock was not set."""
    result = _judge("system time alone")
    assert Verdict.INVALID == result.verdict
    assert result.reason is not None
    assert "count from device power-on" in result.reason
    assert result.reason.endswith("the device clock was not set")


def test_system_time_placed_out_of_range_names_the_anchor() -> None:
    """A correlation that puts the start decades ahead is named, not blamed on the clock."""
    result = _judge("system time misplaced")
    assert Verdict.INVALID == result.verdict
    assert result.reason is not None
    assert "timestamp_correlation puts the start at" in result.reason


def test_future_records_say_future() -> None:
    """Records ten years ahead are invalid as future times."""
    result = _judge("future")
    assert Verdict.INVALID == result.verdict
    assert result.reason is not None
    assert "in the future" in result.reason


def test_pool_swim_with_untimed_records_is_ok_with_the_session_facts() -> None:
    """A pool swim whose records hold 0xFFFFFFFF is ok; its facts come from the session."""
    result = _judge("untimed pool swim")
    assert (Verdict.OK, START, 100.0, 75.0, 3, "swim") == (
        result.verdict,
        result.facts.start_time,
        result.facts.duration_s,
        result.facts.distance_m,
        result.facts.points,
        result.facts.sport,
    )


def test_length_messages_alone_make_a_pool_swim() -> None:
    """Length messages mark a pool swim even without a swimming session."""
    assert (Verdict.OK, START) == (
        _judge("untimed swim by lengths").verdict,
        _judge("untimed swim by lengths").facts.start_time,
    )


def test_untimed_records_outside_swims_and_sets_are_invalid_in_their_own_words() -> None:
    """A run with untimed records is invalid: the reason names the missing timestamps."""
    result = _judge("untimed run")
    assert Verdict.INVALID == result.verdict
    assert result.reason is not None
    assert "timestamp missing or invalid" in result.reason


@pytest.mark.parametrize(
    ("name", "verdict"),
    [
        ("sets only", Verdict.OK),
        ("sets + untimed records", Verdict.OK),
        ("untimed sets + untimed records", Verdict.INVALID),
        ("untimed swim, nothing timed", Verdict.INVALID),
    ],
)
def test_sets_excuse_untimed_records_when_something_dates_the_workout(
    name: str, verdict: Verdict
) -> None:
    """Files with sets need no record times, but a session, lap, length or set must be timed."""
    result = _judge(name)
    assert verdict == result.verdict
    if verdict is Verdict.OK:
        assert START == result.facts.start_time


def test_records_without_session_or_lap_are_an_activity() -> None:
    """Timed records alone make an activity; the facts come from them."""
    result = _judge("records, no session or lap")
    assert (Verdict.OK, START, 4, 12.0, None) == (
        result.verdict,
        result.facts.start_time,
        result.facts.duration_s,
        result.facts.distance_m,
        result.facts.sport,
    )


@pytest.mark.parametrize("name", sorted(FILES))
def test_only_an_unset_clock_is_called_an_unset_clock(name: str) -> None:
    """ "The device clock was not set" is said of power-on placeholder times alone."""
    reason = _judge(name).reason or ""
    assert (name == "system time alone") == ("clock was not set" in reason)
