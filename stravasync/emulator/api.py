"""The API endpoints (under /api/v3 and path-less): uploads, the athlete, activities.

Every API request is counted against the rate limits and answered with the four
rate-limit headers, whatever the outcome. Checks run in this order: application
inactive (403), over a limit (429), injected 5xx, Bearer token (401), connected-
athlete limit (403), then the endpoint itself. The CPU-heavy part of an upload
(multipart parsing, decompression, content checks) is done by `prepare_upload`
before the caller takes the lock.
"""

from __future__ import annotations

from stravasync.emulator import activities
from stravasync.emulator.config import DATA_TYPES, SPORT_TYPES
from stravasync.emulator.content import PreparedUpload, inspect_payload, is_gzip
from stravasync.emulator.core import (
    Core,
    Reply,
    Request,
    athlete_limit,
    auth_error,
    bad_request,
    fault,
    inactive,
    json_reply,
    not_found,
    scope_missing,
    server_error,
)
from stravasync.emulator.forms import FormError, parse_body
from stravasync.emulator.oauth import bearer_token
from stravasync.emulator.ratelimit import RequestKind, limit_headers, over_limit
from stravasync.emulator.tokens import Grant
from stravasync.emulator.uploads import ServerUpload, duplicate_text

API_PREFIX = "/api/v3"


def is_api_path(path: str) -> bool:
    """Whether `path` is an API path: under /api/v3, or path-less as on api-v3.strava.com."""
    return not path.startswith(("/oauth/", "/_emulator/")) and path not in {"/oauth", "/_emulator"}


def route_of(request: Request) -> str:
    """The API route template, e.g. "GET /uploads/{id}", the same with or without /api/v3."""
    path = request.path
    if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
        path = path.removeprefix(API_PREFIX)
    path = path.rstrip("/") or "/"
    parts = path.split("/")
    if len(parts) == 3 and parts[1] in {"uploads", "activities"}:
        path = f"/{parts[1]}/{{id}}"
    return f"{request.method} {path}"


def kind_of(request: Request) -> RequestKind:
    """upload for an upload POST (overall budget only), read for everything else."""
    return "upload" if route_of(request) == "POST /uploads" else "read"


def prepare_upload(request: Request) -> PreparedUpload:
    """Parse and judge an upload POST; no state is touched."""
    try:
        form = parse_body(request.body, request.headers.get("content-type"))
    except FormError:
        return PreparedUpload(problem=bad_request("Upload", "file", "invalid"))
    params = {k: v for k, v in request.query.items() if k != "access_token"}
    params.update(form.fields)
    part = form.files.get("file")
    data = part.data if part is not None else form.raw.get("file", b"")
    filename = (part.filename if part is not None else None) or "upload"
    data_type = params.get("data_type", "").strip().lower()
    if data_type not in DATA_TYPES:
        return PreparedUpload(problem=bad_request("Upload", "data_type", "invalid"))
    if not data:
        empty = fault(400, "Bad Request", ("Upload", "data", "empty"), note="data_empty")
        return PreparedUpload(problem=empty)
    if is_gzip(data) != data_type.endswith(".gz"):
        return PreparedUpload(problem=bad_request("upload", "gzip", "invalid encoding"))
    verdict = inspect_payload(data, data_type=data_type)
    return PreparedUpload(
        problem=None, data_type=data_type, filename=filename, params=params, verdict=verdict
    )


def handle_api(
    core: Core, request: Request, *, now: float, prepared: PreparedUpload | None
) -> Reply:
    """Count, check and answer one API request; the reply carries the rate-limit headers."""
    kind = kind_of(request)
    usage = core.rates.count(kind, now=now)
    over = over_limit(usage, core.knobs, kind=kind)
    reply = _answer(core, request, now=now, kind=kind, over=over, prepared=prepared)
    headers = limit_headers(core.rates.usage(now), core.knobs)
    return reply.with_headers(headers)


