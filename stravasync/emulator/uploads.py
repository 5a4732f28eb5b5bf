"""Uploads, their processing, and the activities they become.

Processing runs on the clock, not on polls: an upload's fate (processing time, stuck,
deleted, duplicate wording) is drawn when it is created, and `settle(now)` finishes
every upload whose time has come, in the order they finish — so two copies of one
file in flight end as one activity and one duplicate, whoever polls first. Not
thread-safe: the emulator state calls it under its lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from stravasync.emulator.config import (
    STATUS_DELETED,
    STATUS_ERROR,
    STATUS_PROCESSING,
    STATUS_READY,
)

Outcome = Literal["processing", "ready", "duplicate", "error", "deleted"]


def iso_z(moment: float) -> str:
    """Unix time as Strava writes it: ISO 8601 in UTC with a Z."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Activity:
    """An activity the emulator holds."""

    id: int
    athlete_id: int
    sha256: str
    name: str
    created_at: float
    upload_id: int | None = None
    external_id: str | None = None
    """What Strava shows as the activity's external_id (the upload's echo of it)."""
    deleted: bool = False
    start_date: float | None = None
    """The workout's start (Unix time, from the file), else the creation time."""
    private: bool = False
    description: str | None = None
    sport_type: str = "Ride"
    gear_id: str | None = None
    trainer: bool = False
    commute: bool = False
    hide_from_home: bool = False
    updates: list[dict[str, Any]] = field(default_factory=list)
    """Every PUT that reached this activity: time, fields sent, status, applied."""

    @property
    def start(self) -> float:
        """The start time used for `after`/`before` and `start_date`."""
        return self.created_at if self.start_date is None else self.start_date

    def snapshot(self) -> dict[str, Any]:
        """Everything about the activity, for inspection."""
        result = {k: v for k, v in vars(self).items() if k != "updates"}
        result["start_date"] = iso_z(self.start)
        result["start_time"] = self.start
        result["updates"] = [dict(u, fields=dict(u["fields"])) for u in self.updates]
        return result


@dataclass
class ServerUpload:
    """One upload and its processing, as Strava keeps it (the client's view is
    ``stravasync.strava.client.Upload``)."""

    id: int
    athlete_id: int
    data_type: str
    filename: str
    external_id: str | None
    external_id_echo: str | None
    sha256: str
    size: int
    content_error: str | None
    created_at: float
    ready_at: float
    deleted_fate: bool = False
    html_duplicate: bool = False
    stuck: bool = False
    dropped: bool = False
    name: str | None = None
    description: str | None = None
    trainer: bool = False
    commute: bool = False
    sport_type: str | None = None
    """A valid `sport_type` sent with the upload (Strava's newer guide lists it)."""
    start_time: float | None = None
    """The workout's start read from the content."""
    private_fate: bool = False
    """Whether the activity it becomes is private."""
    outcome: Outcome = "processing"
    error: str | None = None
    activity_id: int | None = None
    polls: int = 0

    def public(self) -> dict[str, object]:
        """The Upload object Strava answers with."""
        status = {
            "processing": STATUS_PROCESSING,
            "ready": STATUS_READY,
            "duplicate": STATUS_ERROR,
            "error": STATUS_ERROR,
            "deleted": STATUS_DELETED,
        }[self.outcome]
        return {
            "id": self.id,
            "id_str": str(self.id),
            "external_id": self.external_id_echo,
            "error": self.error,
            "status": status,
            "activity_id": self.activity_id,
        }

    def snapshot(self) -> dict[str, object]:
        """Everything about the upload, for inspection."""
        return {
            **self.public(),
            "state": self.outcome,
            "athlete_id": self.athlete_id,
            "external_id_sent": self.external_id,
            "data_type": self.data_type,
            "filename": self.filename,
            "name": self.name,
            "description": self.description,
            "trainer": self.trainer,
            "commute": self.commute,
            "sport_type": self.sport_type,
            "sha256": self.sha256,
            "size": self.size,
            "created_at": self.created_at,
            "ready_at": self.ready_at,
            "stuck": self.stuck,
            "dropped": self.dropped,
            "polls": self.polls,
        }


