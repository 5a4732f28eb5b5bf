"""GPX: a track with timed points is an activity; routes and waypoints are not.

Read in one streaming pass over the safe parser (``xmlsafe.walk``), namespace-blind
so GPX 1.0, 1.1 and writers with a wrong namespace all read the same. gpxpy is not
used: it would build a second full document (and parses TCX or gzip as an empty or
undecodable GPX); the safety checks and the facts come from this one pass.

Verdicts: track points, enough of them timed (``timing.Timing``) -> ok; too few times
-> invalid; track(s) with no points -> invalid; routes/waypoints only, or nothing
at all -> skip.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from xml.etree.ElementTree import Element

from stravasync.validate.result import Analysis, Facts, Verdict
from stravasync.validate.sports import normalise_sport
from stravasync.validate.times import haversine_m, parse_float, parse_xml_time, window
from stravasync.validate.timing import Timing
from stravasync.validate.xmlsafe import Event, local

__all__ = ["analyse_gpx"]


@dataclass
class _Tally:
    """Mutable state of one streaming pass."""

    timing: Timing
    tracks: int = 0
    routes: int = 0
    route_points: int = 0
    waypoints: int = 0
    sport_word: str | None = None
    distance: float = 0.0
    prev: tuple[float, float] | None = None
    point_time: datetime | None = None
    point_depth: int = 0  # depth of the open trkpt, 0 outside one

    def start(self, name: str, depth: int) -> None:
        if name == "trkseg":
            self.prev = None
        elif name == "trkpt":
            self.point_time = None
            self.point_depth = depth

    def end(self, name: str, elem: Element, depth: int) -> None:
        if name == "time":
            if self.point_depth and depth == self.point_depth + 1:
                self.point_time = parse_xml_time(elem.text)
        elif name == "trkpt":
            self.end_point(elem)
        elif name == "type" and depth == 3 and self.sport_word is None:
            self.sport_word = (elem.text or "").strip() or None
        elif name == "trk":
            self.tracks += 1
        elif name == "rtept":
            self.route_points += 1
        elif name == "rte":
            self.routes += 1
        elif name == "wpt" and depth == 2:
            self.waypoints += 1

    def end_point(self, elem: Element) -> None:
        self.point_depth = 0
        self.timing.add(self.point_time)
        lat, lon = parse_float(elem.get("lat")), parse_float(elem.get("lon"))
        if lat is not None and lon is not None:
            if self.prev is not None:
                self.distance += haversine_m(self.prev[0], self.prev[1], lat, lon)
            self.prev = (lat, lon)


def analyse_gpx(
    root: Element,
    events: Iterator[tuple[Event, Element, int]],
    *,
    now: datetime | None,
) -> Analysis:
    """Judge a GPX document from its root and the rest of its event stream."""
    t = _Tally(Timing(*window(now)))
    for event, elem, depth in events:
        if event == "start":
            t.start(local(elem.tag), depth)
        else:
            t.end(local(elem.tag), elem, depth)
    return _decide(t, creator=root.get("creator"))


def _decide(t: _Tally, *, creator: str | None) -> Analysis:
    timing = t.timing
    facts = Facts(
        start_time=timing.start,
        sport=normalise_sport(t.sport_word),
        duration_s=timing.duration,
        distance_m=round(t.distance, 1) if timing.points else None,
        points=timing.points,
        device=creator,
    )
    if timing.points == 0:
        if t.tracks:
            return Analysis(Verdict.INVALID, f"GPX has {t.tracks} track(s) but no track points")
        if t.routes or t.waypoints:
            what = []
            if t.routes:
                what.append(f"{t.routes} route(s) with {t.route_points} points")
            if t.waypoints:
                what.append(f"{t.waypoints} waypoint(s)")
            return Analysis(
                Verdict.SKIP,
                "not an activity: GPX holds " + " and ".join(what) + " but no recorded track",
                facts,
            )
        return Analysis(Verdict.SKIP, "not an activity: GPX holds no track", facts)
    problem = timing.problem("track points")
    if problem:
        return Analysis(Verdict.INVALID, problem, facts)
    return Analysis(Verdict.OK, None, facts)
