"""Owns every call to intervals.icu for one account: upload, list by day, whose key it is.

intervals.icu as an uploader meets it (``../shared/strava-api.md``, its last section):
HTTP Basic auth with the user name ``API_KEY`` and the athlete's key as the password;
athlete ``0`` means "the athlete the key belongs to". The upload is synchronous:
``POST /athlete/{id}/activities`` with a multipart ``file`` and the query parameters
``name``, ``description`` and ``external_id`` answers ``200 {"id": "i999", …}``, so
there is nothing to follow. ``GET /athlete/{id}/activities?oldest=&newest=`` lists a
span of days with each activity's ``external_id``: that is how a crash between a POST
and its record is resolved (look for the ``external_id`` before sending again).

Answers become :mod:`stravasync.errors` here, and nowhere else::

    httpx.TimeoutException, httpx.TransportError   -> TransientError
    5xx, 408                                        -> TransientError
    401, 403                                        -> KeyRefused (a person makes a
                                                       new key; this account stops)
    429                                             -> RateLimited(until = now +
                                                       Retry-After, if it says)
    400, 413, 415, 422 with a message on the POST   -> UploadRejected(its message)
    a reply over MAX_REPLY_BYTES (wire's cap)       -> ReplyTooLarge (transient)
    not JSON                                        -> TransientError
    other                                           -> ApiError

How long to wait after a 429 or a fault (exponential, from ``Retry-After``) is the
caller's policy; Strava's governor is not involved. The key travels only in the
``Authorization`` header and never appears in a message or a log line (the
configuration registers it with the log redaction). Nothing here sleeps.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx

from stravasync.errors import (
    ApiError,
    KeyRefused,
    RateLimited,
    ReplyTooLarge,
    TransientError,
    UploadRejected,
)
from stravasync.logs import redact_text
from stravasync.strava.wire import (
    MAX_REPLY_BYTES,
    USER_AGENT,
    make_timeout,
    read_capped,
    translate_errors,
)

__all__ = ["SERVICE", "IntervalsActivity", "IntervalsAthlete",
           "IntervalsClient", "retry_after_seconds"]

#: How the service is named to people.
SERVICE = "intervals.icu"
#: Where a person makes a new key.
KEY_PAGE = "https://intervals.icu/settings (Developer Settings → API key)"
_REJECTED = frozenset({400, 413, 415, 422})


@dataclass(frozen=True)
class IntervalsActivity:
    """One activity as intervals.icu lists or answers it."""

    id: str
    """``i…``: the activity's id."""
    external_id: str | None = None
    """What we sent as ``external_id`` (None for activities from elsewhere)."""
    start_date_local: str | None = None
    """The start in the athlete's local time, ISO text (list entries only)."""
    name: str | None = None


@dataclass(frozen=True)
class IntervalsAthlete:
    """Whose key it is."""

    id: str
    name: str | None = None


