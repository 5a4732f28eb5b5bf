"""The validator's answer: a verdict, a reason, the facts, and the bytes to upload.

``ValidationResult`` is what every caller sees; ``Facts`` and ``Analysis`` are the
intermediate values the format readers hand back to ``validate_bytes``, which adds
what only it knows (gzip, repairs, payload and its hash).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Literal

__all__ = ["Analysis", "Facts", "Format", "ValidationResult", "Verdict", "iso_z"]

Format = Literal["fit", "gpx", "tcx"]


class Verdict(StrEnum):
    """What to do with a file: upload it, refuse it as broken, or leave it alone."""

    OK = "ok"
    INVALID = "invalid"
    SKIP = "skip"


@dataclass(frozen=True)
class Facts:
    """What a file says about the workout in it (every field may be unknown)."""

    start_time: datetime | None = None
    """Time of the first timed sample, UTC-aware."""
    sport: str | None = None
    """Normalised sport name (see ``stravasync.validate.sports``)."""
    sub_sport: str | None = None
    """The file's finer sport label where it has one (FIT ``sub_sport``), else None."""
    duration_s: float | None = None
    """Elapsed seconds from the first to the last timed sample."""
    distance_m: float | None = None
    """Distance in metres as the file states it (or as its positions add up to)."""
    points: int | None = None
    """Number of samples: FIT record messages, GPX track points, TCX trackpoints."""
    device: str | None = None
    """Device or writing application: FIT manufacturer/product, GPX creator, TCX Creator."""


@dataclass(frozen=True)
class Analysis:
    """A format reader's verdict on (already repaired, decompressed) content."""

    verdict: Verdict
    """The reader's verdict."""
    reason: str | None
    """Why, for invalid and skip; None or a note for ok."""
    facts: Facts = dataclasses.field(default_factory=Facts)
    """What the reader learned before it decided."""
    assumption: str | None = None
    """What the reader had to assume because the file does not say (e.g. a time zone)."""


def iso_z(value: datetime) -> str:
    """ISO-8601 in UTC with a ``Z`` suffix (``2024-05-01T07:30:00Z``)."""
    text = value.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


@dataclass(frozen=True)
class ValidationResult:
    """The verdict on one file, the facts read from it and, when ok, what to upload."""

    verdict: Verdict
    """ok (upload it), invalid (broken: never send) or skip (not an activity)."""
    reason: str | None
    """Why it is invalid or skipped (None for a plain ok)."""
    format: Format | None
    """Format judged from the content, not the name; None when unrecognisable."""
    gzipped: bool
    """The bytes given were gzip-compressed."""
    repaired: tuple[str, ...]
    """Fixes applied to the payload, e.g. ("leading whitespace", "ZZ timestamps")."""
    start_time: datetime | None
    """Time of the first timed sample, UTC-aware."""
    sport: str | None
    """Normalised sport (run, ride, swim, ...)."""
    sub_sport: str | None
    """Finer sport label where the format has one (FIT sub_sport)."""
    duration_s: float | None
    """Elapsed seconds, first to last timed sample."""
    distance_m: float | None
    """Distance in metres."""
    points: int | None
    """Number of samples (records, track points, trackpoints)."""
    device: str | None
    """Recording device or writing application."""
    payload: bytes | None
    """Decompressed, repaired bytes to upload (None unless ok)."""
    sha256: str | None
    """Hex sha256 of ``payload`` (None unless ok)."""
    assumption: str | None = None
    """What the facts rest on that the file does not say, e.g. the time zone used to
    place a start time given only in local time; None when nothing was assumed."""

    @classmethod
    def from_analysis(
        cls,
        analysis: Analysis,
        *,
        fmt: Format | None,
        gzipped: bool,
        repaired: tuple[str, ...] = (),
        payload: bytes | None = None,
        sha256: str | None = None,
    ) -> ValidationResult:
        """Assemble the public result; payload and hash are kept only for ok."""
        facts = analysis.facts
        ok = analysis.verdict is Verdict.OK
        return cls(
            verdict=analysis.verdict,
            reason=analysis.reason,
            format=fmt,
            gzipped=gzipped,
            repaired=repaired,
            start_time=facts.start_time,
            sport=facts.sport,
            sub_sport=facts.sub_sport,
            duration_s=facts.duration_s,
            distance_m=facts.distance_m,
            points=facts.points,
            device=facts.device,
            payload=payload if ok else None,
            sha256=sha256 if ok else None,
            assumption=analysis.assumption,
        )

    @classmethod
    def refused(
        cls, reason: str, *, verdict: Verdict = Verdict.INVALID, gzipped: bool = False
    ) -> ValidationResult:
        """A result for content we could not even attribute to a format."""
        return cls.from_analysis(Analysis(verdict, reason), fmt=None, gzipped=gzipped)

    @property
    def facts(self) -> Facts:
        """What the file says of the workout, as one value (the store keeps it)."""
        return Facts(start_time=self.start_time, sport=self.sport, sub_sport=self.sub_sport,
                     duration_s=self.duration_s, distance_m=self.distance_m,
                     points=self.points, device=self.device)

    def as_json(self, path: Path) -> dict[str, object]:
        """The ``stravasync check --json`` object for this file."""
        return {
            "path": str(path),
            "format": self.format,
            "verdict": self.verdict.value,
            "reason": self.reason,
            "repaired": list(self.repaired),
            "start_time": iso_z(self.start_time) if self.start_time else None,
            "sport": self.sport,
            "duration_s": self.duration_s,
            "distance_m": self.distance_m,
            "points": self.points,
            "device": self.device,
            "assumption": self.assumption,
        }

    def summary(self) -> str:
        """One human line: the reason for invalid/skip, the facts for ok."""
        parts: list[str] = []
        if self.reason:
            parts.append(self.reason)
        if self.verdict is Verdict.OK:
            parts.extend(self._fact_words())
            if self.repaired:
                parts.append("repaired: " + ", ".join(self.repaired))
        if self.assumption:
            parts.append(f"assumed: {self.assumption}")
        return "; ".join(parts) if parts else "-"

    def _fact_words(self) -> list[str]:
        words: list[str] = []
        head = " ".join(
            w
            for w in (
                self.format,
                self.sport + (f"/{self.sub_sport}" if self.sub_sport else "")
                if self.sport
                else None,
                iso_z(self.start_time) if self.start_time else None,
            )
            if w
        )
        if head:
            words.append(head)
        if self.duration_s is not None:
            minutes, seconds = divmod(round(self.duration_s), 60)
            hours, minutes = divmod(minutes, 60)
            words.append(f"{hours}:{minutes:02d}:{seconds:02d}")
        if self.distance_m is not None:
            words.append(f"{self.distance_m / 1000:.2f} km")
        if self.points is not None:
            words.append(f"{self.points} points")
        if self.device:
            words.append(self.device)
        return words
