"""The translation boundary: where Strava's HTTP answers and httpx's failures become ours.

Owns the one place, used by both :mod:`stravasync.strava.oauth` and :mod:`stravasync.strava.client`,
that turns a transport failure (:func:`translate_errors`) or an HTTP answer
(:func:`raise_for_response`) into the :mod:`stravasync.errors` tree, and the small
readers of Strava's bodies (:func:`json_body`, :func:`has_error`,
:func:`parse_duplicate`, :func:`plain_text`, :func:`athlete_from`, :func:`echo_agrees`),
and reading a reply whole only up to :data:`MAX_REPLY_BYTES` (:func:`read_capped`)::

    httpx.TimeoutException, httpx.TransportError   -> TransientError
    5xx, 408                                        -> TransientError
    429 (errors[].code "exceeded")                  -> RateLimited(until=boundary)
    401 access_token invalid                        -> AccessTokenInvalid (the client
                                                       refreshes once and retries once)
    401/403 activity:write_permission missing       -> ScopeMissing (sign in again)
    401/403 activity:read…_permission missing       -> ListScopeMissing (cannot list;
                                                       uploads still work)
    403 Application Status Inactive                 -> AppInactive
    403 Limit of connected athletes exceeded        -> AthleteLimitReached
    "duplicate of activity N" on POST /uploads      -> DuplicateActivity(activity_id=N)
    400/409/413/415/422 on POST /uploads            -> UploadRejected(Strava's reason)
    4xx on PUT /activities/{id}                     -> UpdateRefused(Strava's reason;
                                                       404: the activity is gone)
    other                                           -> ApiError

What an error means for the work (wait, retry, or stop until a person acts) is told
by the error itself (:attr:`~stravasync.errors.StravaSyncError.needs_person`,
:meth:`~stravasync.errors.StravaSyncError.wait_until`), so no caller sorts errors again.
Nothing here sends a request or reads a token.
"""

from __future__ import annotations

import contextlib
import html
import re
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx

from stravasync.errors import (
    AccessTokenInvalid,
    ApiError,
    AppInactive,
    AthleteLimitReached,
    DeadEnd,
    DuplicateActivity,
    ListScopeMissing,
    RateLimited,
    ScopeMissing,
    TransientError,
    UpdateRefused,
    UploadRejected,
)
from stravasync.logs import redact_text
from stravasync.strava.governor import next_quarter_hour
from stravasync.strava.tokens import Athlete

if TYPE_CHECKING:
    from stravasync.strava.governor import Governor, RequestKind

__all__ = [
    "DEAD_END_CLASSES",
    "DEAD_END_MESSAGES",
    "DEAD_END_REASONS",
    "DEAD_END_RETRY",
    "MAX_REPLY_BYTES",
    "RETRY_LATER",
    "SETTINGS_API_URL",
    "USER_AGENT",
    "athlete_from",
    "dead_end",
    "echo_agrees",
    "has_error",
    "is_athlete_limit",
    "is_scope_missing",
    "json_body",
    "make_timeout",
    "missing_permission",
    "parse_duplicate",
    "plain_text",
    "raise_for_response",
    "read_capped",
    "translate_errors",
    "with_body",
]

USER_AGENT = "stravasync"
MAX_REPLY_BYTES = 4 * 1024 * 1024
"""The most of one reply that is read: a list page of 200 activities is about 1 MB of JSON;
anything larger is not an answer of Strava's (the client raises
:class:`~stravasync.errors.ReplyTooLarge`)."""
_BODY_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
"""Headers that describe the body as sent, not as decoded and held."""
_TAG_RE = re.compile(r"<[^>]*>")
_DUPLICATE_RE = re.compile(
    r"duplicate\s+of\s+(?:<a\b[^>]*?/activities/(\d+)[^>]*>\s*)?activity\s+(\d+)",
    re.IGNORECASE,
)


SETTINGS_API_URL = "https://www.strava.com/settings/api"
"""Where an app's owner sees its status, athlete cap and credentials."""

