"""Tallying the times of a GPX/TCX track's points and judging whether they suffice.

Strava needs a time on every point of a GPX/TCX track. Exports from real devices
sometimes lose a few (GPSBabel merges, paused segments), so the rule is: at least
two points with a plausible time, timed points at least half of all points, and
the times must not all be the same instant.

When the times do not suffice, the reason names the cause: no times at all, a
single point, placeholder times (``timestamps.is_placeholder``: the device clock was not
set), times in the future, times too early to be real.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from stravasync.validate.result import iso_z
from stravasync.validate.timestamps import is_placeholder

__all__ = ["PointTimes"]


@dataclass
class PointTimes:
    """Running tally of the times of a track's points (mutable: filled while reading)."""

    earliest: float
    """Earliest plausible time, Unix seconds (see ``timestamps.window``)."""
    latest: float
    """Latest plausible time, Unix seconds."""
    points: int = 0
    timed: int = 0
    future: int = 0
    early: int = 0
    placeholders: int = 0
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
            if stamp > self.latest:
                self.future += 1
            elif is_placeholder(stamp):
                self.placeholders += 1
            else:
                self.early += 1
            if self.example_bad is None:
                self.example_bad = when
            return
        self.timed += 1
        if self.first is None or stamp < self.first:
            self.first = stamp
        if self.last is None or stamp > self.last:
            self.last = stamp

    @property
    def implausible(self) -> int:
        """Points whose time cannot be real (placeholder, future or too early)."""
        return self.future + self.early + self.placeholders

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
        if self.timed < 2:
            return self._too_few(what)
        if self.timed * 2 < self.points:
            return (
                f"only {self.timed} of {self.points} {what} carry a usable time{self._bad()}: "
                "Strava needs a time on every point"
            )
        if self.first == self.last:
            return f"all {self.timed} timed {what} share one instant: no duration to upload"
        return None

    def _too_few(self, what: str) -> str:
        """Why fewer than two points carry a usable time, in the words for its cause."""
        if self.points == 1 and self.timed == 1:
            return "the track has a single point: no duration to upload"
        if self.implausible == 0:
            some = "none" if self.timed == 0 else "only 1"
            return (
                f"{some} of {self.points} {what} carries a time: Strava needs a time on every point"
            )
        if self.placeholders == self.points:
            return (
                f"all {self.points} {what} carry a placeholder time "
                f"({self._example()}, not a real date): the device clock was not set"
            )
        return (
            f"{self.timed} of {self.points} {what} carry a usable time{self._bad()}: "
            "Strava needs timed points to date the activity"
        )

    def _example(self) -> str:
        return iso_z(self.example_bad) if self.example_bad is not None else "?"

    def _bad(self) -> str:
        """The implausible times, each cause in its own words (empty when there are none)."""
        parts = []
        if self.placeholders:
            parts.append(f"{self.placeholders} a placeholder time (the device clock was not set)")
        if self.future:
            parts.append(
                f"{self.future} a time in the future (check the device's clock and this computer's)"
            )
        if self.early:
            parts.append(f"{self.early} a time too early to be real")
        if not parts:
            return ""
        return f"; {', '.join(parts)}, e.g. {self._example()}"
