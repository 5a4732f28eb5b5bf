"""`EmulatorState`: the locked front of the emulator, independent of sockets.

`handle(request) -> Reply` routes a request to the OAuth, API or inspection
handlers, settles processing on the clock, keeps the request log and counters.
The same operations are offered as Python methods for tests (seed tokens, expire
them, change knobs, inspect). Everything here runs under one lock; only body
parsing and content checks of uploads happen outside it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import secrets
import threading
import zlib
from typing import Any

from stravasync.emulator import api, household, intervals, oauth
from stravasync.emulator.athletes import HouseholdAthlete, Roster
from stravasync.emulator.config import EmulatorConfig, Knobs, ServerUsage
from stravasync.emulator.content import is_gzip
from stravasync.emulator.core import Core, Reply, Request, json_reply, not_found
from stravasync.emulator.icubook import IntervalsBook
from stravasync.emulator.ratelimit import RateCounter, usage_snapshot
from stravasync.emulator.tokens import Issued, TokenBook
from stravasync.emulator.uploads import UploadBook

OAUTH_PREFIX = "/oauth"
EMULATOR_PREFIX = "/_emulator"
_OAUTH_ROUTES = {
    ("GET", "/oauth/authorize"): oauth.authorize,
    ("POST", "/oauth/authorize"): oauth.authorize,
    ("POST", "/oauth/token"): oauth.token,
    ("POST", "/oauth/revoke"): oauth.revoke,
    ("POST", "/oauth/deauthorize"): oauth.deauthorize,
}


class EmulatorState:
    """All of the emulator's behaviour and state, behind one lock."""

    def __init__(self, config: EmulatorConfig) -> None:
        config.knobs.check()
        seed = config.seed if config.seed is not None else secrets.randbits(64)
        now = config.clock()
        self._config = config
        self._lock = threading.Lock()
        self._core = Core(
            config=config,
            knobs=config.knobs,
            rates=RateCounter(usage=config.initial_usage, now=now),
            tokens=TokenBook(),
            uploads=UploadBook(
                upload_id_start=config.upload_id_start,
                activity_id_start=config.activity_id_start,
            ),
            rng=random.Random(seed),  # noqa: S311  # simulation draws, reproducible by seed
            fault_rng=random.Random(f"{seed}/faults"),  # noqa: S311  # same
            privacy_rng=random.Random(f"{seed}/private"),  # noqa: S311  # same
            update_rng=random.Random(f"{seed}/updates"),  # noqa: S311  # same
            roster=Roster(config.configured_athlete(), config.athletes),
            icu=IntervalsBook(
                activity_id_start=config.intervals_activity_id_start,
                rng=random.Random(f"{seed}/intervals"),  # noqa: S311  # same
            ),
        )
        for athlete in self._core.roster.all():
            household.open_account(self._core, athlete)

    @property
    def knobs(self) -> Knobs:
        """The knobs in force."""
        with self._lock:
            return self._core.knobs

    def now(self) -> float:
        """The emulator's clock."""
        return self._config.clock()

    # -- HTTP ---------------------------------------------------------------------------

    def latency_for(self, path: str) -> float:
        """The wall-clock delay to add before answering a request for `path`."""
        if path.startswith(EMULATOR_PREFIX + "/"):
            return 0.0
        knobs = self.knobs
        return knobs.intervals_latency_s if intervals.is_intervals_path(path) else knobs.latency_s

    def handle(self, request: Request) -> Reply:
        """Answer one request (the HTTP server calls this from its threads)."""
        path = request.path
        if path.startswith(EMULATOR_PREFIX + "/"):
            return self._handle_emulator(request)
        if intervals.is_intervals_path(path):
            route = intervals.route_of(request)
            sent = None
            if route == "POST /athlete/{id}/activities":
                status = self.knobs.intervals_unreadable_status
                sent = intervals.prepare_upload(request, unreadable=status)
            with self._lock:
                now = self._settle()
                reply = intervals.handle(self._core, request, now=now, prepared=sent)
                entry = self._record(request, reply, kind="intervals", route=route, now=now)
        elif api.is_api_path(path):
            kind = api.kind_of(request)
            prepared = api.prepare_upload(request) if kind == "upload" else None
            with self._lock:
                now = self._settle()
                reply = api.handle_api(self._core, request, now=now, prepared=prepared)
                entry = self._record(
                    request, reply, kind=kind, route=api.route_of(request), now=now
                )
        elif path.startswith(OAUTH_PREFIX + "/"):
            handler = _OAUTH_ROUTES.get((request.method, path.rstrip("/")))
            with self._lock:
                now = self._settle()
                reply = handler(self._core, request, now=now) if handler else not_found()
                entry = self._record(
                    request, reply, kind="oauth", route=f"{request.method} {path}", now=now
                )
        else:
            return not_found()
        callback = self._config.on_request
        if callback is not None:
            callback(entry)
        return reply

    def _settle(self) -> float:
        now = self._config.clock()
        self._core.uploads.settle(now)
        return now

    def _record(
        self, request: Request, reply: Reply, *, kind: str, route: str, now: float
    ) -> dict[str, Any]:
        core = self._core
        status = "dropped" if reply.drop else str(reply.status)
        entry = {
            "time": now,
            "method": request.method,
            "path": request.path,
            "route": route,
            "status": None if reply.drop else reply.status,
            "kind": kind,
            "note": reply.note or None,
        }
        core.log.append(entry)
        core.calls[kind] += 1
        if kind == "intervals":
            core.icu.by_status[status] += 1
            if reply.note:
                core.notes[f"intervals_{reply.note}"] += 1
            return entry
        core.by_route[route] += 1
        if kind != "oauth":
            core.calls["api"] += 1
            core.by_status[status] += 1
            core.by_kind_status[f"{kind} {status}"] += 1
        if reply.note:
            core.notes[reply.note] += 1
        return entry

    def _handle_emulator(self, request: Request) -> Reply:  # noqa: PLR0911  # a router
        route = (request.method, request.path.rstrip("/"))
        try:
            if route == ("GET", "/_emulator/state"):
                full = request.query.get("requests", "1") not in {"0", "false", "no"}
                return json_reply(200, self.inspect(requests=full))
            if route == ("GET", "/_emulator/knobs"):
                return json_reply(200, self.knobs.as_dict())
            if route == ("POST", "/_emulator/knobs"):
                return json_reply(200, self.set_knobs(**_json_object(request)).as_dict())
            if route == ("POST", "/_emulator/usage"):
                return json_reply(200, self.set_usage(**_json_object(request)))
            if route == ("POST", "/_emulator/tokens"):
                args = _json_object(request)
                return json_reply(200, self.issue_tokens(**args))
            if route == ("POST", "/_emulator/expire-access-tokens"):
                return json_reply(200, {"expired": self.expire_access_tokens()})
            if route == ("POST", "/_emulator/sign-in"):
                athlete_id = int(_json_object(request)["athlete_id"])
                self.sign_in_as(athlete_id)
                return json_reply(200, {"signed_in": athlete_id})
            if route == ("GET", "/_emulator/athletes"):
                return json_reply(200, self.members())
            if route == ("POST", "/_emulator/athletes"):
                args = _json_object(request)
                return json_reply(200, self.add_athlete(HouseholdAthlete(**args)))
            if route == ("POST", "/_emulator/intervals/revoke-key"):
                athlete = _json_object(request)["athlete"]
                return json_reply(200, {"revoked": self.revoke_intervals_key(athlete)})
        except KeyError as exc:
            return json_reply(400, {"message": "Bad Request", "error": f"missing {exc}"})
        except (TypeError, ValueError) as exc:
            return json_reply(400, {"message": "Bad Request", "error": str(exc)})
        return not_found()

    # -- Python conveniences ------------------------------------------------------------

    def sign_in_as(self, athlete_id: int) -> None:
        """Make the household's `athlete_id` the one the next sign-ins use (as logging in
        to strava.com in the browser); an ``athlete`` field at authorize still wins."""
        with self._lock:
            self._core.roster.sign_in_as(athlete_id)

    def add_athlete(self, athlete: HouseholdAthlete) -> dict[str, Any]:
        """Add a member to the household (ValueError if an id or key is taken)."""
        with self._lock:
            core = self._core
            core.roster.add(athlete)
            core.athletes.pop(athlete.id, None)  # a profile made up before is replaced
            household.open_account(core, athlete)
            return household.member(self._core, athlete)

    def members(self) -> list[dict[str, Any]]:
        """Every athlete with their Strava and intervals.icu activities (see `inspect`)."""
        with self._lock:
            self._settle()
            return [household.member(self._core, a) for a in self._core.roster.all()]

    def activities_of(self, athlete_id: int) -> list[dict[str, Any]]:
        """The Strava athlete's live (non-deleted) activities, in the order they were made."""
        with self._lock:
            self._settle()
            return household.strava_activities(self._core, athlete_id)

    def intervals_activities_of(self, athlete: int | str) -> list[dict[str, Any]]:
        """The intervals.icu activities of `athlete` (Strava id or ``i…`` id), as uploaded."""
        with self._lock:
            icu_id = household.icu_id_of(self._core, athlete)
            return [a.snapshot() for a in self._core.icu.of_athlete(icu_id)]

    def intervals_key(self, athlete: int | str | None = None) -> str | None:
        """The live intervals.icu API key of `athlete` (default: the configured athlete)."""
        with self._lock:
            core = self._core
            chosen = core.roster.default_id if athlete is None else athlete
            return core.icu.key_of(household.icu_id_of(self._core, chosen))

    def revoke_intervals_key(self, athlete: int | str) -> int:
        """Revoke the athlete's intervals.icu key(s): later calls with it get 403."""
        with self._lock:
            return self._core.icu.revoke(household.icu_id_of(self._core, athlete))

    def replace_intervals_key(self, athlete: int | str, key: str) -> None:
        """Give the athlete a new intervals.icu key; the old one is revoked."""
        with self._lock:
            self._core.icu.replace_key(household.icu_id_of(self._core, athlete), key)

    def set_knobs(self, **changes: Any) -> Knobs:
        """Change knobs at runtime (unknown names or bad values raise ValueError)."""
        with self._lock:
            self._core.knobs = self._core.knobs.replace(**changes)
            return self._core.knobs

    def set_usage(self, **changes: int) -> dict[str, int | float]:
        """Overwrite rate-limit usage counters (usage_15, usage_day, read_usage_15, ...)."""
        known = set(ServerUsage.__dataclass_fields__)
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown usage counter(s): {', '.join(unknown)}")
        values = {name: int(value) for name, value in changes.items()}
        with self._lock:
            now = self._config.clock()
            usage = self._core.rates.set_usage(now=now, **values)
            return usage_snapshot(usage, self._core.knobs, now=now)

    def issue_tokens(
        self, *, athlete_id: int | None = None, scope: str = "read,activity:write"
    ) -> dict[str, Any]:
        """Seed a grant without the OAuth dance; returns the code-exchange token body."""
        athlete = self._config.athlete_id if athlete_id is None else int(athlete_id)
        with self._lock:
            now = self._config.clock()
            issued: Issued = self._core.tokens.open_grant(
                athlete_id=athlete,
                scope=scope,
                now=now,
                lifetime=self._core.knobs.access_token_lifetime_s,
            )
            return oauth.token_body(self._core, issued, now=now, with_athlete=True)

    def expire_access_tokens(self) -> int:
        """Make every access token issued so far expired; return how many were live."""
        with self._lock:
            return self._core.tokens.expire_access_tokens(now=self._config.clock())

    def revoke_athlete(self, athlete_id: int | None = None) -> int:
        """Revoke every grant of the athlete (as if they disconnected the app)."""
        athlete = self._config.athlete_id if athlete_id is None else athlete_id
        with self._lock:
            return self._core.tokens.revoke_athlete(athlete)

    def add_activity(
        self,
        data: bytes,
        *,
        athlete_id: int | None = None,
        name: str = "Seeded activity",
        start_date: float | None = None,
        private: bool = False,
    ) -> int:
        """Seed an existing activity with `data`'s content (gzip is decompressed first).

        It has no upload id (as one made on strava.com); `start_date` (Unix time)
        defaults to now, and `private` hides it from lists without activity:read_all.
        """
        if is_gzip(data):
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError, zlib.error) as exc:
                raise ValueError("data is not valid gzip") from exc
        athlete = self._config.athlete_id if athlete_id is None else athlete_id
        with self._lock:
            activity = self._core.uploads.add_activity(
                athlete_id=athlete,
                sha256=hashlib.sha256(data).hexdigest(),
                name=name,
                now=self._config.clock(),
                start_date=start_date,
                private=private,
            )
            return activity.id

    def delete_activity(self, activity_id: int) -> None:
        """Delete an activity (its content stops counting as a duplicate)."""
        with self._lock:
            activity = self._core.uploads.activities.get(activity_id)
            if activity is None:
                raise KeyError(activity_id)
            activity.deleted = True

    def inspect(self, *, requests: bool = True) -> dict[str, Any]:
        """Everything observable, JSON-ready (processing settled at the current time)."""
        with self._lock:
            now = self._settle()
            core = self._core
            by_kind_status: dict[str, dict[str, int]] = {"upload": {}, "read": {}}
            for key, count in core.by_kind_status.items():
                kind, status = key.split(" ", 1)
                by_kind_status.setdefault(kind, {})[status] = count
            result: dict[str, Any] = {
                "now": now,
                "knobs": core.knobs.as_dict(),
                "rate_limit": usage_snapshot(core.rates.usage(now), core.knobs, now=now),
                "counters": {
                    "api_calls": core.calls["api"],
                    "oauth_calls": core.calls["oauth"],
                    "by_kind": {"upload": core.calls["upload"], "read": core.calls["read"]},
                    "by_status": dict(core.by_status),
                    "by_kind_status": by_kind_status,
                    "by_route": dict(core.by_route),
                    "notes": dict(core.notes),
                    "uploads_by_state": core.uploads.counts(),
                    "polls": sum(u.polls for u in core.uploads.uploads.values()),
                },
                "uploads": [u.snapshot() for u in core.uploads.uploads.values()],
                "activities": [a.snapshot() for a in core.uploads.activities.values()],
                "grants": core.tokens.snapshot(),
                "connected_athletes": list(core.tokens.connected),
                "athletes": [household.member(self._core, a) for a in core.roster.all()],
                "intervals": {
                    "calls": core.calls["intervals"],
                    "by_status": dict(core.icu.by_status),
                    "activities": [a.snapshot() for a in core.icu.activities.values()],
                },
            }
            if requests:
                result["requests"] = [dict(e) for e in core.log]
            return result


def _json_object(request: Request) -> dict[str, Any]:
    if not request.body:
        return {}
    try:
        data = json.loads(request.body)
    except ValueError as exc:
        raise ValueError("body is not JSON") from exc
    if not isinstance(data, dict):
        raise TypeError("body must be a JSON object")
    return data
