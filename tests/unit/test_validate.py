"""Tests for stravasync.validate: verdicts, facts, repairs and hostile input."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fitdecode import CrcCheck, ErrorHandling, FitReader
from fixtures import (
    BILLION_LAUGHS,
    CORPUS,
    CORPUS_ROWS,
    EXPECTED,
    EXTERNAL_FILE,
    EXTERNAL_HTTP,
    JUDGEMENTS,
    NOW,
    START,
    FileType,
    Sport,
    fit_bytes,
    gpx_text,
    gzip_bomb,
    tcx_text,
)

from stravasync.demo.samples import fit_crc16, sample_fit
from stravasync.validate import ValidationResult, Verdict, validate_bytes, validate_path

# --- the corpus --------------------------------------------------------------------



@pytest.mark.corpus
@pytest.mark.skipif(not CORPUS_ROWS, reason=f"corpus not found at {CORPUS}")
@pytest.mark.parametrize(("name", "expected"), CORPUS_ROWS or [("none", "valid")])
def test_corpus_file_gets_the_manifest_verdict(name: str, expected: str) -> None:
    """Each corpus file gets the manifest's verdict (or our stated judgement)."""
    want = JUDGEMENTS.get(name) or EXPECTED[expected]
    result = validate_path(CORPUS / name)
    assert (want, name) == (result.verdict, name), result.reason
    assert result.reason or result.verdict is Verdict.OK


@pytest.mark.corpus
@pytest.mark.skipif(not CORPUS_ROWS, reason=f"corpus not found at {CORPUS}")
def test_corpus_facts_of_a_garmin_ride_agree_across_formats() -> None:
    """The Edge 1000 ride as FIT, GPX and TCX has one start time and one sport."""
    results = [
        validate_path(CORPUS / n)
        for n in (
            "fit_garmin-edge1000_ride.fit",
            "gpx_garmin-connect_ride.gpx",
            "tcx_garmin-edge1000_ride.tcx",
        )
    ]
    expected = {(datetime(2020, 6, 1, 14, 52, 40, tzinfo=UTC), "ride")}
    assert expected == {(r.start_time, r.sport) for r in results}
    assert ["fit", "gpx", "tcx"] == [r.format for r in results]


@pytest.mark.corpus
@pytest.mark.skipif(not CORPUS_ROWS, reason=f"corpus not found at {CORPUS}")
def test_corpus_gzipped_upper_case_tcx_is_inflated_payload() -> None:
    """A .TCX.gz is judged by content and its payload is the inflated document."""
    path = CORPUS / "tcx_garmin-fr310xt_run.TCX.gz"
    result = validate_path(path)
    payload = gzip.decompress(path.read_bytes())
    assert (Verdict.OK, "tcx", True) == (result.verdict, result.format, result.gzipped)
    assert payload == result.payload
    assert hashlib.sha256(payload).hexdigest() == result.sha256


@pytest.mark.corpus
@pytest.mark.skipif(not CORPUS_ROWS, reason=f"corpus not found at {CORPUS}")
def test_corpus_leading_whitespace_is_repaired_not_refused() -> None:
    """The whitespace-before-<?xml TCX is ok, repaired, and equals its pristine twin."""
    result = validate_path(CORPUS / "tcx_leading-whitespace.tcx")
    twin = (CORPUS / "tcx_garmin-fr410_run.tcx").read_bytes()
    assert ("leading whitespace",) == result.repaired
    assert twin == result.payload


# --- FIT, generated -----------------------------------------------------------------


def test_fit_activity_is_ok_with_facts() -> None:
    """A fit-tool activity is ok, with start, sport, duration, distance and points."""
    result = validate_bytes(fit_bytes(points=30, sport=Sport.CYCLING), name="a.fit", now=NOW)
    assert Verdict.OK == result.verdict
    assert (START, "ride", 29.0, 87.0, 30) == (
        result.start_time,
        result.sport,
        result.duration_s,
        result.distance_m,
        result.points,
    )
    assert "fit" == result.format
    assert result.start_time is not None
    assert result.start_time.tzinfo is not None