DEAD_END_MESSAGES = {
    "app_inactive": (
        "Strava reports the API application as inactive: an app works only while its "
        "owner has a Strava subscription. Every call fails until the owner subscribes, "
        f"then reactivates the app at {SETTINGS_API_URL}."
    ),
    "athlete_limit": (
        "Strava refuses this athlete: the API application has reached its limit of "
        "connected athletes. A new app starts with a cap of 1 athlete; its owner raises "
        f"the cap in the app's settings at {SETTINGS_API_URL} (up to 10 athletes without "
        "review) or frees a place; more than 10 athletes needs Strava's review."
    ),
}
DEAD_END_CLASSES: dict[str, type[DeadEnd]] = {
    "app_inactive": AppInactive,
    "athlete_limit": AthleteLimitReached,
}
DEAD_END_REASONS = {cls: reason for reason, cls in DEAD_END_CLASSES.items()}
DEAD_END_RETRY = "stravasync will try again hourly."
"""What follows a dead end met in the background (the default advice)."""


def dead_end(reason: str, *, status_code: int | None,
             advice: str = DEAD_END_RETRY) -> DeadEnd:
    """The dead-end error for ``reason`` ("app_inactive", "athlete_limit"), ``advice`` last."""
    return DEAD_END_CLASSES[reason](
        f"{DEAD_END_MESSAGES[reason]} {advice}".strip(), status_code=status_code
    )


def parse_duplicate(text: str | None) -> int | None:
    """The activity id in Strava's "x duplicate of activity N" text (plain or HTML), else None."""
    if not text:
        return None
    match = _DUPLICATE_RE.search(html.unescape(text))
    if match is None:
        return None
    return int(match.group(2) or match.group(1))


def plain_text(text: str) -> str:
    """Strava's words without markup: tags dropped, entities decoded, spaces collapsed.

    Strava writes its duplicate errors as HTML (``x duplicate of <a href=...>activity
    N</a>``); people and logs get ``x duplicate of activity N``.
    """
    return " ".join(html.unescape(_TAG_RE.sub("", text)).split())


RETRY_LATER = "It will be retried later."
"""What to do after a transient failure in the background (the default advice)."""


def _os_words(exc: BaseException) -> str | None:
    """The operating system's words for the cause of ``exc`` (e.g. "Connection refused")."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        cause = cause.__cause__ or cause.__context__
    return None


def _what_happened(exc: httpx.HTTPError, what: str) -> str:
    """A transport failure in words, without naming httpx's classes."""
    if isinstance(exc, httpx.ConnectTimeout):
        text = f"Timed out connecting to Strava ({what})"
    elif isinstance(exc, httpx.TimeoutException):
        text = f"Strava did not answer in time ({what})"
    elif isinstance(exc, httpx.ProxyError):
        text = f"The proxy would not connect to Strava ({what})"
    elif isinstance(exc, httpx.ConnectError):
        text = f"Could not connect to Strava ({what})"
    elif isinstance(exc, httpx.UnsupportedProtocol):
        text = f"Cannot reach Strava ({what}): the address is not an http(s) URL"
    elif isinstance(exc, httpx.TransportError):
        text = f"The connection to Strava broke off ({what})"
    else:
        text = f"Cannot reach Strava ({what})"
    words = _os_words(exc)
    return f"{text}: {redact_text(words)}" if words else text


@contextlib.contextmanager
def translate_errors(what: str, *, advice: str = RETRY_LATER) -> Iterator[None]:
    """Turn httpx's transport failures during ``what`` into TransientError.

    The message says what happened in words (could not connect, timed out ...) and
    then ``advice``: what the caller will do or the person should do.
    """
    try:
        yield
    except httpx.HTTPError as exc:
        raise TransientError(f"{_what_happened(exc, what)}. {advice}".strip()) from exc


