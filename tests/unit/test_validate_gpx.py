"""GPX through the defused guard and gpxpy: facts, safety, and reasons in their own words."""

from __future__ import annotations

import gpxpy
import pytest
from fixtures import NOW, START, gpx_text

import stravasync.validate.gpx as gpx_module
from stravasync.validate import Verdict, validate_bytes

EXTENSION = (
    "<extensions><gpxtpx:TrackPointExtension><gpxtpx:hr>120</gpxtpx:hr>"
    "</gpxtpx:TrackPointExtension></extensions></trkpt>"
)


def _with_extensions(text: str) -> str:
    head = text.replace(
        'xmlns="http://www.topografix.com/GPX/1/1"',
        'xmlns="http://www.topografix.com/GPX/1/1" '
        'xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v1"',
    )
    return head.replace("</trkpt>", EXTENSION)


def test_distance_is_gpxpy_length_2d() -> None:
    """The distance fact is gpxpy's own 2D length of the track."""
    text = gpx_text(points=20)
    result = validate_bytes(text.encode(), now=NOW)
    assert round(gpxpy.parse(text).length_2d(), 1) == result.distance_m


def test_extensions_change_no_fact() -> None:
    """Track points with heart-rate extensions give the same facts as without."""
    plain = validate_bytes(gpx_text(points=20).encode(), now=NOW)
    extended = validate_bytes(_with_extensions(gpx_text(points=20)).encode(), now=NOW)
    assert Verdict.OK == extended.verdict
    assert (plain.start_time, plain.duration_s, plain.distance_m, plain.points) == (
        extended.start_time,
        extended.duration_s,
        extended.distance_m,
        extended.points,
    )


def test_a_comment_mentioning_extensions_is_left_alone() -> None:
    """Text in a comment is never cut as if it were an element."""
    text = gpx_text(points=20).replace("<trk>", "<!-- <extensions> --><trk>")
    text = _with_extensions(text)
    assert (Verdict.OK, 20) == (
        validate_bytes(text.encode(), now=NOW).verdict,
        validate_bytes(text.encode(), now=NOW).points,
    )


def test_gpx_declared_1_0_with_a_track_type_keeps_its_sport() -> None:
    """A GPX saying version 1.0 but writing 1.1's trk/type (HealthFit) keeps the sport."""
    text = gpx_text(sport="running").replace('version="1.1"', 'version="1.0"')
    assert "run" == validate_bytes(text.encode(), now=NOW).sport


def test_latin1_gpx_is_read_in_its_declared_encoding() -> None:
    """A GPX declared ISO-8859-1 with a non-ASCII creator is read, creator intact."""
    text = gpx_text().replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
    text = text.replace('creator="fixture"', 'creator="Zürich GPS"')
    result = validate_bytes(text.encode("latin-1"), now=NOW)
    assert (Verdict.OK, "Zürich GPS") == (result.verdict, result.device)


def test_undeclared_entity_is_malformed_not_expanded() -> None:
    """With no DTD an entity reference cannot be declared: the file is malformed XML."""
    text = gpx_text().replace("<trk>", "<trk><name>&xxe;</name>")
    result = validate_bytes(text.encode(), now=NOW)
    assert Verdict.INVALID == result.verdict
    assert result.reason is not None
    assert result.reason.startswith("malformed XML: undefined entity")


def test_gpx_over_the_gpxpy_size_is_judged_not_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """gpxpy holds the whole document; GPX above its size is judged in a stream, not refused."""
    data = gpx_text(points=50).encode()
    monkeypatch.setattr(gpx_module, "GPXPY_MAX_BYTES", 1000)
    result = validate_bytes(data, now=NOW)
    assert (Verdict.OK, None, START, 50.0 - 1, 50) == (
        result.verdict, result.reason, result.start_time, result.duration_s, result.points)


@pytest.mark.parametrize(
    ("times", "words"),
    [
        (["1901-12-13T20:45:52Z"] * 5, "placeholder time (1901-12-13T20:45:52Z, not a real date)"),
        (["1989-12-31T00:00:10Z"] * 5, "the device clock was not set"),
        (["2031-01-01T00:00:00Z"] * 5, "a time in the future"),
        (["1995-06-01T00:00:00Z"] * 5, "a time too early to be real"),
    ],
    ids=["gpsbabel-1901", "fit-epoch", "future", "early"],
)
def test_impossible_gpx_times_are_named_by_cause(times: list[str], words: str) -> None:
    """Placeholder, future and too-early times each get their own words."""
    result = validate_bytes(gpx_text(points=5, times=times).encode(), now=NOW)
    assert Verdict.INVALID == result.verdict
    assert result.reason is not None
    assert words in result.reason
    assert ("clock was not set" in result.reason) == (times[0][:4] in ("1901", "1989"))


def test_untimed_and_single_point_tracks_say_so() -> None:
    """No times at all and a single point are two causes with two texts."""
    untimed = validate_bytes(gpx_text(points=5, timed=0).encode(), now=NOW)
    single = validate_bytes(gpx_text(points=1).encode(), now=NOW)
    assert "none of 5 track points carries a time: Strava needs a time on every point" == (
        untimed.reason
    )
    assert "the track has a single point: no duration to upload" == single.reason


def test_gpx_start_is_the_first_point_time() -> None:
    """gpxpy's times become the UTC start and duration."""
    result = validate_bytes(gpx_text(points=20).encode(), now=NOW)
    assert (START, 19.0) == (result.start_time, result.duration_s)
