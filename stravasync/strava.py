"""The Strava API client: uploads, upload polls and the athlete, within the rate limits.

Owns every REST call to Strava for one athlete. Nothing above this module sees httpx,
a raw dict or a status code: results are frozen values (:class:`Upload`,
:class:`~stravasync.tokens.Athlete`); failures are :mod:`stravasync.errors`, made at
the one boundary in :mod:`stravasync.wire`. A 401 on the access token is refreshed
once and retried once; a missing scope is recorded on the token store; a dead end
(inactive app, athlete cap) pauses every call in the governor and is raised again,
without calling Strava, while it lasts.

Tokens travel only in the ``Authorization: Bearer`` header, never in a URL or a form.
Every call has a timeout, asks the :class:`~stravasync.ratelimit.Governor` first (and
raises :class:`RateLimited` without sending when told to wait), and feeds the response
headers back to it. Nothing here sleeps. The client is built by the composition root
(:mod:`stravasync.stack`), which also builds the token store and the governor.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from stravasync.errors import (
    ApiError,
    DeadEnd,
    DuplicateActivity,
    RateLimited,
    ScopeMissing,
    TransientError,
)
from stravasync.logs import get_logger
from stravasync.wire import (
    DEAD_END_CLASSES,
    DEAD_END_MESSAGES,
    DEAD_END_REASONS,
    USER_AGENT,
    athlete_from,
    is_scope_missing,
    json_body,
    make_timeout,
    parse_duplicate,
    raise_for_response,
    translate_errors,
)

if TYPE_CHECKING:
    from stravasync.config import StravaConfig
    from stravasync.ratelimit import Governor, RequestKind
    from stravasync.tokens import Athlete, TokenStore

__all__ = [
    "STATUS_DELETED",
    "STATUS_ERROR",
    "STATUS_PROCESSING",
    "STATUS_READY",
    "StravaClient",
    "Upload",
]

log = get_logger(__name__)

STATUS_PROCESSING = "Your activity is still being processed."
STATUS_READY = "Your activity is ready."
STATUS_ERROR = "There was an error processing your activity."
STATUS_DELETED = "The created activity has been deleted."

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
        self._http = httpx.Client(
            base_url=config.api_url.rstrip("/") + "/",
            transport=transport,
            timeout=make_timeout(timeout),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=False,
        )

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
            if response.status_code == 401 and not is_scope_missing(json_body(response)):
                log.info("access_token_refused", path=path)
                token = self._tokens.force_refresh(token)
                response = self._send(method, path, token=token, kind=kind, reserve=reserve,
                                      data=data, files=files)
            raise_for_response(response, governor=self._governor, kind=kind, upload=upload,
                               clock=self._clock)
        except ScopeMissing:
            self._tokens.mark_dead("scope_missing")
            raise
        except DeadEnd as exc:
            reason = DEAD_END_REASONS[type(exc)]
            until = self._clock() + exc.retry_after
            self._governor.pause(until=until, reason=reason)
            log.error("strava_dead_end", reason=reason, retry_at=until)
            raise
        return response

    def _refuse_during_dead_end(self, kind: RequestKind) -> None:
        """Raise the recorded dead end again, without calling Strava, while it lasts."""
        pause = self._governor.active_pause(kind)
        if pause is None or pause.reason not in DEAD_END_CLASSES:
            return
        error = DEAD_END_CLASSES[pause.reason](
            f"{DEAD_END_MESSAGES[pause.reason]} Not calling Strava again before "
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


