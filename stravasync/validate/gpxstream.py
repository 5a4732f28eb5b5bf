"""Owns the streaming GPX judge: gpxpy's verdict on a GPX too large for gpxpy to hold.

gpxpy builds the whole document and holds about 14 bytes per byte of GPX, so a
24-hour ultra recorded at one point a second (50 MB) would take 700 MB. Above
``gpx.GPX_TREE_MAX_BYTES`` the same questions are answered in one pass over the safe
parser (``xmlsafe.walk``: defusedxml, no DTD, every element dropped once handled), in
memory that does not grow with the track.

It reads what gpxpy reads, the way gpxpy reads it, so the verdict, the reason and the
facts are the same (a test holds the two together over every GPX in the corpus):

- elements are matched as gpxpy finds them after dropping the default namespace:
  ``gpx/trk/trkseg/trkpt``, ``gpx/rte/rtept``, ``gpx/wpt``, each in the root's
  namespace and a direct child of the one before;
- a point's time is the text of its first ``time`` child, read by gpxpy's own
  converter (unreadable -> no time); ``lat``/``lon`` are required numbers and ``ele``
  must be a number when given (gpxpy's words when they are not);
- the distance is ``GPX.length_2d()``: gpxpy's ``geo.distance`` between consecutive
  points of a segment, summed per segment, then per track, then over the file;
- the sport is the first track's ``type`` that is not blank; the device, the root's
  ``creator``.

Other gpxpy checks on fields no verdict rests on (``sat``, ``fix``, ``hdop``…) are
not made: a huge file with such a flaw is judged on its track.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from xml.etree.ElementTree import Element

from gpxpy.geo import distance as gpx_distance
from gpxpy.gpxfield import TIME_TYPE

from stravasync.validate.gpxshape import GpxShape, gpx_verdict, utc
from stravasync.validate.result import Analysis, Verdict
from stravasync.validate.timestamps import window
from stravasync.validate.track_times import PointTimes
from stravasync.validate.xmlsafe import Event, XmlRefused, walk

__all__ = ["GpxProblem", "analyse_gpx_stream"]


class GpxProblem(Exception):
    """The XML is sound but a value gpxpy requires is missing or unreadable."""


@dataclass
class _Pass:
    """Mutable state of one streaming pass."""

    ns: str
    """The root's namespace, ``{uri}`` or empty: only elements in it are GPX's."""
    creator: str | None
    tracks: int = 0
    routes: int = 0
    route_points: int = 0
    waypoints: int = 0
    sport: str | None = None
    track_typed: bool = False
    total: float = 0.0
    track_length: float = 0.0
    segment_length: float = 0.0
    previous: tuple[float, float] | None = None
    point_time: str | None = None
    point_has_time: bool = False
    path: list[str] = field(default_factory=list)
    """Local names of the open elements below the root, outermost first (empty: foreign)."""


def analyse_gpx_stream(data: bytes, *, now: datetime | None) -> Analysis:
    """Judge a GPX document in one streaming pass (the same verdict as ``gpx.analyse_gpx``)."""
    events = walk(data)
    try:
        _event, root, _depth = next(events)
        tag = root.tag
        state = _Pass(ns=tag[: tag.index("}") + 1] if tag.startswith("{") else "",
                      creator=root.get("creator"))
        times = PointTimes(*window(now))
        _read(state, times, events)
    except StopIteration:
        return Analysis(Verdict.INVALID, "malformed XML: no root element")
    except XmlRefused as exc:
        return Analysis(Verdict.INVALID, str(exc))
    except GpxProblem as exc:
        return Analysis(Verdict.INVALID, f"unreadable GPX: {exc}")
    finally:
        events.close()
    return _decide(state, times)


def _read(state: _Pass, times: PointTimes, events: Iterator[tuple[Event, Element, int]]) -> None:
    ns_len = len(state.ns)
    path = state.path
    for event, elem, depth in events:
        if depth == 1:
            break  # the root's end: the document is read
        tag = elem.tag
        ours = tag.startswith(state.ns) and (ns_len > 0 or not tag.startswith("{"))
        name = tag[ns_len:] if ours else ""
        if event == "start":
            path.append(name)
            if ours:
                _start(state, name, elem, depth)
        else:
            if ours:
                _end(state, times, name, elem, depth)
            path.pop()


def _start(state: _Pass, name: str, elem: Element, depth: int) -> None:
    where = state.path
    if depth == 4 and name == "trkpt" and where[:2] == ["trk", "trkseg"]:
        lat, lon = _position(elem)
        if state.previous is not None:
            step = gpx_distance(lat, lon, None, state.previous[0], state.previous[1], None)
            if step:
                state.segment_length += step
        state.previous = (lat, lon)
        state.point_time, state.point_has_time = None, False
    elif depth == 2 and name == "trk":
        state.tracks += 1
        state.track_length, state.track_typed = 0.0, False
    elif depth == 3 and name == "trkseg" and where[0] == "trk":
        state.segment_length, state.previous = 0.0, None
    elif depth == 2 and name == "rte":
        state.routes += 1
    elif depth == 3 and name == "rtept" and where[0] == "rte":
        _position(elem)
        state.route_points += 1
    elif depth == 2 and name == "wpt":
        _position(elem)
        state.waypoints += 1


def _end(state: _Pass, times: PointTimes, name: str, elem: Element, depth: int) -> None:
    where = state.path
    if depth == 5 and where[:3] == ["trk", "trkseg", "trkpt"]:
        if name == "time" and not state.point_has_time:
            state.point_time, state.point_has_time = elem.text, True
        elif name == "ele" and elem.text is not None:
            _number("ele", elem.text)
    elif depth == 4 and name == "trkpt" and where[:2] == ["trk", "trkseg"]:
        text = state.point_time
        times.add(utc(TIME_TYPE.from_string(text) if text is not None else None))
    elif depth == 3 and name == "trkseg" and where[0] == "trk":
        if state.segment_length:
            state.track_length += state.segment_length
    elif depth == 3 and name == "type" and where[0] == "trk" and not state.track_typed:
        state.track_typed = True  # gpxpy reads a track's first <type> only
        if state.sport is None and elem.text and elem.text.strip():
            state.sport = elem.text
    elif depth == 2 and name == "trk" and state.track_length:
        state.total += state.track_length


def _position(elem: Element) -> tuple[float, float]:
    """A point's required ``lat`` and ``lon``, in gpxpy's words when one is not a number."""
    values = []
    for name, attribute in (("latitude", "lat"), ("longitude", "lon")):
        text = elem.get(attribute)
        if text is None:
            raise GpxProblem(f"{name} is mandatory in None (got None)")
        values.append(_number(None, text))
    return values[0], values[1]


def _number(tag: str | None, text: str) -> float:
    """A float as gpxpy reads it; its own words when it cannot."""
    try:
        return float(text.strip())
    except ValueError as exc:
        raise GpxProblem(f"Invalid value for <{tag}>... {text} ({exc})") from exc


def _decide(state: _Pass, times: PointTimes) -> Analysis:
    shape = GpxShape(
        tracks=state.tracks, routes=state.routes, route_points=state.route_points,
        waypoints=state.waypoints, sport=state.sport, creator=state.creator,
        distance_m=state.total if times.points else None)
    return gpx_verdict(shape, times)