def test_fit_activity_passes_strict_fitdecode() -> None:
    """The generated fixture is itself a clean FIT file (strict fitdecode reads it)."""
    with FitReader(
        io.BytesIO(fit_bytes()), check_crc=CrcCheck.RAISE, error_handling=ErrorHandling.RAISE
    ) as reader:
        assert any(frame.frame_type == 2 for frame in reader)  # the CRC footer


@pytest.mark.parametrize(
    ("file_type", "label"),
    [
        (FileType.COURSE, "course"),
        (FileType.SETTINGS, "settings"),
        (FileType.WORKOUT, "workout"),
        (FileType.MONITORING_A, "monitoring_a"),
    ],
)
def test_fit_non_activity_is_skipped_naming_the_type(file_type: FileType, label: str) -> None:
    """A FIT course/settings/workout/monitoring file is skipped, and the type is named."""
    result = validate_bytes(fit_bytes(file_type=file_type), now=NOW)
    assert Verdict.SKIP == result.verdict
    assert result.reason is not None
    assert label in result.reason


def test_fit_without_type_but_timed_records_is_an_activity() -> None:
    """A file_id without type is an activity when its records carry real times."""
    assert Verdict.OK == validate_bytes(fit_bytes(file_type=None), now=NOW).verdict


def test_fit_without_type_or_records_is_skipped() -> None:
    """A file_id without type and without records is not an activity."""
    data = fit_bytes(file_type=None, points=0, with_summary=False)
    assert Verdict.SKIP == validate_bytes(data, now=NOW).verdict


@pytest.mark.parametrize(
    "start",
    [datetime(1989, 12, 31, 0, 1, tzinfo=UTC), NOW + timedelta(days=30)],
    ids=["epoch-zero", "future"],
)
def test_fit_with_implausible_times_is_invalid(start: datetime) -> None:
    """Records stamped at the FIT epoch or far in the future cannot date an activity."""
    result = validate_bytes(fit_bytes(start=start), now=NOW)
    assert Verdict.INVALID == result.verdict


def test_fit_chained_activity_and_settings_is_ok() -> None:
    """An activity followed by a chained settings file is an activity."""
    data = fit_bytes() + fit_bytes(file_type=FileType.SETTINGS, points=0, with_summary=False)
    result = validate_bytes(data, now=NOW)
    assert (Verdict.OK, 30) == (result.verdict, result.points)


def test_fit_chained_second_file_bad_crc_is_invalid() -> None:
    """Every chained file's CRC must verify, not just the first one's."""
    second = bytearray(fit_bytes(start=START + timedelta(hours=1)))
    second[-1] ^= 0x55
    result = validate_bytes(fit_bytes() + bytes(second), now=NOW)
    assert Verdict.INVALID == result.verdict
    assert result.reason is not None
    assert "CRC" in result.reason


def test_fit_header_crc_zero_is_accepted() -> None:
    """A 14-byte header whose CRC is 0 ("not computed", per the FIT spec) is fine."""
    data = bytearray(sample_fit(start=START))  # fit-tool writes 12-byte headers
    assert 14 == data[0]
    data[12:14] = b"\0\0"
    body = bytes(data[:-2])
    data[-2:] = fit_crc16(body).to_bytes(2, "little")
    assert Verdict.OK == validate_bytes(bytes(data), now=NOW).verdict


def test_fit_wrong_header_crc_is_invalid() -> None:
    """A non-zero header CRC that does not match is corruption."""
    data = bytearray(sample_fit(start=START))
    data[12] ^= 0x01
    data[-2:] = fit_crc16(bytes(data[:-2])).to_bytes(2, "little")
    result = validate_bytes(bytes(data), now=NOW)
    assert Verdict.INVALID == result.verdict
    assert result.reason is not None
    assert "header" in result.reason


def test_fit_bad_crc_says_where() -> None:
    """A wrong file CRC is invalid and the reason gives the offset."""
    data = bytearray(fit_bytes())
    data[-2] ^= 0xFF
    result = validate_bytes(bytes(data), now=NOW)
    assert Verdict.INVALID == result.verdict
    assert result.reason is not None
    assert str(len(data) - 2) in result.reason


