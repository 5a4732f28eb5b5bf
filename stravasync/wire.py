"""The translation boundary: where Strava's HTTP answers and httpx's failures become ours.

Owns the one place, used by both :mod:`stravasync.oauth` and :mod:`stravasync.strava`,
that turns a transport failure (:func:`translate_errors`) or an HTTP answer
(:func:`raise_for_response`) into the :mod:`stravasync.errors` tree, and the small
readers of Strava's bodies (:func:`json_body`, :func:`has_error`,
:func:`parse_duplicate`, :func:`plain_text`, :func:`athlete_from`)::

    httpx.TimeoutException, httpx.TransportError   -> TransientError
    5xx, 408                                        -> TransientError
    429 (errors[].code "exceeded")                  -> RateLimited(until=boundary)
    401 access_token invalid                        -> AccessTokenInvalid (the client
                                                       refreshes once and retries once)
    401/403 activity:write_permission missing       -> ScopeMissing
    403 Application Status Inactive                 -> AppInactive
    403 Limit of connected athletes exceeded        -> AthleteLimitReached
    "duplicate of activity N" on POST /uploads      -> DuplicateActivity(activity_id=N)
    400/409/413/415/422 on POST /uploads            -> UploadRejected(Strava's reason)
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
    RateLimited,
    ScopeMissing,
    TransientError,
    UploadRejected,
)
from stravasync.logs import redact_text
from stravasync.ratelimit import next_quarter_hour
from stravasync.tokens import Athlete

if TYPE_CHECKING:
    from stravasync.ratelimit import Governor, RequestKind

__all__ = [
    "DEAD_END_CLASSES",
    "DEAD_END_MESSAGES",
    "DEAD_END_REASONS",
    "RETRY_LATER",
    "USER_AGENT",
    "athlete_from",
    "has_error",
    "is_scope_missing",
    "json_body",
    "make_timeout",
    "parse_duplicate",
    "plain_text",
    "raise_for_response",
    "translate_errors",
]

USER_AGENT = "stravasync"
_TAG_RE = re.compile(r"<[^>]*>")
_DUPLICATE_RE = re.compile(
    r"duplicate\s+of\s+(?:<a\b[^>]*?/activities/(\d+)[^>]*>\s*)?activity\s+(\d+)",
    re.IGNORECASE,
)


DEAD_END_MESSAGES = {
    "app_inactive": (
        "Strava reports the API application as inactive (its owner's subscription or "
        "status). Every call fails until the owner reactivates it at "
        "https://www.strava.com/settings/api."
    ),
    "athlete_limit": (
        "Strava refuses this athlete: the API application has reached its limit of "
        "connected athletes (apps in review are capped). The app owner must free a "
        "place or complete Strava's review."
    ),
}
DEAD_END_CLASSES: dict[str, type[DeadEnd]] = {
    "app_inactive": AppInactive,
    "athlete_limit": AthleteLimitReached,
}
DEAD_END_REASONS = {cls: reason for reason, cls in DEAD_END_CLASSES.items()}


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


def is_scope_missing(body: Any) -> bool:
    """Whether Strava says the token lacks a permission (``…_permission`` ``missing``)."""
    return any(
        e.get("code", "").lower() == "missing" and "permission" in e.get("field", "").lower()
        for e in _errors(body)
    )


def raise_for_response(
    response: httpx.Response,
    *,
    governor: Governor | None,
    kind: RequestKind = "read",
    upload: bool = False,
    advice: str = RETRY_LATER,
    clock: Callable[[], float] = time.time,
) -> None:
    """Raise the error of ours that ``response`` means; return if it is a success.

    ``advice`` ends the message of a transient failure (a 5xx): what happens next.
    """
    status = response.status_code
    if 200 <= status < 300:
        return
    body = json_body(response)
    text = response.text
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
    if status in (401, 403) and is_scope_missing(body):
        raise ScopeMissing(
            "Strava says this sign-in lacks permission to upload activities "
            "(activity:write). Run `stravasync auth` and leave 'Upload your activities' "
            "ticked.",
        )
    if status == 403 and has_error(body, resource="Application", code="Inactive"):
        raise AppInactive(
            DEAD_END_MESSAGES["app_inactive"] + " stravasync will try again hourly.",
            status_code=status,
        )
    if status == 403 and "connected athletes" in text.lower():
        raise AthleteLimitReached(
            DEAD_END_MESSAGES["athlete_limit"] + " stravasync will try again hourly.",
            status_code=status,
        )
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
    if upload:
        reason = _reason(response)
        activity_id = parse_duplicate(reason) or parse_duplicate(text)
        if activity_id is not None or "duplicate of" in reason.lower():
            raise DuplicateActivity(reason, activity_id=activity_id, status_code=status)
        if status in (400, 409, 413, 415, 422):
            raise UploadRejected(reason, status_code=status)
    raise ApiError(
        f"Strava answered HTTP {status}: {redact_text(_reason(response))}",
        status_code=status,
    )


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
