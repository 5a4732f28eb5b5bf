"""Owns the intervals.icu API the emulator serves under ``/intervals/api/v1``.

As an uploader meets it (``../shared/strava-api.md``, last section):

- HTTP Basic auth, user ``API_KEY``, the athlete's key as password. No or a wrong
  key → 401; a revoked key, or a key used on another athlete's path → 403.
  Athlete id ``0`` in a path means the key's athlete; ``i12345`` and ``12345`` both work.
- ``POST /athlete/{id}/activities``: multipart ``file`` (FIT, TCX or GPX by its
  name, else by its content; gzip by its magic), query or form ``name``,
  ``description``, ``external_id`` → ``200 {"id": "i…", "icu_athlete_id", "name",
  "description", "start_date_local", "external_id"}``, synchronously. A file the
  emulator's processing would refuse (see `content`) → 422 (knob: 400)
  ``{"status": 422, "error": "…"}``. The same file twice makes two activities.
- ``GET /athlete/{id}/activities?oldest=YYYY-MM-DD&newest=YYYY-MM-DD`` (``newest``
  defaults to today; both inclusive days of ``start_date_local``) → a JSON array,
  newest first. ``GET /athlete/{id}`` → ``{"id", "name"}``.
- Checks in this order: too fast (429, optional ``Retry-After``), injected 5xx,
  auth, the endpoint; ``intervals_drop_share`` records an upload, then drops the
  connection. Errors read ``{"status": N, "error": "text"}``.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import json
import zlib
from datetime import UTC, date, datetime, time

from stravasync.emulator.content import PreparedUpload, inspect_payload, is_gzip
from stravasync.emulator.core import JSON_TYPE, Core, Reply, Request, json_reply
from stravasync.emulator.forms import FormError, parse_body

PREFIX = "/intervals/api/v1"
SNIFF_BYTES = 4096
_KINDS = ("fit", "tcx", "gpx")


def is_intervals_path(path: str) -> bool:
    """Whether `path` belongs to the intervals.icu API."""
    return path == PREFIX or path.startswith(PREFIX + "/")


def route_of(request: Request) -> str:
    """The route template, e.g. "POST /athlete/{id}/activities"."""
    parts = request.path.removeprefix(PREFIX).rstrip("/").split("/")
    if len(parts) >= 3 and parts[1] == "athlete":
        parts[2] = "{id}"
    return f"{request.method} {'/'.join(parts) or '/'}"


def error(status: int, text: str, *, note: str = "") -> Reply:
    """intervals.icu's error body."""
    return json_reply(status, {"status": status, "error": text}, note=note)


def prepare_upload(request: Request, *, unreadable: int) -> PreparedUpload:
    """Parse and judge an upload POST; no state is touched."""
    try:
        form = parse_body(request.body, request.headers.get("content-type"))
    except FormError:
        return PreparedUpload(problem=error(400, "Bad multipart body", note="body_invalid"))
    part = form.files.get("file")
    if part is None:
        return PreparedUpload(
            problem=error(400, "Required part 'file' is not present.", note="file_missing")
        )
    params = dict(request.query)
    params.update(form.fields)
    filename = part.filename or "upload"
    data_type = _data_type(filename, part.data)
    if not part.data:
        return PreparedUpload(problem=error(unreadable, "The file is empty.", note="unreadable"))
    if data_type is None:
        text = f"Unable to read {filename}: not a FIT, TCX or GPX file"
        return PreparedUpload(problem=error(unreadable, text, note="unreadable"))
    verdict = inspect_payload(part.data, data_type=data_type)
    if verdict.error is not None:
        text = f"Unable to read {filename}: {verdict.error}"
        return PreparedUpload(problem=error(unreadable, text, note="unreadable"))
    return PreparedUpload(
        problem=None, data_type=data_type, filename=filename, params=params, verdict=verdict
    )


def _data_type(filename: str, data: bytes) -> str | None:
    """fit/tcx/gpx (+ ".gz" when gzipped), from the name, else from the content."""
    gz = is_gzip(data)
    suffix = ".gz" if gz else ""
    stem = filename.lower().removesuffix(".gz")
    for kind in _KINDS:
        if stem.endswith("." + kind):
            return kind + suffix
    head = data[:SNIFF_BYTES]
    if gz:
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
                head = stream.read(SNIFF_BYTES)
        except (OSError, EOFError, zlib.error):
            return "fit" + suffix  # let the content check say it is malformed
    if head[8:12] == b".FIT":
        return "fit" + suffix
    if b"<gpx" in head:
        return "gpx" + suffix
    if b"TrainingCenterDatabase" in head:
        return "tcx" + suffix
    return None