def json_body(response: httpx.Response) -> Any:
    """The JSON body of ``response``, or None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def _errors(body: Any) -> list[dict[str, str]]:
    if not isinstance(body, dict):
        return []
    errors = body.get("errors")
    if not isinstance(errors, list):
        return []
    return [{k: str(v) for k, v in e.items()} for e in errors if isinstance(e, dict)]


def has_error(body: Any, **match: str) -> bool:
    """Whether one of Strava's ``errors[]`` entries matches every ``key=value`` (any case)."""
    return any(
        all(e.get(k, "").lower() == v.lower() for k, v in match.items()) for e in _errors(body)
    )


def _reason(response: httpx.Response) -> str:
    """Strava's own words for a failure, built from the error body."""
    body = json_body(response)
    if isinstance(body, dict):
        if isinstance(body.get("error"), str) and body["error"]:
            return str(body["error"])
        details = [
            " ".join(p for p in (e.get("resource"), e.get("field"), e.get("code")) if p)
            for e in _errors(body)
        ]
        message = str(body.get("message") or "").strip()
        if details:
            joined = "; ".join(details)
            return f"{message} ({joined})" if message else joined
        if message:
            return message
    text = response.text.strip()
    return text[:300] if text else f"HTTP {response.status_code}"


def missing_permission(body: Any) -> str | None:
    """The permission Strava says the token lacks (``activity:write``, ``activity:read``), or None.

    Strava names it in the field, e.g. ``{"field": "activity:write_permission",
    "code": "missing"}``; a missing-permission error without a name reads as
    ``activity:write`` (what uploads need).
    """
    for e in _errors(body):
        field = e.get("field", "").lower()
        if e.get("code", "").lower() == "missing" and "permission" in field:
            name = field.removesuffix("_permission").strip()
            return name if ":" in name else "activity:write"
    return None


def is_scope_missing(body: Any) -> bool:
    """Whether Strava says the token lacks a permission (``…_permission`` ``missing``)."""
    return missing_permission(body) is not None


def is_athlete_limit(response: httpx.Response) -> bool:
    """Whether a 4xx answer is Strava's "Limit of connected athletes exceeded"."""
    return 400 <= response.status_code < 500 and "connected athletes" in response.text.lower()


_SCOPE_MISSING_TEXT = (
    "Strava says this sign-in lacks permission to upload activities "
    "(activity:write). Run `stravasync auth` and leave 'Upload your activities' "
    "ticked."
)
_LIST_SCOPE_MISSING_TEXT = (
    "Strava says this sign-in may not list activities ({permission} was not granted), "
    "so each upload is polled on its own, which costs more calls. Uploads still work; "
    "to save calls, run `stravasync auth` again and leave every permission ticked."
)


def raise_for_response(
    response: httpx.Response,
    *,
    governor: Governor | None,
    kind: RequestKind = "read",
    upload: bool = False,
    update: bool = False,
    advice: str = RETRY_LATER,
    dead_end_advice: str = DEAD_END_RETRY,
    clock: Callable[[], float] = time.time,
) -> None:
    """Raise the error of ours that ``response`` means; return if it is a success.

    ``upload``: the answer to ``POST /uploads``; ``update``: to ``PUT /activities/{id}``.
    ``advice`` ends the message of a transient failure (a 5xx), ``dead_end_advice``
    that of a dead end: what happens next.
    """
    status = response.status_code
    if 200 <= status < 300:
        return
    body = json_body(response)
    if status == 429 or has_error(body, code="exceeded"):
        until = (
            governor.observe_429(kind=kind)
            if governor is not None
            else next_quarter_hour(clock())
        )
        raise RateLimited(
            f"Strava's rate limit for this application is used up; calls resume at "
            f"{time.strftime('%H:%M UTC', time.gmtime(until))}.",
            until=until, status_code=status,
        )
    refused = _refused_access(response, body, dead_end_advice=dead_end_advice)
    if refused is not None:
        raise refused
    if status == 401:
        raise AccessTokenInvalid(
            "Strava refused the access token even after a refresh. "
            "Run `stravasync auth` to sign in again.",
            status_code=status,
        )
    if status >= 500 or status == 408:
        raise TransientError(
            f"Strava had a server problem (HTTP {status}). {advice}".strip(),
            status_code=status,
        )
    if update and 400 <= status < 500:
        if status == 404:
            raise UpdateRefused("the activity is gone from Strava (deleted?)",
                                status_code=status)
        raise UpdateRefused(_reason(response), status_code=status)
    if upload:
        _raise_for_upload(response)
    raise ApiError(
        f"Strava answered HTTP {status}: {redact_text(_reason(response))}",
        status_code=status,
    )