class IntervalsClient:
    """intervals.icu for one account: its API base, athlete and key."""

    def __init__(self, *, account: str, api_url: str, athlete_id: str, api_key: str,
                 transport: httpx.BaseTransport | None = None, timeout: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.account = account
        self._athlete = athlete_id
        self._clock = clock
        self._http = httpx.Client(
            base_url=api_url.rstrip("/") + "/", transport=transport,
            timeout=make_timeout(timeout), auth=httpx.BasicAuth("API_KEY", api_key),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=False)

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    def __enter__(self) -> IntervalsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def upload(self, *, data: bytes, filename: str, external_id: str,
               name: str | None = None, description: str | None = None) -> IntervalsActivity:
        """Send one workout file; its activity, as intervals.icu made it."""
        params = {"external_id": external_id}
        if name:
            params["name"] = name
        if description:
            params["description"] = description
        body = self._call("POST", f"athlete/{self._athlete}/activities", what="uploading",
                          params=params, files={"file": (filename, data)}, upload=True)
        activity = _activity(body)
        if activity is None:
            raise TransientError(f"{SERVICE} answered the upload without an activity id: "
                                 "will look for it by its external id before sending again")
        return activity

    def activities(self, *, oldest: date, newest: date) -> list[IntervalsActivity]:
        """Every activity that started (local time) from *oldest* to *newest*, inclusive."""
        body = self._call("GET", f"athlete/{self._athlete}/activities", what="listing",
                          params={"oldest": oldest.isoformat(), "newest": newest.isoformat()})
        if not isinstance(body, list):
            raise TransientError(f"{SERVICE} answered the activity list with something else "
                                 "than a list: will try again later")
        return [a for a in (_activity(item) for item in body) if a is not None]

    def athlete(self) -> IntervalsAthlete:
        """Whose key this is (one call): for ``stravasync auth --account``."""
        body = self._call("GET", f"athlete/{self._athlete}", what="checking the key")
        if not isinstance(body, dict) or not isinstance(body.get("id"), str | int):
            raise ApiError(f"{SERVICE} answered the athlete without an id")
        name = body.get("name")
        return IntervalsAthlete(id=str(body["id"]), name=name if isinstance(name, str) else None)

    def _call(self, method: str, path: str, *, what: str, upload: bool = False,
              **kwargs: Any) -> Any:
        with translate_errors(f"{what} on {SERVICE}"), \
                self._http.stream(method, path, **kwargs) as response:
            raw = read_capped(response, MAX_REPLY_BYTES)
        if raw is None:
            raise ReplyTooLarge(f"{SERVICE} sent a reply larger than {MAX_REPLY_BYTES} bytes "
                                 "while " + what + ": not read; will try again later")
        self._raise_for(response, raw, upload=upload)
        try:
            return httpx.Response(200, content=raw).json()
        except ValueError:
            raise TransientError(f"{SERVICE} answered {what} with something else than "
                                 "JSON: will try again later") from None

    def _raise_for(self, response: httpx.Response, raw: bytes, *, upload: bool) -> None:
        status = response.status_code
        if status < 300:
            return
        message = _message(raw)
        if status in (401, 403):
            raise KeyRefused(
                f"{SERVICE} refused the API key of account {self.account!r} "
                f"(HTTP {status}): make a new key at {KEY_PAGE} and put it where the "
                "configuration reads it (api_key_file or "
                f"$STRAVASYNC_INTERVALS_KEY_{self.account.upper().replace('-', '_')})",
                account=self.account)
        if status == 429:
            wait = retry_after_seconds(response.headers.get("Retry-After"), now=self._clock())
            raise RateLimited(f"{SERVICE} says: too many requests", status_code=status,
                              until=self._clock() + (wait or 0.0))
        if status >= 500 or status == 408:
            raise TransientError(f"{SERVICE} failed (HTTP {status}): will try again later")
        if upload and status in _REJECTED:
            raise UploadRejected(message or f"HTTP {status}", status_code=status,
                                 service=SERVICE)
        raise ApiError(f"{SERVICE} answered HTTP {status}: {message or 'no reason given'}",
                       status_code=status)


def retry_after_seconds(value: str | None, *, now: float) -> float | None:
    """Seconds a ``Retry-After`` header asks for (seconds or an HTTP date), else None."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def _message(raw: bytes) -> str:
    """intervals.icu's reason: ``{"error": …}`` / ``{"message": …}``, or short plain text."""
    try:
        body = httpx.Response(200, content=raw).json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("error", "message", "status"):
            if isinstance(body.get(key), str) and body[key].strip():
                return redact_text(body[key].strip())[:300]
    text = raw.decode("utf-8", "replace").strip()
    return redact_text(text)[:300] if text and not text.startswith("<") else ""


def _activity(body: Any) -> IntervalsActivity | None:
    if not isinstance(body, dict) or not isinstance(body.get("id"), str | int):
        return None

    def text(key: str) -> str | None:
        value = body.get(key)
        return value if isinstance(value, str) else None

    return IntervalsActivity(id=str(body["id"]), external_id=text("external_id"),
                             start_date_local=text("start_date_local"), name=text("name"))
