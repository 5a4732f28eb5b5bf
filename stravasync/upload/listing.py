"""Whether uploads in flight are followed by activity lists or by single polls, and why.

Owns the follower's choice of way, and the words for it that ``status`` shows
(``follow_mode``, ``follow_reason``; kept in the store's meta table):

- ``activity:read_all`` granted: lists (one read settles many uploads);
- the scope unknown (a sign-in by bare code): lists are tried, and kept while they
  find what they should. A list misses an upload and its own poll then finds it an
  activity: the list cannot see it (private activities need ``activity:read_all``),
  so from then on each upload is polled;
- Strava refused a list for its scope, or ``activity:read_all`` is not granted: polls;
- a list answer that cannot be used (an entry it cannot read): polls, and no list
  before a backoff that grows with each such answer in a row.

Nothing here calls Strava but :meth:`Listing.access` asking the client what the
sign-in allows.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from stravasync.errors import StravaSyncError
from stravasync.logs import get_logger
from stravasync.strava.client import scope_allows_listing
from stravasync.upload.polling import Pacing, backoff_delay

if TYPE_CHECKING:
    from stravasync.state import Store
    from stravasync.upload.ports import UploadClient

__all__ = ["FOLLOW_MODE_KEY", "FollowMode", "Listing", "mode_for_scope", "read_follow_mode"]

log = get_logger(__name__)

FOLLOW_MODE_KEY = "follow_mode"
"""The store meta key of the :class:`FollowMode` in use."""
_ACCESS_RECHECK_S = 10.0

Access = Literal["granted", "unknown", "refused", "missing"]


@dataclass(frozen=True)
class FollowMode:
    """How uploads in flight are followed, and why (for ``status``)."""

    mode: Literal["list", "single"]
    """``list``: activity lists settle many at once; ``single``: one poll per upload."""
    why: str
    """Why, in words for the owner."""

    def dumps(self) -> str:
        """One line of JSON for the store's meta table."""
        return json.dumps({"mode": self.mode, "why": self.why})


def read_follow_mode(raw: str | None) -> FollowMode | None:
    """The :class:`FollowMode` kept in the store (``FollowMode.dumps`` text), or None."""
    try:
        data = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("mode") not in ("list", "single"):
        return None
    return FollowMode(mode=data["mode"], why=str(data.get("why") or ""))


_GRANTED = FollowMode("list", "activity:read_all is granted: one list call settles many uploads")
_UNKNOWN = FollowMode("list", "the granted scope is unknown (signed in with a bare code): "
                              "lists are tried while they find the uploads")
_BLIND = FollowMode("single", "a list missed an upload that was already an activity (private "
                              "activities are listed only with activity:read_all)")
_REFUSED = FollowMode("single", "Strava refused to list activities for this sign-in")
_MISSING = FollowMode("single", "activity:read_all is not granted (sign in again with "
                                "`stravasync auth` and allow private activities to be read, "
                                "for fewer calls)")


def mode_for_scope(scope: str | None) -> FollowMode:
    """The way a sign-in with ``scope`` (None: unknown) starts following uploads."""
    if not scope:
        return _UNKNOWN
    return _GRANTED if scope_allows_listing(scope) else _MISSING


class Listing:
    """The way one engine follows its uploads now (thread-safe)."""

    def __init__(
        self, *, client: UploadClient, store: Store, clock: Callable[[], float],
        timing: Pacing, rng: random.Random,
    ) -> None:
        self._client = client
        self._store = store
        self._clock = clock
        self._timing = timing
        self._rng = rng
        self._lock = threading.Lock()
        self._access: tuple[float, Access] = (float("-inf"), "missing")
        self._blind = False
        self._missed: set[str] = set()
        self._failures = 0
        self._resume_at = float("-inf")
        self._failure = ""
        self._published: FollowMode | None = None

    def access(self) -> Access:
        """What the sign-in allows (asked of the client every few seconds)."""
        checked, value = self._access
        now = time.monotonic()
        if now - checked >= _ACCESS_RECHECK_S:
            try:
                if self._client.can_list():
                    value = "granted"
                else:
                    told = self._client.list_access()
                    value = ("unknown" if told == "unknown" else
                             "refused" if told == "refused" else "missing")
            except StravaSyncError:
                value = "missing"
            self._access = (now, value)
        return value

    def current(self) -> FollowMode:
        """The way uploads are followed now, and why."""
        access = self.access()
        if access == "refused":
            return _REFUSED
        if access == "missing":
            return _MISSING
        with self._lock:
            if access == "unknown" and self._blind:
                return _BLIND
            if self._clock() < self._resume_at:
                until = time.strftime("%H:%M UTC", time.gmtime(self._resume_at))
                return FollowMode("single", f"the last list answer could not be used "
                                            f"({self._failure}); lists again from {until}")
        return _UNKNOWN if access == "unknown" else _GRANTED

    def can_list(self) -> bool:
        """Whether lists may settle uploads now."""
        return self.current().mode == "list"

    def refused(self) -> None:
        """Strava refused a list for this sign-in's scope: poll each upload instead."""
        self._access = (time.monotonic(), "refused")
        self.publish()

    def failed(self, error: str) -> None:
        """A list answer could not be used: poll, and no list before a growing backoff."""
        with self._lock:
            self._failures += 1
            self._resume_at = self._clock() + backoff_delay(self._failures, self._timing,
                                                            self._rng)
            self._failure = error
            resume_at = self._resume_at
        log.warning("activity_list_failed", error=error, lists_again_at=resume_at)
        self.publish()

    def answered(self) -> None:
        """A list answer was used: lists are trusted again."""
        with self._lock:
            self._failures = 0

    def missed(self, upload_id: str) -> None:
        """A complete list lacked ``upload_id``."""
        with self._lock:
            self._missed.add(upload_id)

    def polled(self, upload_id: str, *, activity: bool) -> None:
        """A poll settled ``upload_id``; ``activity``: it is an activity."""
        with self._lock:
            missed = upload_id in self._missed
            self._missed.discard(upload_id)
        if missed and activity and self.access() == "unknown" and not self._blind:
            self._blind = True
            log.warning("activity_list_blind", upload_id=upload_id,
                        reason="a list missed an upload that was already an activity")
            self.publish()

    def publish(self) -> None:
        """Keep the way in use in the store, for ``status`` (written when it changes)."""
        now = self.current()
        if now != self._published:
            self._store.set_meta(FOLLOW_MODE_KEY, now.dumps())
            self._published = now
            log.info("follow_mode", mode=now.mode, why=now.why)
