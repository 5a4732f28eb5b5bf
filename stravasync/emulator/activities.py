"""Owns the activity endpoints: `GET /activities/{id}`, `PUT /activities/{id}` and
`GET /athlete/activities` (called by `api` after the rate-limit and token checks).

Scopes as on Strava: reading needs `activity:read` or `activity:read_all` (`read`
alone is not enough), private activities need `activity:read_all`, updating needs
`activity:write`. The list filters on the activity's start time (the workout's
`start_date`, read from the file), strictly after `after` and strictly before
`before`; with `after` it runs oldest first, without it newest first. Errors,
duplicates, deleted activities and uploads still processing never appear.
"""

from __future__ import annotations

import json
from typing import Any

from stravasync.emulator.config import SPORT_TYPES, UPDATABLE_FIELDS
from stravasync.emulator.core import (
    Core,
    Reply,
    Request,
    fault,
    json_reply,
    not_found,
    scope_missing,
    server_error,
)
from stravasync.emulator.forms import FormError, parse_body, parse_content_type
from stravasync.emulator.tokens import Grant
from stravasync.emulator.uploads import Activity, iso_z

PER_PAGE_DEFAULT = 30
PER_PAGE_MAX = 200
_TRUE, _FALSE = {"true", "1"}, {"false", "0"}
_FLAGS = ("trainer", "commute", "hide_from_home")


def scopes(grant: Grant) -> set[str]:
    """The grant's scopes as a set."""
    return {s for s in grant.scope.split(",") if s}


def can_read(grant: Grant) -> bool:
    """activity:read or activity:read_all (the `read` scope does not include them)."""
    return bool(scopes(grant) & {"activity:read", "activity:read_all"})


def summary(activity: Activity) -> dict[str, Any]:
    """The SummaryActivity shape of the list."""
    return {
        "id": activity.id,
        "resource_state": 2,
        "athlete": {"id": activity.athlete_id, "resource_state": 1},
        "name": activity.name,
        "sport_type": activity.sport_type,
        "start_date": iso_z(activity.start),
        "start_date_local": iso_z(activity.start),
        "trainer": activity.trainer,
        "commute": activity.commute,
        "manual": False,
        "private": activity.private,
        "visibility": "only_me" if activity.private else "everyone",
        "gear_id": activity.gear_id,
        "external_id": activity.external_id,
        "upload_id": activity.upload_id,
        "upload_id_str": None if activity.upload_id is None else str(activity.upload_id),
    }


def detail(activity: Activity) -> dict[str, Any]:
    """The DetailedActivity shape of GET and PUT answers."""
    return {
        **summary(activity),
        "resource_state": 3,
        "description": activity.description,
        "hide_from_home": activity.hide_from_home,
    }


def _activity_of(core: Core, grant: Grant, path: str) -> Activity | None:
    last = path.rstrip("/").rsplit("/", 1)[-1]
    activity_id = int(last) if last.isascii() and last.isdigit() else None
    activity = core.uploads.activities.get(activity_id) if activity_id is not None else None
    if activity is None or activity.deleted or activity.athlete_id != grant.athlete_id:
        return None
    return activity


def get_activity(core: Core, grant: Grant, request: Request) -> Reply:
    """GET /activities/{id}: needs activity:read; a private one needs activity:read_all."""
    if not can_read(grant):
        return scope_missing("activity:read")
    activity = _activity_of(core, grant, request.path)
    if activity is None or (activity.private and "activity:read_all" not in scopes(grant)):
        return not_found("Activity", "id")
    return json_reply(200, detail(activity))


