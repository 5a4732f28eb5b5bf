"""The seams between the engine and the outside: what it needs of Strava and the governor.

Owns the :class:`~typing.Protocol` s the engine, the transfer and the follower are
written against: :class:`UploadClient` (:class:`stravasync.strava.client.StravaClient`, or a
test double) and :class:`RateGovernor` (:class:`stravasync.strava.governor.Governor`); the
engine's two steps, :class:`PostStep` (Strava's transfer, or intervals.icu's POST) and
:class:`FollowStep` (Strava's follower, or nothing to follow); and
:class:`IntervalsUploads` (:class:`stravasync.intervals.client.IntervalsClient`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import date

    from stravasync.intervals.client import IntervalsActivity, IntervalsAthlete
    from stravasync.strava.client import ActivitySummary, Upload
    from stravasync.strava.governor import RequestKind

__all__ = ["FollowStep", "IntervalsUploads", "PostStep", "RateGovernor", "UploadClient"]


class UploadClient(Protocol):
    """What the engine needs of :class:`stravasync.strava.client.StravaClient`."""

    def create_upload(
        self, *, data: bytes, data_type: str, external_id: str, name: str | None = None,
        description: str | None = None, trainer: bool = False, commute: bool = False,
        reserve: int = 0,
    ) -> Upload:
        """POST /uploads."""
        ...

    def get_upload(self, upload_id: str) -> Upload:
        """GET /uploads/{id}."""
        ...

    def list_activities(
        self, *, after: int | None, before: int | None, page: int = 1, per_page: int = 200
    ) -> list[ActivitySummary]:
        """GET /athlete/activities."""
        ...

    def update_activity(self, activity_id: int, fields: Mapping[str, object]) -> None:
        """PUT /activities/{id}."""
        ...

    def can_list(self) -> bool:
        """Whether the sign-in may list private activities (activity:read_all)."""
        ...

    def list_access(self) -> str:
        """``granted``, ``unknown`` (scope not known), ``refused`` or ``missing``."""
        ...


class RateGovernor(Protocol):
    """What the engine needs of :class:`stravasync.strava.governor.Governor`."""

    def decide(
        self, kind: RequestKind, *, now: float | None = None, reserve: int = 0
    ) -> float | None:
        """None = go now; else the time before which not to send."""
        ...

    def reads_left(self, *, now: float | None = None) -> int:
        """Reads that fit in every window now."""
        ...

    def hold_uploads(self, *, until: float, reserve: int, now: float | None = None) -> None:
        """No upload goes before ``until``: say so (``status``, the log)."""
        ...


class PostStep(Protocol):
    """The engine's POST of one due workout: claimed first, its answer recorded at once."""

    def post(self, sha: str) -> bool | None:
        """POST the workout ``sha`` if it is still due.

        True when the POST reached the service (it took an upload slot of the app),
        False when nothing was sent; None: not said (a service without shared slots).
        """
        ...


class FollowStep(Protocol):
    """The engine's looks after a POST: polls, batch lists and activity updates."""

    @property
    def next_look_at(self) -> float:
        """When the next batch look may go."""
        ...

    def batching(self) -> bool:
        """Whether uploads in flight are followed by one list instead of polls."""
        ...

    def follow(self) -> None:
        """One batch look."""
        ...

    def poll(self, sha: str) -> object:
        """One poll of the upload of ``sha``."""
        ...

    def update(self, sha: str) -> None:
        """The activity update of ``sha``."""
        ...

    def waiting_for_list(self) -> int:
        """Uploads in flight holding no POST slot now (ripe ones waiting for a list)."""
        ...


class IntervalsUploads(Protocol):
    """What intervals.icu POSTs need of :class:`~stravasync.intervals.client.IntervalsClient`."""

    def upload(self, *, data: bytes, filename: str, external_id: str,
               name: str | None = None, description: str | None = None) -> IntervalsActivity:
        """POST /athlete/{id}/activities."""
        ...

    def activities(self, *, oldest: date, newest: date) -> list[IntervalsActivity]:
        """GET /athlete/{id}/activities?oldest=&newest=."""
        ...

    def athlete(self) -> IntervalsAthlete:
        """GET /athlete/{id}: whose key it is."""
        ...
