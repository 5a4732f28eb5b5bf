"""Tests for stravasync.demo.samples: the demo's own FIT/GPX/TCX files."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from fitdecode import CrcCheck, ErrorHandling, FitReader

from stravasync.demo.samples import (
    demo_files,
    fit_crc16,
    sample_broken,
    sample_fit,
    sample_gpx,
    sample_tcx,
)
from stravasync.validate import Verdict, validate_bytes

START = datetime(2024, 6, 2, 6, 0, tzinfo=UTC)
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def test_fit_crc16_matches_the_sdk_check_value() -> None:
    """CRC-16 of "123456789" is 0xBB3D (CRC-16/ARC, the FIT SDK's algorithm)."""
    assert 0xBB3D == fit_crc16(b"123456789")


def test_sample_fit_reads_strictly() -> None:
    """The hand-encoded FIT passes fitdecode with strict CRC and error handling."""
    with FitReader(
        io.BytesIO(sample_fit(start=START)),
        check_crc=CrcCheck.RAISE,
        error_handling=ErrorHandling.RAISE,
    ) as reader:
        names = [f.name for f in reader if f.frame_type == 4]
    assert ["file_id", "session", "activity"] == [
        n for n in names if n in {"file_id", "session", "activity"}
    ]
    assert 60 == names.count("record")


@pytest.mark.parametrize("make", [sample_fit, sample_gpx, sample_tcx])
@pytest.mark.parametrize("sport", ["run", "ride"])
def test_samples_validate_ok_with_their_start_and_sport(make: object, sport: str) -> None:
    """Every valid sample is ok, starting when asked, with the sport asked for."""
    data = make(start=START, sport=sport, points=30)  # type: ignore[operator]
    result = validate_bytes(data, now=NOW)
    assert (Verdict.OK, START, sport, 30) == (
        result.verdict,
        result.start_time,
        result.sport,
        result.points,
    )


def test_sample_broken_is_invalid() -> None:
    """The broken sample fails on its CRC."""
    result = validate_bytes(sample_broken(), now=NOW)
    assert Verdict.INVALID == result.verdict
    assert result.reason is not None
    assert "CRC" in result.reason


def test_demo_files_are_distinct_workouts() -> None:
    """Demo workouts validate ok with different start times; the bad ones are not ok."""
    results = {name: validate_bytes(data, name=name, now=NOW) for name, data in demo_files(START)}
    ok = {n: r for n, r in results.items() if r.verdict is Verdict.OK}
    assert 3 == len(ok)
    assert 3 == len({r.start_time for r in ok.values()})
    assert {Verdict.INVALID, Verdict.SKIP} == {
        r.verdict for r in results.values() if r.verdict is not Verdict.OK
    }


def test_demo_files_copy_is_the_same_workout() -> None:
    """copy=True adds the first workout again under another name."""
    files = demo_files(START, copy=True)
    assert files[0][1] == files[-1][1]
    assert files[0][0] != files[-1][0]


def test_samples_with_different_starts_differ() -> None:
    """Two samples an hour apart are different files."""
    assert sample_fit(start=START) != sample_fit(start=START + timedelta(hours=1))
