"""The values the state store hands out: file states, workout rows, status rows.

Everything here is a frozen value with no behaviour beyond small derived properties;
the store builds them from SQLite rows and nothing else mutates them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stravasync.fsutil import shown
from stravasync.models import State
from stravasync.validate.result import Facts

__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATES",
    "FRESH_S",
    "FileFacts",
    "FileStatus",
    "PathRecord",
    "State",
    "Workout",
    "is_fresh",
]


#: States that need no more work (``retry`` can still revive ``rejected``).
FINAL_STATES = frozenset(
    {State.UPLOADED, State.DUPLICATE, State.INVALID, State.REJECTED, State.SKIPPED}
)
#: States the engine still has work for (``updating``: the activity's update is due).
ACTIVE_STATES = frozenset({State.QUEUED, State.UPLOADING, State.RETRYING, State.UPDATING})
#: A workout that started this recently (seconds) is *fresh*: it is sent before the backlog.
FRESH_S = 48 * 3600.0


def is_fresh(start_time: float | None, *, now: float) -> bool:
    """Whether a workout that started at ``start_time`` is fresh at ``now`` (unknown: no)."""
    return start_time is not None and start_time >= now - FRESH_S


@dataclass(frozen=True)
class FileFacts:
    """What ingesting one file found: the verdict, and the file's own facts (``facts``)."""

    sha256: str
    """Hash of the decompressed, repaired payload (ok) or of the raw bytes (otherwise)."""
    state: State
    """``queued``, ``invalid`` or ``skipped`` (the store may turn queued into duplicate)."""
    error: str | None = None
    """Why it is invalid or skipped."""
    reason_code: str | None = None
    """Machine-readable why: ``invalid``, ``not_activity``, ``too_old`` ..."""
    format: str | None = None
    """``fit``, ``gpx`` or ``tcx``, from the content."""
    gzipped: bool = False
    """The file on disk was gzip-compressed."""
    facts: Facts = field(default_factory=Facts)
    """What the file says of the workout (start, sport, device …), as validation read it."""

    @property
    def start_time(self) -> float | None:
        """Workout start, Unix seconds."""
        start = self.facts.start_time
        return start.timestamp() if start is not None else None

    @property
    def sport(self) -> str | None:
        """Normalised sport."""
        return self.facts.sport

    @property
    def sub_sport(self) -> str | None:
        """Finer sport label."""
        return self.facts.sub_sport

    @property
    def duration_s(self) -> float | None:
        """Elapsed seconds."""
        return self.facts.duration_s

    @property
    def distance_m(self) -> float | None:
        """Distance in metres."""
        return self.facts.distance_m

    @property
    def points(self) -> int | None:
        """Number of samples."""
        return self.facts.points

    @property
    def device(self) -> str | None:
        """Recording device or application."""
        return self.facts.device


@dataclass(frozen=True)
class Workout:
    """One workout content (one row per sha256) and where its upload stands."""

    sha256: str
    """Content hash: the row's identity."""
    state: State
    """Where it stands."""
    path: str
    """Where the content is read from (the first path it was seen at, or its archive)."""
    format: str | None
    """``fit``, ``gpx`` or ``tcx``."""
    start_time: float | None
    """Workout start, Unix seconds."""
    sport: str | None
    """Normalised sport."""
    error: str | None
    """Why it is invalid/skipped/rejected/retrying; Strava's words verbatim where from Strava."""
    reason_code: str | None
    """Machine-readable reason (``too_old``, ``changed``, ``same_workout`` ...)."""
    upload_id: str | None
    """Strava's upload id, stored as soon as the POST is answered."""
    activity_id: int | None
    """The activity, stored before any archive or delete of the file."""
    external_id: str | None
    """Our external_id, stored before the POST."""
    duplicate_of: str | None
    """sha256 of the workout this one is the same workout as (another format)."""
    attempts: int
    """POSTs started."""
    failures: int
    """Consecutive transient failures (drives the backoff)."""
    polls: int
    """Polls of the current upload."""
    posting: bool
    """A POST was started and its answer is not recorded (a crash or a cut connection)."""
    maybe_posted: bool
    """An earlier POST's outcome is unknown: Strava may hold our activity already."""
    next_attempt_at: float | None
    """When to act on it next (POST, poll or retry); None = now."""
    posted_at: float | None
    """When Strava answered the POST with an upload id."""
    last_processing_s: float | None
    """Seconds after ``posted_at`` of the latest poll that saw it still processing."""
    parked: bool
    """Processing took too long: looked at rarely now."""
    owner: str | None
    """The process working on it (``host:pid@start``, see ``engine.owner_tag``), if any."""
    after_done: bool
    """``upload.after`` was carried out."""
    first_seen_at: float
    """When the content was first seen."""
    updated_at: float
    """Last change."""
    finished_at: float | None
    """When it reached a final state."""
    update_fields: dict[str, object] | None = None
    """``updating``: the ``PUT /activities/{id}`` fields still to send; None otherwise."""
    warning: str | None = None
    """A warning kept on a finished workout (e.g. Strava refused the update)."""
    after_error: str | None = None
    """Why the ``upload.after`` move last failed; None while none is owed."""
    after_failures: int = 0
    """Consecutive failures of that move (drives its backoff)."""
    after_next_at: float | None = None
    """When the owed move is tried again."""
    after_failed_at: float | None = None
    """When the owed move first failed."""

    @property
    def final(self) -> bool:
        """Nothing more to do for it."""
        return self.state in FINAL_STATES


@dataclass(frozen=True)
class PathRecord:
    """A path we have seen, with the size and mtime it had when we read it."""

    path: str
    """Absolute path (``str`` with ``surrogateescape``, as ``os`` gives it)."""
    size: int
    """Size in bytes when read."""
    mtime_ns: int
    """Modification time (ns) when read."""
    sha256: str | None
    """The content found there; None while pending."""
    error: str | None
    """Why it is still pending, if known (e.g. still being written)."""


@dataclass(frozen=True)
class FileStatus:
    """One entry of ``status --json`` ``files`` (SPEC's keys, in SPEC's order)."""

    path: str
    sha256: str | None
    state: State
    upload_id: str | None
    activity_id: int | None
    error: str | None
    attempts: int
    next_attempt_at: float | None
    updated_at: float | None = None
    """Last change (not part of the JSON; orders "recent errors")."""
    warning: str | None = None
    """A warning kept on a finished file (Strava refused the update of its activity)."""

    @property
    def shown_path(self) -> str:
        """The path for people: bytes that are not UTF-8 appear as ``\\xe4`` escapes."""
        return shown(self.path)

    def as_json(self) -> dict[str, object]:
        """SPEC's object, exactly (the path escaped where it is not UTF-8); ``warning``
        is added after SPEC's keys when the file has one."""
        entry: dict[str, object] = {
            "path": self.shown_path,
            "sha256": self.sha256,
            "state": self.state.value,
            "upload_id": self.upload_id,
            "activity_id": self.activity_id,
            "error": self.error,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at,
        }
        if self.warning is not None:
            entry["warning"] = self.warning
        return entry
