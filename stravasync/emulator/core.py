"""The emulator's shared pieces: request and reply values, the mutable core, error bodies.

`Core` holds all state (knobs, rate counters, tokens, uploads, counters, log, RNG);
the OAuth and API handlers read and change it, always under `EmulatorState`'s lock.

The error-body builders take (resource, field, code) positionally, against the
keyword-only rule: the call then reads like the JSON it produces.
"""

from __future__ import annotations

import json
import random
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stravasync.emulator.athletes import Roster
from stravasync.emulator.config import EmulatorConfig, Knobs
from stravasync.emulator.icubook import IntervalsBook
from stravasync.emulator.ratelimit import RateCounter
from stravasync.emulator.tokens import TokenBook
from stravasync.emulator.uploads import UploadBook

JSON_TYPE = "application/json; charset=utf-8"
REQUEST_LOG_SIZE = 10000


@dataclass(frozen=True)
class Request:
    """One HTTP request, as the handlers see it."""

    method: str
    """Upper-case method."""
    path: str
    """Path without the query string."""
    query: Mapping[str, str]
    """Query parameters (last value wins)."""
    headers: Mapping[str, str]
    """Headers with lower-case names."""
    body: bytes = b""
    """The (de-chunked) body."""


@dataclass(frozen=True)
class Reply:
    """What to answer."""

    status: int
    """HTTP status."""
    body: bytes = b""
    """Body bytes."""
    content_type: str = JSON_TYPE
    """Content-Type of the body."""
    headers: tuple[tuple[str, str], ...] = ()
    """Extra headers."""
    drop: bool = False
    """Close the connection without answering at all."""
    kind: str = ""
    """What the request was, for the log: upload, read, oauth, emulator."""
    note: str = ""
    """Why this answer, for the log (e.g. fault_5xx, rate_limited, dropped)."""

    def with_headers(self, extra: list[tuple[str, str]]) -> Reply:
        """A copy with `extra` headers added."""
        return Reply(
            status=self.status,
            body=self.body,
            content_type=self.content_type,
            headers=self.headers + tuple(extra),
            drop=self.drop,
            kind=self.kind,
            note=self.note,
        )


def json_reply(status: int, payload: object, *, note: str = "") -> Reply:
    """A JSON reply."""
    return Reply(status=status, body=json.dumps(payload).encode("utf-8"), note=note)


def fault(status: int, message: str, *errors: tuple[str, str, str], note: str = "") -> Reply:
    """A Strava error body: message plus (resource, field, code) errors."""
    items = [{"resource": r, "field": f, "code": c} for r, f, c in errors]
    return json_reply(status, {"message": message, "errors": items}, note=note)


def bad_request(resource: str, field_name: str, code: str) -> Reply:
    """400 with one error."""
    return fault(400, "Bad Request", (resource, field_name, code), note=f"{field_name}_{code}")


def auth_error(note: str = "bad_token") -> Reply:
    """401 for a missing, unknown, expired or revoked access token."""
    return fault(401, "Authorization Error", ("Athlete", "access_token", "invalid"), note=note)


def scope_missing(permission: str = "activity:write") -> Reply:
    """401 for a token without `permission` (activity:write, activity:read)."""
    errors = ("AccessToken", f"{permission}_permission", "missing")
    return fault(401, "Authorization Error", errors, note="scope_missing")


def inactive() -> Reply:
    """403 for an inactive application."""
    errors = ("Application", "Status", "Inactive")
    return fault(403, "Forbidden", errors, note="inactive")


def athlete_limit() -> Reply:
    """403 while the application is over its connected-athlete limit."""
    errors = ("Application", "athletes", "limit exceeded")
    return fault(403, "Limit of connected athletes exceeded", errors, note="athlete_limit")


def not_found(resource: str = "resource", field_name: str = "path") -> Reply:
    """404 Record Not Found."""
    return fault(404, "Record Not Found", (resource, field_name, "invalid"), note="not_found")


def server_error(status: int) -> Reply:
    """A 5xx as a gateway or the application would send it."""
    if status == 500:
        return fault(500, "Internal Server Error", note="fault_5xx")
    reason = {502: "Bad Gateway", 503: "Service Unavailable"}.get(status, "Server Error")
    html = (
        f"<html><head><title>{status} {reason}</title></head><body><h1>{reason}</h1></body></html>"
    )
    return Reply(
        status=status, body=html.encode(), content_type="text/html; charset=utf-8", note="fault_5xx"
    )


@dataclass
class Core:
    """All mutable emulator state. Guarded by `EmulatorState`'s lock."""

    config: EmulatorConfig
    knobs: Knobs
    rates: RateCounter
    tokens: TokenBook
    uploads: UploadBook
    rng: random.Random
    fault_rng: random.Random
    privacy_rng: random.Random
    """Draws of `private_share` (apart, so old seeds replay the other draws unchanged)."""
    update_rng: random.Random
    """Draws of `update_5xx_share`."""
    roster: Roster
    """The household: who can sign in, with their gear and intervals.icu accounts."""
    icu: IntervalsBook
    """The intervals.icu side: keys and activities."""
    athletes: dict[int, dict[str, Any]] = field(default_factory=dict)
    log: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=REQUEST_LOG_SIZE))
    calls: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    by_kind_status: Counter[str] = field(default_factory=Counter)
    by_route: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)

    def athlete(self, athlete_id: int) -> dict[str, Any]:
        """The athlete's summary profile, made up on first sight."""
        if athlete_id not in self.athletes:
            known = self.roster.get(athlete_id)
            self.athletes[athlete_id] = {
                "id": athlete_id,
                "username": None,
                "resource_state": 2,
                "firstname": known.firstname if known else "Athlete",
                "lastname": known.lastname if known else str(athlete_id),
                "bio": None,
                "city": None,
                "state": None,
                "country": None,
                "sex": None,
                "premium": False,
                "summit": False,
                "created_at": "2020-01-01T00:00:00Z",
                "updated_at": "2020-01-01T00:00:00Z",
                "badge_type_id": 0,
                "weight": None,
                "profile_medium": "avatar/athlete/medium.png",
                "profile": "avatar/athlete/large.png",
                "friend": None,
                "follower": None,
            }
        return self.athletes[athlete_id]

    def gear(self, athlete_id: int) -> dict[str, list[dict[str, Any]]]:
        """The athlete's bikes and shoes as SummaryGear lists (none for a stranger)."""
        known = self.roster.get(athlete_id)
        kinds = (
            ("bikes", known.gear_bikes if known else ()),
            ("shoes", known.gear_shoes if known else ()),
        )
        return {
            kind: [
                {
                    "id": gear_id,
                    "primary": index == 0,
                    "name": name,
                    "resource_state": 2,
                    "distance": 0.0,
                }
                for index, (gear_id, name) in enumerate(items)
            ]
            for kind, items in kinds
        }

    def gear_ids(self, athlete_id: int) -> set[str]:
        """The ids of the athlete's bikes and shoes."""
        return {g["id"] for items in self.gear(athlete_id).values() for g in items}

    def roll(self, share: float) -> bool:
        """True with probability `share` (seeded)."""
        return share > 0 and self.rng.random() < share
