"""The Strava API client: uploads and upload polls, and where Strava's answers become ours.

Owns every HTTP exchange with Strava and the one boundary where foreign failures
become ours (:func:`translate_errors` for transport errors, :func:`raise_for_response`
for answers). Nothing above this module sees httpx, a raw dict or a status code:
results are frozen values (:class:`Upload`, :class:`TokenSet`, :class:`Athlete`),
failures are :mod:`stravasync.errors`::

    httpx.TimeoutException, httpx.TransportError   -> TransientError
    5xx, 408                                        -> TransientError
    429 (errors[].code "exceeded")                  -> RateLimited(until=boundary)
    401 access_token invalid                        -> refresh once, retry once,
                                                       then AccessTokenInvalid
    401/403 activity:write_permission missing       -> ScopeMissing (recorded)
    403 Application Status Inactive                 -> AppInactive (calls paused)
    403 Limit of connected athletes exceeded        -> AthleteLimitReached (paused)
    400 refresh_token invalid (on refresh, in auth) -> ReauthRequired (recorded)
    "duplicate of activity N" on POST /uploads      -> DuplicateActivity(activity_id=N)
    400/409/413/415/422 on POST /uploads            -> UploadRejected(Strava's reason)
    other                                           -> ApiError

Tokens travel only in the ``Authorization`` header (Bearer for the API, Basic with
the client credentials for ``/oauth/revoke``), never in a URL. Every call has a
timeout, asks the :class:`~stravasync.ratelimit.Governor` first (and raises
:class:`RateLimited` without sending when told to wait), and feeds the response
headers back to it. Nothing here sleeps.
"""

from __future__ import annotations

import contextlib
import html
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
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
from stravasync.logs import get_logger, redact_text
from stravasync.ratelimit import Governor, RequestKind, next_quarter_hour
from stravasync.tokens import Athlete, TokenSet, TokenStore

if TYPE_CHECKING:
    from stravasync.auth import OAuthClient
    from stravasync.config import Config, StravaConfig

__all__ = [
    "RETRY_LATER",
    "STATUS_DELETED",
    "STATUS_ERROR",
    "STATUS_PROCESSING",
    "STATUS_READY",
    "USER_AGENT",
    "Athlete",
    "StravaClient",
    "TokenSet",
    "Upload",
    "athlete_from",
    "has_error",
    "json_body",
    "make_timeout",
    "parse_duplicate",
    "plain_text",
    "raise_for_response",
    "translate_errors",
]

log = get_logger(__name__)

STATUS_PROCESSING = "Your activity is still being processed."
STATUS_READY = "Your activity is ready."
STATUS_ERROR = "There was an error processing your activity."
STATUS_DELETED = "The created activity has been deleted."

USER_AGENT = "stravasync"
_TAG_RE = re.compile(r"<[^>]*>")
_DUPLICATE_RE = re.compile(
    r"duplicate\s+of\s+(?:<a\b[^>]*?/activities/(\d+)[^>]*>\s*)?activity\s+(\d+)",
    re.IGNORECASE,
)


