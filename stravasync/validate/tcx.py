"""TCX: an Activity with timed Trackpoints is an activity; Courses and Workouts are not.

Read in one streaming pass over the safe parser (``xmlsafe.walk``): an 8 MB file
never exists as a tree, only the current Trackpoint does. Trackpoints count only
inside ``Activity`` (a Course has timed trackpoints too). Namespaces are ignored.

Verdicts: timed trackpoints (``track_times.PointTimes`` rule) -> ok; laps without any
trackpoint, or too few times -> invalid (Strava needs per-point time); no Activity
-> skip, naming what the file holds instead (course, workout).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from xml.etree.ElementTree import Element

from stravasync.validate.result import Analysis, Facts, Verdict
from stravasync.validate.sports import normalise_sport
from stravasync.validate.timestamps import haversine_m, parse_float, parse_xml_time, window
from stravasync.validate.track_times import PointTimes
from stravasync.validate.xmlsafe import Event, local

__all__ = ["analyse_tcx"]


@dataclass
class _Tally:
    """Mutable state of one streaming pass."""

    activities: int = 0
    courses: int = 0
    workouts: int = 0
    laps: int = 0
    multisport: bool = False
    sports: tuple[str, ...] = ()
    creator: str | None = None
    lap_distance: float = 0.0
    point_distance: float | None = None
    track_distance: float = 0.0
    # open elements (their depth; 0 = not inside one)
    activity: int = 0
    lap: int = 0
    point: int = 0
    creator_at: int = 0
    position: int = 0
    # current trackpoint
    time: datetime | None = None
    lat: float | None = None
    lon: float | None = None
    prev: tuple[float, float] | None = None


def analyse_tcx(
    root: Element,
    events: Iterator[tuple[Event, Element, int]],
    *,
    now: datetime | None,
) -> Analysis:
    """Judge a TCX document from its root and the rest of its event stream."""
    del root  # the root carries nothing we need
    times = PointTimes(*window(now))
    t = _Tally()
    for event, elem, depth in events:
        name = local(elem.tag)
        if event == "start":
            _start(t, name, elem, depth)
        else:
            _end(t, times, name, elem, depth)
    return _decide(t, times)


def _start(t: _Tally, name: str, elem: Element, depth: int) -> None:
    if name == "Trackpoint" and t.activity:
        t.point, t.time, t.lat, t.lon = depth, None, None, None
    elif name == "Position" and t.point:
        t.position = depth
    elif name == "Lap" and t.activity:
        t.lap = depth
        t.laps += 1
    elif name == "Activity":
        t.activity = depth
        t.activities += 1
        sport = elem.get("Sport")
        if sport:
            t.sports += (sport,)
    elif name == "Creator" and t.activity and depth == t.activity + 1:
        t.creator_at = depth
    elif name == "MultiSportSession":
        t.multisport = True
    elif name == "Course":
        t.courses += 1
    elif name == "Workout":
        t.workouts += 1


def _end(t: _Tally, times: PointTimes, name: str, elem: Element, depth: int) -> None:
    if t.point:
        _end_in_point(t, times, name, elem, depth)
    elif name == "DistanceMeters" and t.lap and depth == t.lap + 1:
        t.lap_distance += parse_float(elem.text) or 0.0
    elif name == "Track":
        t.prev = None
    elif name == "Lap":
        t.lap = 0
    elif name == "Name" and t.creator_at and depth == t.creator_at + 1:
        t.creator = (elem.text or "").strip() or None
    elif name == "Creator":
        t.creator_at = 0
    elif name == "Activity":
        t.activity = 0


def _end_in_point(t: _Tally, times: PointTimes, name: str, elem: Element, depth: int) -> None:
    if name == "Trackpoint":
        t.point = 0
        times.add(t.time)
        if t.lat is not None and t.lon is not None:
            if t.prev is not None:
                t.track_distance += haversine_m(t.prev[0], t.prev[1], t.lat, t.lon)
            t.prev = (t.lat, t.lon)
    elif depth == t.point + 1:
        if name == "Time":
            t.time = parse_xml_time(elem.text)
        elif name == "DistanceMeters":
            value = parse_float(elem.text)
            if value is not None and (t.point_distance is None or value > t.point_distance):
                t.point_distance = value
        elif name == "Position":
            t.position = 0
    elif t.position and depth == t.position + 1:
        if name == "LatitudeDegrees":
            t.lat = parse_float(elem.text)
        elif name == "LongitudeDegrees":
            t.lon = parse_float(elem.text)


def _decide(t: _Tally, times: PointTimes) -> Analysis:
    sports = {normalise_sport(s) for s in t.sports}
    if t.multisport or len(sports) > 1:
        sport: str | None = "multisport"
    else:
        sport = normalise_sport(t.sports[0]) if t.sports else None
    if t.lap_distance > 0:
        distance: float | None = t.lap_distance
    elif t.point_distance is not None:
        distance = t.point_distance
    else:
        distance = t.track_distance if times.points else None
    facts = Facts(
        start_time=times.start,
        sport=sport,
        duration_s=times.duration,
        distance_m=round(distance, 1) if distance is not None else None,
        points=times.points,
        device=t.creator,
    )
    if not t.activities:
        if t.courses:
            return Analysis(Verdict.SKIP, f"not an activity: TCX course ({t.courses})", facts)
        if t.workouts:
            return Analysis(Verdict.SKIP, f"not an activity: TCX workout ({t.workouts})", facts)
        return Analysis(Verdict.SKIP, "not an activity: TCX holds no Activity", facts)
    if times.points == 0:
        laps = f"{t.laps} lap(s) but " if t.laps else ""
        return Analysis(
            Verdict.INVALID,
            f"TCX activity has {laps}no trackpoints: Strava needs timed trackpoints",
            facts,
        )
    problem = times.problem("trackpoints")
    if problem:
        return Analysis(Verdict.INVALID, problem, facts)
    return Analysis(Verdict.OK, None, facts)