def _answer(  # noqa: PLR0911, PLR0912  # one return per kind of answer reads best
    core: Core,
    request: Request,
    *,
    now: float,
    kind: RequestKind,
    over: bool,
    prepared: PreparedUpload | None,
) -> Reply:
    knobs = core.knobs
    if knobs.inactive:
        return inactive()
    if over:
        errors = ("Application", knobs.rate_limit_field, "exceeded")
        return fault(429, "Rate Limit Exceeded", errors, note="rate_limited")
    if knobs.error_5xx_share > 0 and core.fault_rng.random() < knobs.error_5xx_share:
        return server_error(core.fault_rng.choice((500, 502, 503)))
    token = bearer_token(request.headers.get("authorization", ""))
    if token is None:
        return auth_error("query_token" if "access_token" in request.query else "no_token")
    grant = core.tokens.check_access(token, now=now)
    if grant is None:
        return auth_error()
    if knobs.athlete_limit is not None:
        connected = core.tokens.connected
        if grant.athlete_id not in connected[: knobs.athlete_limit]:
            return athlete_limit()
    route = route_of(request)
    if route == "POST /uploads" and kind == "upload":
        if prepared is None:
            prepared = prepare_upload(request)
        return _create_upload(core, grant, prepared, now=now)
    if route == "GET /uploads/{id}":
        return _get_upload(core, grant, request.path)
    if route == "GET /athlete":
        return _get_athlete(core, grant)
    if route == "GET /athlete/activities":
        return activities.list_activities(core, grant, request)
    if route == "GET /activities/{id}":
        return activities.get_activity(core, grant, request)
    if route == "PUT /activities/{id}":
        return activities.update_activity(core, grant, request, now=now)
    return not_found()


def _get_athlete(core: Core, grant: Grant) -> Reply:
    """The athlete: detailed (with bikes and shoes) only with profile:read_all, as on Strava."""
    athlete = dict(core.athlete(grant.athlete_id))
    if "profile:read_all" in activities.scopes(grant):
        athlete.update(core.gear(grant.athlete_id), resource_state=3)
    return json_reply(200, athlete)


def _has_write(grant: Grant) -> bool:
    return "activity:write" in grant.scope.split(",")


def _create_upload(core: Core, grant: Grant, prepared: PreparedUpload, *, now: float) -> Reply:
    if not _has_write(grant):
        return scope_missing()
    if prepared.problem is not None:
        return prepared.problem
    assert prepared.params is not None
    assert prepared.verdict is not None
    params, verdict, knobs = prepared.params, prepared.verdict, core.knobs
    external_id = params.get("external_id") or None
    extension = "." + prepared.data_type.removesuffix(".gz")
    if external_id is None:
        echo: str | None = prepared.filename
    elif knobs.alter_external_id and not external_id.lower().endswith(extension):
        echo = external_id + extension
    else:
        echo = external_id
    private = core.privacy_rng.random() < knobs.private_share
    rng = core.rng  # always draw the same numbers, so a seed replays whatever the knobs
    r_stuck, r_deleted, r_html, r_drop = rng.random(), rng.random(), rng.random(), rng.random()
    processing = rng.uniform(knobs.processing_min_s, knobs.processing_max_s)
    stuck = r_stuck < knobs.stuck_share
    upload = ServerUpload(
        id=core.uploads.next_upload_id(),
        athlete_id=grant.athlete_id,
        data_type=prepared.data_type,
        filename=prepared.filename,
        external_id=external_id,
        external_id_echo=echo,
        sha256=verdict.sha256,
        size=verdict.size,
        content_error=verdict.error,
        created_at=now,
        ready_at=now + (knobs.stuck_s if stuck else processing),
        deleted_fate=r_deleted < knobs.deleted_share,
        html_duplicate=r_html < knobs.duplicate_html_share,
        stuck=stuck,
        name=params.get("name") or None,
        description=params.get("description") or None,
        trainer=_flag(params.get("trainer")),
        commute=_flag(params.get("commute")),
        sport_type=params.get("sport_type") if params.get("sport_type") in SPORT_TYPES else None,
        start_time=verdict.start_time,
        private_fate=private,
    )
    existing = core.uploads.find_duplicate(athlete_id=grant.athlete_id, sha256=verdict.sha256)
    if knobs.duplicate_at_post and existing is not None and verdict.error is None:
        upload.outcome = "duplicate"
        upload.error = duplicate_text(upload.filename, existing.id, html=upload.html_duplicate)
        upload.ready_at = now
        core.uploads.add(upload)
        return json_reply(400, upload.public(), note="duplicate_at_post")
    first = core.uploads.first_of(grant.athlete_id)
    if knobs.answer_first_upload and first is not None:
        return json_reply(201, first.public(), note="answer_first_upload")
    core.uploads.add(upload)
    if r_drop < knobs.drop_upload_share:
        upload.dropped = True
        return Reply(status=0, drop=True, note="dropped")
    return json_reply(201, upload.public())


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true"}


def _id_in(path: str) -> int | None:
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return int(last) if last.isascii() and last.isdigit() else None


def _get_upload(core: Core, grant: Grant, path: str) -> Reply:
    upload_id = _id_in(path)
    upload = core.uploads.uploads.get(upload_id) if upload_id is not None else None
    if upload is None or upload.athlete_id != grant.athlete_id:
        return not_found("Upload", "id")
    if not _has_write(grant):
        return scope_missing()
    upload.polls += 1
    return json_reply(200, upload.public())
