"""Owns what a GPX's shape means: one verdict, whether gpxpy or the streaming pass read it.

Both readers (:mod:`stravasync.validate.gpx` with gpxpy, and
:mod:`stravasync.validate.gpxstream` for files over gpxpy's comfortable size) reduce a
file to a :class:`GpxShape` and its track points' :class:`PointTimes`; the verdict,
its words and the facts come from here, so the two can never disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from stravasync.validate.result import Analysis, Facts, Verdict
from stravasync.validate.sports import normalise_sport
from stravasync.validate.track_times import PointTimes

__all__ = ["GpxShape", "gpx_verdict", "utc"]


@dataclass(frozen=True)
class GpxShape:
    """What a GPX holds, counted."""

    tracks: int
    routes: int
    route_points: int
    waypoints: int
    sport: str | None
    """The first track's first non-blank ``<type>``."""
    creator: str | None
    distance_m: float | None
    """The tracks' 2-D length; None when there are no track points."""


def utc(value: datetime | None) -> datetime | None:
    """A point's time in UTC (a naive time is taken as UTC, as gpxpy gives it)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def gpx_verdict(shape: GpxShape, times: PointTimes) -> Analysis:
    """The verdict on a GPX of this shape whose track points have these times."""
    distance = shape.distance_m
    facts = Facts(
        start_time=times.start,
        sport=normalise_sport(shape.sport),
        duration_s=times.duration,
        distance_m=round(distance, 1) if distance is not None and math.isfinite(distance) else None,
        points=times.points,
        device=shape.creator,
    )
    if times.points == 0:
        return _without_points(shape, facts)
    problem = times.problem("track points")
    if problem:
        return Analysis(Verdict.INVALID, problem, facts)
    return Analysis(Verdict.OK, None, facts)


def _without_points(shape: GpxShape, facts: Facts) -> Analysis:
    if shape.tracks:
        return Analysis(Verdict.INVALID, f"GPX has {shape.tracks} track(s) but no track points")
    what = []
    if shape.routes:
        what.append(f"{shape.routes} route(s) with {shape.route_points} points")
    if shape.waypoints:
        what.append(f"{shape.waypoints} waypoint(s)")
    if what:
        return Analysis(
            Verdict.SKIP,
            "not an activity: GPX holds " + " and ".join(what) + " but no recorded track",
            facts,
        )
    return Analysis(Verdict.SKIP, "not an activity: GPX holds no track", facts)