def _refused_access(
    response: httpx.Response, body: Any, *, dead_end_advice: str
) -> ApiError | ScopeMissing | None:
    """A missing permission or a dead end (inactive app, athlete cap), else None."""
    status = response.status_code
    permission = missing_permission(body) if status in (401, 403) else None
    if permission is not None and permission.startswith("activity:read"):
        return ListScopeMissing(_LIST_SCOPE_MISSING_TEXT.format(permission=permission),
                                status_code=status)
    if permission is not None:
        return ScopeMissing(_SCOPE_MISSING_TEXT)
    if status == 403 and has_error(body, resource="Application", code="Inactive"):
        return dead_end("app_inactive", status_code=status, advice=dead_end_advice)
    if status == 403 and is_athlete_limit(response):
        return dead_end("athlete_limit", status_code=status, advice=dead_end_advice)
    return None


def _raise_for_upload(response: httpx.Response) -> None:
    """Raise DuplicateActivity or UploadRejected if an upload's 4xx answer means one."""
    status = response.status_code
    reason = _reason(response)
    activity_id = parse_duplicate(reason) or parse_duplicate(response.text)
    if activity_id is not None or "duplicate of" in reason.lower():
        raise DuplicateActivity(reason, activity_id=activity_id, status_code=status)
    if status in (400, 409, 413, 415, 422):
        raise UploadRejected(reason, status_code=status)


_ECHO_SUFFIXES = tuple(f".{kind}{gz}" for kind in ("fit", "gpx", "tcx") for gz in ("", ".gz"))
"""What Strava may append to our ``external_id`` in its echo: the file's extension."""


def echo_agrees(sent: str, echoed: str) -> bool:
    """Whether Strava's echo of an ``external_id`` is the one we ``sent``.

    It agrees when it is ours, or ours with a workout file's extension appended
    (``.fit``, ``.gpx``, ``.tcx``, each maybe with ``.gz``), as Strava may echo it.
    Anything else describes another file. (A missing echo is the caller's to judge.)
    """
    if echoed == sent:
        return True
    tail = echoed[len(sent):] if echoed.startswith(sent) else None
    return tail is not None and tail.lower() in _ECHO_SUFFIXES


def read_capped(response: httpx.Response, limit: int) -> bytes | None:
    """The reply's body (decoded), read piece by piece; None as soon as it passes ``limit``."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def with_body(response: httpx.Response, body: bytes) -> httpx.Response:
    """A closed streamed ``response`` again, holding its already decoded ``body``."""
    headers = [(k, v) for k, v in response.headers.multi_items()
               if k.lower() not in _BODY_HEADERS]
    return httpx.Response(response.status_code, headers=headers, content=body,
                          request=response.request)


def make_timeout(seconds: float) -> httpx.Timeout:
    """A timeout for every phase of a call, connecting capped at 10 s."""
    return httpx.Timeout(seconds, connect=min(seconds, 10.0))


def athlete_from(body: Any) -> Athlete | None:
    """The athlete in a token answer or a ``GET /athlete`` body, or None."""
    if not isinstance(body, dict):
        return None
    athlete = body.get("athlete", body)
    if not isinstance(athlete, dict) or not isinstance(athlete.get("id"), int):
        return None
    return Athlete(
        id=int(athlete["id"]),
        firstname=str(athlete.get("firstname") or ""),
        lastname=str(athlete.get("lastname") or ""),
    )
