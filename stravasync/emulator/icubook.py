"""Owns intervals.icu's records: API keys, activities per athlete, and the "too fast" window.

Ids look like intervals.icu's: athletes ``i12345``, activities ``i`` + a number. Keys
map to one athlete each; a revoked key stays known (so it can be answered 403
rather than 401). The same content uploaded twice makes two activities: intervals.icu
keeps duplicates that come in by file upload (its own FAQ and public de-duplicating
tools say so), so a client must look for its `external_id` before sending again.
Not thread-safe: the emulator state calls it under its lock.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def local_text(moment: float) -> str:
    """Unix time as intervals.icu writes `start_date_local` (the emulator's zone is UTC)."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S")


@dataclass
class IcuActivity:
    """One activity on intervals.icu."""

    id: str
    athlete_id: str
    """The intervals.icu athlete id it belongs to."""
    name: str
    description: str | None
    external_id: str | None
    """Stored exactly as sent (intervals.icu does not alter it)."""
    filename: str
    data_type: str
    sha256: str
    """Hex sha256 of the decompressed content."""
    start: float
    """The workout's start (Unix time, from the file), else the upload time."""
    created_at: float
    dropped: bool = False
    """The client saw a dropped connection although the activity was recorded."""

    def public(self) -> dict[str, Any]:
        """The activity as the API shows it."""
        return {
            "id": self.id,
            "icu_athlete_id": self.athlete_id,
            "name": self.name,
            "description": self.description,
            "start_date_local": local_text(self.start),
            "external_id": self.external_id,
        }

    def snapshot(self) -> dict[str, Any]:
        """Everything about the activity, for inspection."""
        return {
            **self.public(),
            "filename": self.filename,
            "data_type": self.data_type,
            "sha256": self.sha256,
            "start_time": self.start,
            "created_at": self.created_at,
            "dropped": self.dropped,
        }


@dataclass
class IntervalsBook:
    """Every key and activity of the intervals.icu side."""

    activity_id_start: int
    rng: random.Random
    """Draws of the intervals.icu fault knobs (apart from Strava's, so seeds replay)."""
    keys: dict[str, str] = field(default_factory=dict)
    """Live API key -> intervals.icu athlete id."""
    revoked: dict[str, str] = field(default_factory=dict)
    """Revoked API key -> the athlete it belonged to."""
    names: dict[str, str] = field(default_factory=dict)
    """intervals.icu athlete id -> display name."""
    activities: dict[str, IcuActivity] = field(default_factory=dict)
    by_status: Counter[str] = field(default_factory=Counter)
    recent: deque[float] = field(default_factory=deque)
    """Times of the calls counted in the current "too fast" window."""
    _next: int = 0

    def add_athlete(self, icu_id: str, *, name: str, key: str) -> None:
        """Open an account with its first API key."""
        self.names[icu_id] = name
        self.keys[key] = icu_id

    def key_of(self, icu_id: str) -> str | None:
        """The athlete's live key, if any."""
        return next((k for k, owner in self.keys.items() if owner == icu_id), None)

    def revoke(self, icu_id: str) -> int:
        """Revoke every live key of the athlete; return how many."""
        gone = [k for k, owner in self.keys.items() if owner == icu_id]
        for key in gone:
            self.revoked[key] = self.keys.pop(key)
        return len(gone)

    def replace_key(self, icu_id: str, key: str) -> None:
        """Revoke the athlete's keys and give them `key` (as "regenerate" on the site)."""
        if icu_id not in self.names:
            raise ValueError(f"no intervals.icu athlete {icu_id}")
        if key in self.keys or key in self.revoked:
            raise ValueError("that key was issued before")
        self.revoke(icu_id)
        self.keys[key] = icu_id

    def too_fast(self, *, now: float, limit: int | None, window: float) -> bool:
        """Whether a call at `now` is over `limit` calls per `window`; counts it if not."""
        if limit is None:
            return False
        while self.recent and self.recent[0] <= now - window:
            self.recent.popleft()
        if len(self.recent) >= limit:
            return True
        self.recent.append(now)
        return False

    def add(self, **fields: Any) -> IcuActivity:
        """Record a new activity (fields as `IcuActivity`'s, without the id)."""
        number = self.activity_id_start + self._next
        self._next += 1
        activity = IcuActivity(id=f"i{number}", **fields)
        self.activities[activity.id] = activity
        return activity

    def of_athlete(self, icu_id: str) -> list[IcuActivity]:
        """The athlete's activities, oldest upload first."""
        return [a for a in self.activities.values() if a.athlete_id == icu_id]