def duplicate_text(name: str, activity_id: int, *, html: bool) -> str:
    """The duplicate error in its plain or HTML form."""
    if html:
        return (
            f"{name} duplicate of <a href='/activities/{activity_id}' "
            f"target='_blank'>activity {activity_id}</a>"
        )
    return f"{name} duplicate of activity {activity_id}"


class UploadBook:
    """Every upload and activity."""

    def __init__(self, *, upload_id_start: int, activity_id_start: int) -> None:
        self.uploads: dict[int, ServerUpload] = {}
        self.activities: dict[int, Activity] = {}
        self._next_upload = upload_id_start
        self._next_activity = activity_id_start

    def next_upload_id(self) -> int:
        """Reserve the next upload id."""
        upload_id = self._next_upload
        self._next_upload += 1
        return upload_id

    def first_of(self, athlete_id: int) -> ServerUpload | None:
        """The athlete's first upload, or None."""
        mine = [u for u in self.uploads.values() if u.athlete_id == athlete_id]
        return min(mine, key=lambda u: u.id) if mine else None

    def add(self, upload: ServerUpload) -> None:
        """Record a new upload."""
        self.uploads[upload.id] = upload

    def add_activity(
        self,
        *,
        athlete_id: int,
        sha256: str,
        name: str,
        now: float,
        upload_id: int | None = None,
        external_id: str | None = None,
        deleted: bool = False,
        start_date: float | None = None,
        private: bool = False,
    ) -> Activity:
        """Create an activity (from an upload, or seeded by a test)."""
        activity = Activity(
            id=self._next_activity,
            athlete_id=athlete_id,
            sha256=sha256,
            name=name,
            created_at=now,
            upload_id=upload_id,
            external_id=external_id,
            deleted=deleted,
            start_date=start_date,
            private=private,
        )
        self._next_activity += 1
        self.activities[activity.id] = activity
        return activity

    def find_duplicate(self, *, athlete_id: int, sha256: str) -> Activity | None:
        """The athlete's existing, non-deleted activity with this content."""
        for activity in self.activities.values():
            same = activity.athlete_id == athlete_id and activity.sha256 == sha256
            if same and not activity.deleted:
                return activity
        return None

    def settle(self, now: float) -> int:
        """Finish every upload whose processing is over at `now`; return how many."""
        due = [u for u in self.uploads.values() if u.outcome == "processing" and u.ready_at <= now]
        due.sort(key=lambda u: (u.ready_at, u.id))
        for upload in due:
            self._finish(upload)
        return len(due)

    def _finish(self, upload: ServerUpload) -> None:
        if upload.content_error is not None:
            upload.outcome, upload.error = "error", upload.content_error
            return
        existing = self.find_duplicate(athlete_id=upload.athlete_id, sha256=upload.sha256)
        if existing is not None:
            upload.outcome = "duplicate"
            upload.error = duplicate_text(upload.filename, existing.id, html=upload.html_duplicate)
            return
        activity = self.add_activity(
            athlete_id=upload.athlete_id,
            sha256=upload.sha256,
            name=upload.name or upload.filename,
            now=upload.ready_at,
            upload_id=upload.id,
            external_id=upload.external_id_echo,
            deleted=upload.deleted_fate,
            start_date=upload.start_time,
            private=upload.private_fate,
        )
        activity.description = upload.description
        activity.trainer, activity.commute = upload.trainer, upload.commute
        activity.sport_type = upload.sport_type or activity.sport_type
        if upload.deleted_fate:
            upload.outcome = "deleted"
        else:
            upload.outcome, upload.activity_id = "ready", activity.id

    def counts(self) -> dict[str, int]:
        """How many uploads are in each outcome."""
        result = dict.fromkeys(("processing", "ready", "duplicate", "error", "deleted"), 0)
        for upload in self.uploads.values():
            result[upload.outcome] += 1
        return result
