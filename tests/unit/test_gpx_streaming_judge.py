"""Large GPX is judged by a streaming pass with gpxpy's verdicts (issue 18.6).

The streaming judge (``validate.gpxstream``) is forced onto small files here, so that
every GPX in the corpus and a set of odd ones can be judged both ways and compared:
the same verdict, reason and facts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures import CORPUS, NOW, gpx_text

import stravasync.validate.gpx as gpx_module
from stravasync.validate import ValidationResult, validate_bytes

CORPUS_GPX = sorted(p for p in CORPUS.glob("*") if ".gpx" in p.name.lower()) if CORPUS.is_dir() \
    else []

ODD = {
    "two tracks, second one typed": gpx_text(points=30).replace(
        "<trk>", "<trk><name>warm-up</name></trk><trk><type> </type><type>hiking</type>", 1),
    "points without times": gpx_text(points=12).replace("<time>", "<desc>", 5).replace(
        "</time>", "</desc>", 5),
    "a point without lat": gpx_text(points=5).replace(' lat="', ' latitude="', 1),
    "a point with a bad lon": gpx_text(points=5).replace(' lon="', ' lon="east', 1),
    "a bad elevation": gpx_text(points=5).replace("<trkpt ", "<trkpt ", 1).replace(
        "</trkpt>", "<ele>high</ele></trkpt>", 1),
    "an empty track": '<?xml version="1.0"?><gpx version="1.1" creator="x" '
                      'xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg/></trk></gpx>',
    "nothing at all": '<gpx version="1.1" creator="x"></gpx>',
    "no namespace": gpx_text(points=8).replace(' xmlns="http://www.topografix.com/GPX/1/1"', ""),
    "a foreign trk in extensions": gpx_text(points=8).replace(
        "<trk>", '<extensions><x:trk xmlns:x="urn:x"><x:trkseg><x:trkpt lat="1" lon="2">'
        "<x:time>2024-05-01T07:30:00Z</x:time></x:trkpt></x:trkseg></x:trk></extensions><trk>", 1),
    "heart rate extensions": gpx_text(points=8).replace(
        'xmlns="http://www.topografix.com/GPX/1/1"',
        'xmlns="http://www.topografix.com/GPX/1/1" xmlns:g="urn:g"').replace(
        "</trkpt>", "<extensions><g:hr>120</g:hr><g:time>1999</g:time></extensions></trkpt>"),
}


def both_ways(data: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[ValidationResult, ...]:
    """The result through gpxpy, and through the streaming pass (forced on a small file)."""
    by_gpxpy = validate_bytes(data, now=NOW)
    with monkeypatch.context() as patch:
        patch.setattr(gpx_module, "GPXPY_MAX_BYTES", 0)
        streamed = validate_bytes(data, now=NOW)
    return by_gpxpy, streamed


def verdict_of(result: ValidationResult) -> tuple[object, ...]:
    """What a judge decides: verdict, reason, facts, and the bytes it would send."""
    return (result.verdict, result.reason, result.start_time, result.sport, result.duration_s,
            result.distance_m, result.points, result.device, result.sha256)


def test_a_latin1_gpx_reads_alike_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    """A GPX declared ISO-8859-1 with a non-ASCII creator: the same facts both ways."""
    text = gpx_text().replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').replace(
        'creator="fixture"', 'creator="Zürich GPS"')
    by_gpxpy, streamed = both_ways(text.encode("latin-1"), monkeypatch)
    assert verdict_of(by_gpxpy) == verdict_of(streamed)
    assert "Zürich GPS" == streamed.device


@pytest.mark.skipif(not CORPUS_GPX, reason=f"corpus not found at {CORPUS}")
@pytest.mark.parametrize("path", CORPUS_GPX, ids=lambda p: p.name)
def test_every_corpus_gpx_gets_gpxpys_verdict_from_the_streaming_pass(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verdict, reason and facts of the streaming pass equal gpxpy's on every corpus GPX."""
    by_gpxpy, streamed = both_ways(path.read_bytes(), monkeypatch)
    assert verdict_of(by_gpxpy) == verdict_of(streamed)


@pytest.mark.parametrize("case", sorted(ODD))
def test_odd_gpx_gets_gpxpys_verdict_from_the_streaming_pass(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Odd tracks (untimed points, bad numbers, foreign elements) are judged alike both ways."""
    by_gpxpy, streamed = both_ways(ODD[case].encode(), monkeypatch)
    assert verdict_of(by_gpxpy) == verdict_of(streamed)