_DEAD_END_MESSAGES = {
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
_DEAD_END_CLASSES: dict[str, type[DeadEnd]] = {
    "app_inactive": AppInactive,
    "athlete_limit": AthleteLimitReached,
}
_DEAD_END_REASONS = {cls: reason for reason, cls in _DEAD_END_CLASSES.items()}


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


@dataclass(frozen=True)
class Upload:
    """Strava's Upload object: the state of one file on its way to becoming an activity."""

    id: str
    """Upload id, from ``id_str`` (64-bit safe)."""
    external_id: str | None
    """Our id as Strava echoes it (maybe altered): never match on it."""
    status: str
    """Strava's status sentence, verbatim."""
    error: str | None
    """Why processing failed, verbatim (may hold HTML); None otherwise."""
    activity_id: int | None
    """The activity this upload became; only this being set means success."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Upload:
        """Build from Strava's JSON; raises ApiError if the object is unusable."""
        raw_id = data.get("id_str") or data.get("id")
        if raw_id is None or isinstance(raw_id, bool):
            raise ApiError("Strava sent an upload without an id. Try again later.")
        error = data.get("error")
        external = data.get("external_id")
        return cls(
            id=str(raw_id),
            external_id=str(external) if external is not None else None,
            status=str(data.get("status") or ""),
            error=str(error) if error else None,
            activity_id=_positive_int(data.get("activity_id")),
        )

    @property
    def ready(self) -> bool:
        """Strava made an activity of it (``activity_id`` is set): the only success."""
        return self.activity_id is not None

    @property
    def deleted(self) -> bool:
        """The activity was created and then deleted on Strava."""
        return not self.ready and "deleted" in self.status.lower()

    @property
    def processing(self) -> bool:
        """Strava is still working on it: look again later.

        Any status that is neither success nor a stated failure counts as processing,
        so a reworded status sentence makes us look again rather than give up.
        """
        return not self.ready and self.failed_reason is None

    def duplicate_of(self) -> int | None:
        """The existing activity's id if Strava called this a duplicate, else None."""
        return None if self.ready else parse_duplicate(self.error)

    @property
    def failed_reason(self) -> str | None:
        """Why this upload will never become an activity (Strava's words), or None."""
        if self.ready:
            return None
        if self.error:
            return self.error
        if self.status == STATUS_ERROR or self.deleted:
            return self.status
        return None


def _positive_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.isdigit():
        return int(value) or None
    return None


# -- the translation boundary ----------------------------------------------------------


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


def _is_scope_missing(body: Any) -> bool:
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
            else next_quarter_hour(time.time())
        )
        raise RateLimited(
            f"Strava's rate limit for this application is used up; calls resume at "
            f"{time.strftime('%H:%M UTC', time.gmtime(until))}.",
            until=until, status_code=status,
        )
    if status in (401, 403) and _is_scope_missing(body):
        raise ScopeMissing(
            "Strava says this sign-in lacks permission to upload activities "
            "(activity:write). Run `stravasync auth` and leave 'Upload your activities' "
            "ticked.",
        )
    if status == 403 and has_error(body, resource="Application", code="Inactive"):
        raise AppInactive(
            _DEAD_END_MESSAGES["app_inactive"] + " stravasync will try again hourly.",
            status_code=status,
        )
    if status == 403 and "connected athletes" in text.lower():
        raise AthleteLimitReached(
            _DEAD_END_MESSAGES["athlete_limit"] + " stravasync will try again hourly.",
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
    return httpx.Timeout(seconds, connect=min(seconds, 10.0))


# -- the REST API -------------------------------------------------------------------------


class StravaClient:
    """Calls Strava's REST API for one athlete, within the rate limits.

    Every call: ask the governor (raise RateLimited without sending if told to wait),
    get an access token from the store (refreshed ahead of expiry), send with a
    timeout, feed the headers back, and on a 401 refresh once and retry once.
    """

    def __init__(
        self,
        *,
        config: StravaConfig,
        tokens: TokenStore,
        governor: Governor,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._tokens = tokens
        self._governor = governor
        self._clock = clock
        self._owned: list[OAuthClient] = []  # closed with this client
        self._http = httpx.Client(
            base_url=config.api_url.rstrip("/") + "/",
            transport=transport,
            timeout=make_timeout(timeout),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=False,
        )

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        timeout: float = 30.0,
    ) -> StravaClient:
        """The usual wiring: tokens and governor state in ``config.state_dir``.

        The client owns the OAuth client it refreshes through (closed by :meth:`close`);
        its token store and governor are :attr:`tokens` and :attr:`governor`.
        """
        from stravasync.auth import OAuthClient  # auth builds on this module

        oauth = OAuthClient(config=config.strava, transport=transport, timeout=timeout)
        tokens = TokenStore(state_dir=config.state_dir, refresher=oauth, clock=clock)
        governor = Governor(state_file=config.state_dir / "ratelimit.json", clock=clock)
        client = cls(config=config.strava, tokens=tokens, governor=governor,
                     transport=transport, timeout=timeout, clock=clock)
        client._owned.append(oauth)
        return client

    @property
    def tokens(self) -> TokenStore:
        """The token store this client draws access tokens from."""
        return self._tokens

    @property
    def governor(self) -> Governor:
        """The rate-limit governor this client obeys (for scheduling and status)."""
        return self._governor

    def close(self) -> None:
        """Release the connection pools."""
        self._http.close()
        for owned in self._owned:
            owned.close()

    def __enter__(self) -> StravaClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def create_upload(
        self,
        *,
        data: bytes,
        data_type: str,
        external_id: str,
        name: str | None = None,
        description: str | None = None,
        trainer: bool = False,
        commute: bool = False,
        reserve: int = 0,
    ) -> Upload:
        """POST /uploads; the returned Upload is usually still processing.

        ``reserve`` = uploads already in flight (each needs a poll). Raises
        DuplicateActivity, UploadRejected, RateLimited, TransientError, or an AuthError.
        """
        fields: dict[str, str] = {"data_type": data_type, "external_id": external_id}
        if name:
            fields["name"] = name
        if description:
            fields["description"] = description
        if trainer:
            fields["trainer"] = "1"
        if commute:
            fields["commute"] = "1"
        filename = f"{external_id}.{data_type}"
        files = {"file": (filename, data, "application/octet-stream")}
        response = self._call(
            "POST", "uploads", kind="upload", reserve=reserve, upload=True,
            data=fields, files=files,
        )
        upload = self._upload_from(response)
        duplicate = upload.duplicate_of()
        if duplicate is not None and upload.error:
            raise DuplicateActivity(upload.error, activity_id=duplicate,
                                    status_code=response.status_code)
        log.debug("upload_accepted", upload_id=upload.id, external_id=external_id,
                 data_type=data_type, bytes=len(data))
        return upload

    def get_upload(self, upload_id: str) -> Upload:
        """GET /uploads/{id} (counts on both rate limits)."""
        if not upload_id.isdigit():
            raise ValueError("upload ids are decimal digits")
        response = self._call("GET", f"uploads/{upload_id}", kind="read")
        return self._upload_from(response)

    def get_athlete(self) -> Athlete:
        """GET /athlete: who the tokens act for."""
        response = self._call("GET", "athlete", kind="read")
        return athlete_from(json_body(response)) or Athlete(id=0)

    @staticmethod
    def _upload_from(response: httpx.Response) -> Upload:
        body = json_body(response)
        if not isinstance(body, dict):
            raise TransientError(
                f"Strava answered HTTP {response.status_code} without an upload object. "
                "It will be retried later."
            )
        return Upload.from_json(body)

    def _call(
        self,
        method: str,
        path: str,
        *,
        kind: RequestKind,
        reserve: int = 0,
        upload: bool = False,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> httpx.Response:
        self._refuse_during_dead_end(kind)
        try:
            token = self._tokens.access_token()  # a refresh may meet a dead end too
            response = self._send(method, path, token=token, kind=kind, reserve=reserve,
                                  data=data, files=files)
            if response.status_code == 401 and not _is_scope_missing(json_body(response)):
                log.info("access_token_refused", path=path)
                token = self._tokens.force_refresh(token)
                response = self._send(method, path, token=token, kind=kind, reserve=reserve,
                                      data=data, files=files)
            raise_for_response(response, governor=self._governor, kind=kind, upload=upload)
        except ScopeMissing:
            self._tokens.mark_dead("scope_missing")
            raise
        except DeadEnd as exc:
            reason = _DEAD_END_REASONS[type(exc)]
            until = self._clock() + exc.retry_after
            self._governor.pause(until=until, reason=reason)
            log.error("strava_dead_end", reason=reason, retry_at=until)
            raise
        return response

    def _refuse_during_dead_end(self, kind: RequestKind) -> None:
        """Raise the recorded dead end again, without calling Strava, while it lasts."""
        pause = self._governor.active_pause(kind)
        if pause is None or pause.reason not in _DEAD_END_CLASSES:
            return
        error = _DEAD_END_CLASSES[pause.reason](
            f"{_DEAD_END_MESSAGES[pause.reason]} Not calling Strava again before "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(pause.until))}."
        )
        error.retry_after = max(0.0, pause.until - self._clock())
        raise error

    def _send(
        self,
        method: str,
        path: str,
        *,
        token: str,
        kind: RequestKind,
        reserve: int,
        data: Mapping[str, str] | None,
        files: Mapping[str, tuple[str, bytes, str]] | None,
    ) -> httpx.Response:
        until = self._governor.acquire(kind, reserve=reserve)
        if until is not None:
            raise RateLimited(
                "Holding back to stay within Strava's rate limit; calls resume at "
                f"{time.strftime('%H:%M UTC', time.gmtime(until))}.",
                until=until,
            )
        headers = {"Authorization": f"Bearer {token}"}
        response: httpx.Response | None = None
        try:
            with translate_errors(f"{method} /{path.split('/', maxsplit=1)[0]}"):
                response = self._http.request(method, path, headers=headers, data=data,
                                              files=files)
                response.read()
        finally:
            self._governor.complete(response.headers if response is not None else None)
        log.debug("strava_call", method=method, path=path, status=response.status_code)
        return response


def athlete_from(body: Any) -> Athlete | None:
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
