"""The seams between the engine and the outside: what it needs of Strava and the governor.

Owns the two :class:`~typing.Protocol` s the engine, the transfer and the follower are
written against: :class:`UploadClient` (:class:`stravasync.strava.client.StravaClient`, or a
test double) and :class:`RateGovernor` (:class:`stravasync.strava.governor.Governor`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping

    from stravasync.strava.client import ActivitySummary, Upload
    from stravasync.strava.governor import RequestKind

__all__ = ["RateGovernor", "UploadClient"]


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
