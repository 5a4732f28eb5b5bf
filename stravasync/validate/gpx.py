"""GPX: a track with timed points is an activity; routes and waypoints are not.

Owns the GPX verdict. The guard runs first, then gpxpy does the GPX work:

1. Guard. ``xmlsafe.walk`` (defusedxml, ``forbid_dtd``) has already read the bytes up
   to the root element; here the text gpxpy will parse gets the same check
   (``xmlsafe.guard_prolog``). gpxpy holds the whole document, about 14 bytes of
   memory per byte of GPX: a GPX above ``GPXPY_MAX_BYTES`` is judged instead by the
   streaming pass of ``gpxstream``, with the same verdicts. A document type
   declaration can only stand before the root element (XML 1.0, production
   ``prolog``), and entities can only be declared in one, so a prolog without a DTD
   leaves nothing to expand or fetch: any other entity reference is a
   well-formedness error that gpxpy's parser reports as malformed XML.
2. gpxpy parses the text that passed (``gpxpy.parse``; it drops the default
   namespace, so writers with a wrong namespace read the same) with the GPX 1.1
   field set whatever the file declares: the elements we read are named alike in
   1.0 and 1.1, and writers such as HealthFit declare 1.0 but write 1.1's
   ``trk/type``. It gives the facts: track points and their times, the first track's ``type``, the
   creator, and the distance by ``GPX.length_2d()``. 2D, not 3D: Strava's distance
   for a GPS track is measured over the ground, the FIT and TCX readers take the
   device's distance (which is 2D as well), and barometric noise in ``<ele>`` only
   lengthens a 3D sum.

Verdicts: track points, enough of them timed (``track_times.PointTimes``) -> ok; too
few times -> invalid; track(s) with no points -> invalid; routes/waypoints only, or
nothing at all -> skip.
"""

from __future__ import annotations

import codecs
import re
from datetime import datetime

import gpxpy
from gpxpy.gpx import GPX, GPXException, GPXXMLSyntaxException

from stravasync.validate.gpxshape import GpxShape, gpx_verdict, utc
from stravasync.validate.gpxstream import analyse_gpx_stream
from stravasync.validate.result import Analysis, Verdict
from stravasync.validate.timestamps import window
from stravasync.validate.track_times import PointTimes
from stravasync.validate.xmlsafe import XmlRefused, guard_prolog

__all__ = ["GPXPY_MAX_BYTES", "analyse_gpx", "decode_xml"]

#: Largest GPX handed to gpxpy. It holds about 14 bytes per byte of GPX (measured: a
#: 6.75 MB file peaks at 142 MB RSS), so 16 MiB keeps the daemon under its 300 MB
#: budget (issue 10); a 12-hour track at one point a second is about 9 MB. Larger
#: tracks (a 24-hour ultra, a multi-day tour) are judged by ``gpxstream`` in one pass
#: whose memory does not grow with the track, up to the 64 MiB cap on every file.
GPXPY_MAX_BYTES = 16 * 1024 * 1024
_DECLARED = re.compile(rb"<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']")
# An innermost <extensions> element (no nested one): what gpxpy would deep-copy.
_EXTENSIONS = re.compile(r"<extensions>[^<]*(?:<(?!/?extensions>)[^<]*)*</extensions>")
_UTF16_STARTS = {
    b"\xff\xfe": "utf-16",
    b"\xfe\xff": "utf-16",
    b"<\x00?\x00": "utf-16-le",
    b"\x00<\x00?": "utf-16-be",
}


def decode_xml(data: bytes) -> str:
    """The XML document's text, decoded as its byte order mark or declaration says.

    Raises XmlRefused when the bytes are not text in that encoding.
    """
    encoding = next((e for start, e in _UTF16_STARTS.items() if data.startswith(start)), None)
    if encoding is None:
        declared = _DECLARED.match(data, 0, 200)
        encoding = declared.group(1).decode("ascii") if declared else "utf-8"
    try:
        codecs.lookup(encoding)
        return data.decode(encoding)
    except LookupError as exc:
        raise XmlRefused(f"malformed XML: unknown encoding {encoding!r}") from exc
    except UnicodeDecodeError as exc:
        raise XmlRefused(f"malformed XML: not valid {encoding} text at byte {exc.start}") from exc


def analyse_gpx(data: bytes, *, now: datetime | None) -> Analysis:
    """Judge a GPX document (its root element already read by the guard)."""
    if len(data) > GPXPY_MAX_BYTES:
        return analyse_gpx_stream(data, now=now)
    try:
        text = _without_extensions(decode_xml(data))
        guard_prolog(text)
        gpx = gpxpy.parse(text, version="1.1")
    except XmlRefused as exc:
        return Analysis(Verdict.INVALID, str(exc))
    except GPXXMLSyntaxException as exc:
        return Analysis(Verdict.INVALID, f"malformed XML: {exc.__cause__ or exc}")
    except GPXException as exc:
        return Analysis(Verdict.INVALID, f"unreadable GPX: {exc}")
    return _decide(gpx, now=now)


def _without_extensions(text: str) -> str:
    """``text`` without its ``<extensions>`` elements, which gpxpy would deep-copy.

    Only where every ``<extensions>`` in the text is a tag: no comment, CDATA section
    or processing instruction (other than the XML declaration) could hold the word.
    """
    if "<!--" in text or "<![CDATA[" in text or text.find("<?", 1) != -1:
        return text
    return _EXTENSIONS.sub("", text)


def _decide(gpx: GPX, *, now: datetime | None) -> Analysis:
    times = PointTimes(*window(now))
    for track in gpx.tracks:
        for segment in track.segments:
            for point in segment.points:
                times.add(utc(point.time))
    shape = GpxShape(
        tracks=len(gpx.tracks), routes=len(gpx.routes),
        route_points=sum(len(r.points) for r in gpx.routes), waypoints=len(gpx.waypoints),
        sport=next((t.type for t in gpx.tracks if t.type and t.type.strip()), None),
        creator=gpx.creator, distance_m=gpx.length_2d() if times.points else None)
    return gpx_verdict(shape, times)