def list_activities(core: Core, grant: Grant, request: Request) -> Reply:
    """GET /athlete/activities?before=&after=&page=&per_page= (one read per call)."""
    if not can_read(grant):
        return scope_missing("activity:read")
    query = request.query
    bounds: dict[str, float | None] = {}
    for name in ("before", "after"):
        text = query.get(name, "").strip()
        try:
            bounds[name] = float(text) if text else None
        except ValueError:
            return fault(400, "Bad Request", ("Activity", name, "invalid"), note=f"{name}_invalid")
    paging: dict[str, int] = {}
    for name, default in (("page", 1), ("per_page", PER_PAGE_DEFAULT)):
        text = query.get(name, "").strip()
        if not text:
            paging[name] = default
        elif text.isascii() and text.isdigit() and int(text) > 0:
            paging[name] = int(text)
        else:
            return fault(400, "Bad Request", ("Activity", name, "invalid"), note=f"{name}_invalid")
    per_page = min(paging["per_page"], PER_PAGE_MAX)
    after, before = bounds["after"], bounds["before"]
    private_too = "activity:read_all" in scopes(grant)
    chosen = [
        a
        for a in core.uploads.activities.values()
        if a.athlete_id == grant.athlete_id
        and not a.deleted
        and (private_too or not a.private)
        and (after is None or a.start > after)
        and (before is None or a.start < before)
    ]
    chosen.sort(key=lambda a: (a.start, a.id), reverse=after is None)
    first = (paging["page"] - 1) * per_page
    return json_reply(200, [summary(a) for a in chosen[first : first + per_page]])


def update_activity(core: Core, grant: Grant, request: Request, *, now: float) -> Reply:
    """PUT /activities/{id}: the updatable fields only, as JSON or a form."""
    if "activity:write" not in scopes(grant):
        return scope_missing()
    activity = _activity_of(core, grant, request.path)
    if activity is None:
        return not_found("Activity", "id")
    try:
        sent = _fields_of(request)
    except FormError:
        reply = fault(400, "Bad Request", ("Activity", "body", "invalid"), note="body_invalid")
        return _recorded(activity, reply, sent={}, now=now)
    knobs = core.knobs
    if knobs.update_5xx_share > 0 and core.update_rng.random() < knobs.update_5xx_share:
        reply = server_error(core.update_rng.choice((500, 502, 503)))
        return _recorded(activity, reply, sent=sent, now=now)
    changes, problems = _validated(sent, gear_ids=core.gear_ids(grant.athlete_id))
    if problems:
        errors = tuple(("Activity", name, "invalid") for name in problems)
        reply = fault(400, "Bad Request", *errors, note="update_invalid")
        return _recorded(activity, reply, sent=sent, now=now)
    for name, value in changes.items():
        setattr(activity, name, value)
    return _recorded(activity, json_reply(200, detail(activity)), sent=sent, now=now)


def _recorded(activity: Activity, reply: Reply, *, sent: dict[str, Any], now: float) -> Reply:
    activity.updates.append(
        {"time": now, "fields": sent, "status": reply.status, "applied": reply.status == 200}
    )
    return reply


def _fields_of(request: Request) -> dict[str, Any]:
    """The fields sent, query parameters included; JSON values keep their JSON type."""
    fields: dict[str, Any] = {k: v for k, v in request.query.items() if k != "access_token"}
    media, _ = parse_content_type(request.headers.get("content-type"))
    if media == "application/json" and request.body:
        try:
            data = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise FormError("body is not valid JSON") from exc
        if not isinstance(data, dict):
            raise FormError("JSON body is not an object")
        fields.update({str(k): v for k, v in data.items()})
    else:
        fields.update(parse_body(request.body, request.headers.get("content-type")).fields)
    return fields


def _validated(sent: dict[str, Any], *, gear_ids: set[str]) -> tuple[dict[str, Any], list[str]]:
    """The attribute changes `sent` asks for, and the names of fields refused."""
    problems = [name for name in sent if name not in UPDATABLE_FIELDS]
    changes: dict[str, Any] = {}
    for name in (n for n in UPDATABLE_FIELDS if n in sent):
        value = sent[name]
        if name in _FLAGS:
            flag = _flag(value)
            if flag is None:
                problems.append(name)
            else:
                changes[name] = flag
        elif not _acceptable(name, value, gear_ids=gear_ids):
            problems.append(name)
        elif name == "gear_id":
            changes[name] = None if value == "none" else value
        else:
            changes[name] = value
    return changes, problems


def _acceptable(name: str, value: Any, *, gear_ids: set[str]) -> bool:
    """Whether a text field's value is one Strava takes: a string, a SportType, own gear."""
    if not isinstance(value, str):
        return False
    if name == "sport_type":
        return value in SPORT_TYPES
    if name == "gear_id":
        return value == "none" or value in gear_ids
    return True


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    return None
