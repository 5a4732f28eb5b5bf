"""Tallying the timed samples of a GPX/TCX track and judging whether they suffice.

Strava needs a time on every point of a GPX/TCX track. Exports from real devices
sometimes lose a few (GPSBabel merges, paused segments), so the rule is: at least
two points with a plausible time, timed points at least half of all points, and
the times must not all be the same instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from stravasync.validate.result import iso_z

__all__ = ["Timing"]


@dataclass
class Timing:
    """Running tally of point times (mutable: filled while streaming)."""

    earliest: float
    latest: float
    points: int = 0
    timed: int = 0
    implausible: int = 0
    first: float | None = None
    last: float | None = None
    example_bad: datetime | None = field(default=None)

    def add(self, when: datetime | None) -> None:
        """Count one point and its time (None when it has none or it is unreadable)."""
        self.points += 1
        if when is None:
            return
        stamp = when.timestamp()
        if not self.earliest <= stamp <= self.latest:
            self.implausible += 1
            if self.example_bad is None:
                self.example_bad = when
            return
        self.timed += 1
        if self.first is None or stamp < self.first:
            self.first = stamp
        if self.last is None or stamp > self.last:
            self.last = stamp

    @property
    def start(self) -> datetime | None:
        """The earliest plausible time."""
        return None if self.first is None else datetime.fromtimestamp(self.first, UTC)

    @property
    def duration(self) -> float | None:
        """Seconds from the earliest to the latest plausible time."""
        if self.first is None or self.last is None:
            return None
        return self.last - self.first

    def problem(self, what: str) -> str | None:
        """Why these times cannot make a dated activity, or None when they can."""
        bad = ""
        if self.implausible and self.example_bad is not None:
            bad = f"; {self.implausible} carry an impossible time (e.g. {iso_z(self.example_bad)})"
        if self.timed < 2:
            return (
                f"{self.timed} of {self.points} {what} carry a usable time{bad}: "
                "Strava needs timed points to date the activity"
            )
        if self.timed * 2 < self.points:
            return (
                f"only {self.timed} of {self.points} {what} carry a usable time{bad}: "
                "Strava needs a time on every point"
            )
        if self.first == self.last:
            return f"all {self.timed} timed {what} share one instant: no duration to upload"
        return None