def test_fit_truncated_is_invalid() -> None:
    """A FIT file cut short is invalid, not an activity with fewer records."""
    data = fit_bytes()
    for cut in (1, 2, 3, 40, len(data) // 2):
        assert Verdict.INVALID == validate_bytes(data[:-cut], now=NOW).verdict


def test_fit_gzipped_is_judged_inflated() -> None:
    """A gzipped FIT is ok, flagged gzipped, and its payload is the raw FIT."""
    data = fit_bytes()
    result = validate_bytes(gzip.compress(data), name="x.fit.gz", now=NOW)
    assert (Verdict.OK, True, data) == (result.verdict, result.gzipped, result.payload)


# --- GPX / TCX ----------------------------------------------------------------------


def test_gpx_track_is_ok_with_facts() -> None:
    """A timed GPX track is ok with its start, sport and point count."""
    result = validate_bytes(gpx_text(points=20).encode(), now=NOW)
    assert (Verdict.OK, "gpx", START, "ride", 20, 19.0) == (
        result.verdict,
        result.format,
        result.start_time,
        result.sport,
        result.points,
        result.duration_s,
    )


@pytest.mark.parametrize(
    ("timed", "verdict"), [(20, "ok"), (11, "ok"), (9, "invalid"), (0, "invalid")]
)
def test_gpx_needs_most_points_timed(timed: int, verdict: str) -> None:
    """A track is ok when at least half its points carry a time."""
    result = validate_bytes(gpx_text(points=20, timed=timed).encode(), now=NOW)
    assert verdict == result.verdict.value


def test_gpx_all_points_at_one_instant_is_invalid() -> None:
    """Points that all share one time have no duration."""
    data = gpx_text(points=5, times=["2020-01-01T00:00:00Z"] * 5).encode()
    assert Verdict.INVALID == validate_bytes(data, now=NOW).verdict


def test_gpx_route_only_is_skipped() -> None:
    """A GPX route (a plan, not a recording) is skipped."""
    data = b'<gpx version="1.1"><rte><rtept lat="1" lon="2"/></rte><wpt lat="1" lon="2"/></gpx>'
    result = validate_bytes(data, now=NOW)
    assert (Verdict.SKIP, "gpx") == (result.verdict, result.format)


def test_tcx_is_not_an_empty_gpx_whatever_its_name() -> None:
    """A TCX named .gpx is judged as TCX, and the note says the name lies."""
    result = validate_bytes(tcx_text().encode(), name="ride.gpx", now=NOW)
    assert (Verdict.OK, "tcx", "ride") == (result.verdict, result.format, result.sport)
    assert result.reason is not None
    assert ".gpx" in result.reason


def test_fit_named_gpx_is_judged_as_fit() -> None:
    """Content decides: FIT bytes named .GPX are a FIT upload."""
    result = validate_bytes(fit_bytes(), name="RIDE.GPX", now=NOW)
    assert (Verdict.OK, "fit") == (result.verdict, result.format)


def test_tcx_course_is_skipped() -> None:
    """A TCX with Courses and no Activity is skipped, its timed trackpoints notwithstanding."""
    course = tcx_text().replace("Activities>", "Courses>").replace("Activity ", "Course ")
    course = course.replace("</Activity>", "</Course>")
    assert Verdict.SKIP == validate_bytes(course.encode(), now=NOW).verdict


def test_xml_repairs_bom_whitespace_and_double_z() -> None:
    """BOM, leading whitespace and ...ZZ times are fixed in the payload, each named."""
    original = tcx_text().replace(":00Z<", ":00ZZ<").replace(':00Z"', ':00ZZ"')
    data = b"\xef\xbb\xbf  \n" + original.encode()
    result = validate_bytes(data, now=NOW)
    assert Verdict.OK == result.verdict
    assert ("byte order mark", "leading whitespace", "ZZ timestamps") == result.repaired
    assert result.payload is not None
    assert b"ZZ" not in result.payload
    assert result.payload.startswith(b"<?xml")


def test_validate_path_never_modifies_the_file(tmp_path: Path) -> None:
    """Repairs go to the payload only; the user's file keeps its bytes."""
    path = tmp_path / "run.tcx"
    original = b"   " + tcx_text().encode()
    path.write_bytes(original)
    result = validate_path(path)
    assert Verdict.OK == result.verdict
    assert original == path.read_bytes()


# --- hostile and odd input ----------------------------------------------------------


def _timed(data: bytes, **kwargs: object) -> tuple[ValidationResult, float]:
    began = time.perf_counter()
    result = validate_bytes(data, **kwargs)  # type: ignore[arg-type]
    return result, time.perf_counter() - began


@pytest.mark.parametrize(
    "data", [BILLION_LAUGHS, EXTERNAL_FILE, EXTERNAL_HTTP], ids=["laughs", "file", "http"]
)
def test_xml_attacks_are_refused_quickly(data: bytes) -> None:
    """Entity expansion and external entities are refused at once, with a reason."""
    result, seconds = _timed(data)
    assert Verdict.INVALID == result.verdict
    assert result.reason is not None
    assert "DTD" in result.reason
    assert seconds < 5


def test_gzip_bomb_is_refused_without_inflating_it() -> None:
    """A gzip bomb stops at the size cap, quickly."""
    result, seconds = _timed(gzip_bomb(80))
    assert (Verdict.INVALID, True) == (result.verdict, result.gzipped)
    assert result.reason is not None
    assert "gzip bomb" in result.reason
    assert seconds < 5


def test_gzip_cap_is_configurable() -> None:
    """max_bytes bounds inflated content too."""
    result = validate_bytes(gzip.compress(tcx_text().encode()), max_bytes=100)
    assert Verdict.INVALID == result.verdict


def test_truncated_gzip_is_invalid() -> None:
    """A gzip stream cut short is invalid with a gzip reason."""
    data = gzip.compress(fit_bytes())[:-10]
    result = validate_bytes(data)
    assert (Verdict.INVALID, True) == (result.verdict, result.gzipped)


def test_random_bytes_named_fit_are_invalid(tmp_path: Path) -> None:
    """20 KB of random bytes named .fit is invalid, quickly."""
    path = tmp_path / "noise.fit"
    path.write_bytes(random.Random(7).randbytes(20 * 1024))
    began = time.perf_counter()
    result = validate_path(path)
    assert Verdict.INVALID == result.verdict
    assert time.perf_counter() - began < 5


def test_empty_file_is_invalid(tmp_path: Path) -> None:
    """A zero-byte file is invalid and says so."""
    path = tmp_path / "empty.fit"
    path.write_bytes(b"")
    result = validate_path(path)
    assert (Verdict.INVALID, "empty file (0 bytes)") == (result.verdict, result.reason)


def test_directory_named_fit_is_invalid(tmp_path: Path) -> None:
    """A directory called x.fit is refused, not read."""
    (tmp_path / "x.fit").mkdir()
    result = validate_path(tmp_path / "x.fit")
    assert Verdict.INVALID == result.verdict
    assert result.reason is not None
    assert "directory" in result.reason


def test_missing_file_is_invalid(tmp_path: Path) -> None:
    """A path that does not exist is invalid with a reason."""
    assert ("no such file",) == (validate_path(tmp_path / "gone.gpx").reason,)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    """A named pipe is not read (reading it would block forever)."""
    path = tmp_path / "pipe.fit"
    os.mkfifo(path)
    assert Verdict.INVALID == validate_path(path).verdict


def test_oversized_file_is_refused_before_reading(tmp_path: Path) -> None:
    """A file larger than max_bytes is refused by its size."""
    path = tmp_path / "huge.gpx"
    path.write_bytes(b" " * 2048)
    result = validate_path(path, max_bytes=1024)
    assert Verdict.INVALID == result.verdict
    assert result.reason is not None
    assert "too large" in result.reason


def test_xml_of_another_kind_is_invalid() -> None:
    """An XML document that is neither GPX nor TCX is refused, naming its root."""
    result = validate_bytes(b"<?xml version='1.0'?><kml><Document/></kml>")
    assert Verdict.INVALID == result.verdict
    assert result.reason is not None
    assert "<kml>" in result.reason


def test_ok_result_as_json_has_the_check_keys() -> None:
    """as_json gives the check --json object with an ISO-8601 Z start time."""
    result = validate_bytes(fit_bytes(), now=NOW)
    obj = result.as_json(Path("a.fit"))
    assert [
        "path",
        "format",
        "verdict",
        "reason",
        "repaired",
        "start_time",
        "sport",
        "duration_s",
        "distance_m",
        "points",
        "device",
        "assumption",
    ] == list(obj)
    assert "2024-05-01T07:30:00Z" == obj["start_time"]