def handle(core: Core, request: Request, *, now: float, prepared: PreparedUpload | None) -> Reply:
    """Answer one intervals.icu request (the caller holds the lock)."""
    owner = _gate(core, request, now=now)
    if isinstance(owner, Reply):
        return owner
    route = route_of(request)
    if route == "GET /athlete/{id}":
        return json_reply(200, {"id": owner, "name": core.icu.names.get(owner, owner)})
    if route == "GET /athlete/{id}/activities":
        return _list(core, owner, request, now=now)
    if route == "POST /athlete/{id}/activities":
        return _upload(core, owner, prepared or PreparedUpload(problem=None), now=now)
    return error(404, "Not Found", note="not_found")


def _gate(core: Core, request: Request, *, now: float) -> str | Reply:
    """The athlete whose path this is, or the 429/5xx/401/403/404 to answer first."""
    knobs, book = core.knobs, core.icu
    window = knobs.intervals_rate_window_s
    if book.too_fast(now=now, limit=knobs.intervals_rate_limit, window=window):
        reply = error(429, "Too Many Requests", note="rate_limited")
        if knobs.intervals_retry_after_s is not None:
            reply = reply.with_headers([("Retry-After", str(knobs.intervals_retry_after_s))])
        return reply
    if knobs.intervals_5xx_share > 0 and book.rng.random() < knobs.intervals_5xx_share:
        status = book.rng.choice((500, 502, 503))
        return error(status, "Server Error", note="fault_5xx")
    owner = _authenticate(core, request.headers.get("authorization", ""))
    if isinstance(owner, Reply):
        return owner
    parts = request.path.removeprefix(PREFIX).rstrip("/").split("/")
    if len(parts) < 3 or parts[1] != "athlete":
        return error(404, "Not Found", note="not_found")
    if _athlete_in_path(parts[2], owner=owner) != owner:
        return error(403, "Access denied", note="other_athlete")
    return owner


def _authenticate(core: Core, header: str) -> str | Reply:
    """The key's athlete, or the 401/403 to answer."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return error(401, "Unauthorized", note="no_key")
    try:
        user, _, key = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return error(401, "Unauthorized", note="bad_key")
    owner = core.icu.keys.get(key) if user == "API_KEY" else None
    if owner is not None:
        return owner
    if user == "API_KEY" and key in core.icu.revoked:
        return error(403, "API key has been revoked", note="revoked_key")
    return error(401, "Unauthorized", note="bad_key")


def _athlete_in_path(text: str, *, owner: str) -> str:
    if text == "0":
        return owner
    return text if text.startswith("i") else f"i{text}"


def _upload(core: Core, owner: str, prepared: PreparedUpload, *, now: float) -> Reply:
    if prepared.problem is not None:
        return prepared.problem
    if prepared.params is None or prepared.verdict is None:
        return error(400, "Required part 'file' is not present.", note="file_missing")
    params, verdict = prepared.params, prepared.verdict
    activity = core.icu.add(
        athlete_id=owner,
        name=params.get("name") or prepared.filename.split(".", 1)[0],
        description=params.get("description") or None,
        external_id=params.get("external_id") or None,
        filename=prepared.filename,
        data_type=prepared.data_type,
        sha256=verdict.sha256,
        start=verdict.start_time if verdict.start_time is not None else now,
        created_at=now,
    )
    knobs = core.knobs
    if knobs.intervals_drop_share > 0 and core.icu.rng.random() < knobs.intervals_drop_share:
        activity.dropped = True
        return Reply(status=0, drop=True, note="dropped")
    return json_reply(200, activity.public())


def _list(core: Core, owner: str, request: Request, *, now: float) -> Reply:
    oldest = _day(request.query.get("oldest"))
    newest_text = request.query.get("newest")
    newest = _day(newest_text) if newest_text else datetime.fromtimestamp(now, UTC).date()
    if oldest is None or newest is None:
        text = "oldest (required) and newest must be dates like 2026-12-31"
        return error(422, text, note="dates_invalid")
    low = datetime.combine(oldest, time.min, UTC).timestamp()
    high = datetime.combine(newest, time.max, UTC).timestamp()
    chosen = [a for a in core.icu.of_athlete(owner) if low <= a.start <= high]
    chosen.sort(key=lambda a: (a.start, a.id), reverse=True)
    body = json.dumps([a.public() for a in chosen]).encode("utf-8")
    return Reply(status=200, body=body, content_type=JSON_TYPE)


def _day(text: str | None) -> date | None:
    """A date from ``YYYY-MM-DD`` (a date-time's date part is taken too)."""
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        return None
