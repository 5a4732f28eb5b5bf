"""The Strava API client: uploads, upload polls, activity lists and updates, the athlete.

Owns every REST call to Strava for one athlete, within the rate limits. Nothing above
this module sees httpx, a raw dict or a status code: results are frozen values
(:class:`Upload`, :class:`ActivitySummary`, :class:`~stravasync.strava.tokens.Athlete`);
failures are :mod:`stravasync.errors`, made at the one boundary in
:mod:`stravasync.strava.wire`. A 401 on the access token is refreshed once and retried once;
a missing ``activity:write`` is recorded on the token store (the sign-in is dead), a
missing ``activity:read`` only means activities cannot be listed
(:class:`~stravasync.errors.ListScopeMissing`, :meth:`StravaClient.can_list`); a dead
end (inactive app, athlete cap) pauses every call in the governor and is raised again,
without calling Strava, while it lasts.

``api_url`` may carry the ``/api/v3`` path (``https://www.strava.com/api/v3``) or none
(``https://api-v3.strava.com``, Strava's host from 4 January 2027): paths are joined
relative to it.

Tokens travel only in the ``Authorization: Bearer`` header, never in a URL or a form.
Every call has a timeout, asks the :class:`~stravasync.strava.governor.Governor` first (and
raises :class:`RateLimited` without sending when told to wait), and feeds the response
headers back to it. A reply is read as a stream, and at most
:data:`~stravasync.strava.wire.MAX_REPLY_BYTES` of it (more is
:class:`~stravasync.errors.ReplyTooLarge`, a transient fault). Nothing here sleeps. The
client is built by the composition root (:mod:`stravasync.stack`), which also builds the
token store and the governor.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx

from stravasync.errors import (
    ApiError,
    AthleteLimitReached,
    DeadEnd,
    DuplicateActivity,
    ListScopeMissing,
    RateLimited,
    ReplyTooLarge,
    ScopeMissing,
    TransientError,
)
from stravasync.logs import get_logger
from stravasync.strava.governor import Pause
from stravasync.strava.wire import (
    DEAD_END_CLASSES,
    DEAD_END_MESSAGES,
    DEAD_END_REASONS,
    MAX_REPLY_BYTES,
    USER_AGENT,
    athlete_from,
    is_scope_missing,
    json_body,
    make_timeout,
    parse_duplicate,
    raise_for_response,
    read_capped,
    translate_errors,
    with_body,
)

if TYPE_CHECKING:
    from stravasync.config.settings import StravaConfig
    from stravasync.strava.governor import Governor, RequestKind
    from stravasync.strava.tokens import Athlete, TokenStatus, TokenStore

__all__ = [
    "LIST_PER_PAGE_MAX",
    "STATUS_DELETED",
    "STATUS_ERROR",
    "STATUS_PROCESSING",
    "STATUS_READY",
    "ActivitySummary",
    "StravaClient",
    "Upload",
    "scope_allows_listing",
]

log = get_logger(__name__)

STATUS_PROCESSING = "Your activity is still being processed."
STATUS_READY = "Your activity is ready."
STATUS_ERROR = "There was an error processing your activity."
STATUS_DELETED = "The created activity has been deleted."
LIST_PER_PAGE_MAX = 200
"""The most activities Strava returns in one list call."""
_LIST_SCOPE = "activity:read_all"


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


def scope_allows_listing(scope: str | None) -> bool:
    """Whether granted ``scope`` lets one list call settle uploads (``activity:read_all``).

    ``activity:read`` alone lists only public activities, so a private upload would
    never be found: it does not count. For ``status``, which has no client.
    """
    return bool(scope) and _LIST_SCOPE in {s.strip() for s in (scope or "").split(",")}


@dataclass(frozen=True)
class ActivitySummary:
    """One activity of ``GET /athlete/activities``: enough to match it to an upload."""

    id: int
    """The activity id."""
    upload_id: str | None
    """The upload it came from (``upload_id_str``, else ``upload_id``); None if manual."""
    external_id: str | None
    """The external id as Strava keeps it (maybe altered): never match on it alone."""
    name: str
    """The activity's name on Strava."""
    start_time: int
    """When the workout started, Unix seconds (from ``start_date``)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ActivitySummary:
        """Build from Strava's SummaryActivity; raises ApiError if it is unusable."""
        activity_id = _positive_int(data.get("id"))
        start = _unix_time(data.get("start_date"))
        if activity_id is None or start is None:
            raise ApiError("Strava listed an activity without an id or a start time. "
                           "It will be retried later.")
        raw_upload = data.get("upload_id_str") or data.get("upload_id")
        upload_id = str(raw_upload) if _positive_int(raw_upload) is not None else None
        external = data.get("external_id")
        return cls(
            id=activity_id,
            upload_id=upload_id,
            external_id=str(external) if external is not None else None,
            name=str(data.get("name") or ""),
            start_time=start,
        )


def _unix_time(value: object) -> int | None:
    """Unix seconds of Strava's ISO 8601 time (``2026-03-01T08:00:00Z``), else None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return int(moment.timestamp())


def _positive_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.isdigit():
        return int(value) or None
    return None


# -- the REST API -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Content:
    """What one call sends besides its token: never a token itself."""

    data: Mapping[str, str] | None
    """Form fields (multipart with ``files``)."""
    files: Mapping[str, tuple[str, bytes, str]] | None
    """Multipart files."""
    params: Mapping[str, str] | None
    """The query string."""
    payload: Mapping[str, object] | None
    """A JSON body."""


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
        shared_app: bool = False,
    ) -> None:
        self._tokens = tokens
        # Several athletes on one app: the athlete cap refuses one athlete, not the app,
        # so its pause is this client's own and the other athletes' calls go on.
        self._shared_app = shared_app
        self._own_pause: Pause | None = None
        self._governor = governor
        self._clock = clock
        self._list_refused_for: TokenStatus | None = None
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

    def can_list(self) -> bool:
        """Whether the sign-in may list activities, private ones included.

        True when the stored grant holds ``activity:read_all`` and Strava has not
        refused a list call for this sign-in (until its tokens next change). Without it
        (older sign-ins, an unticked box, a bare code) each upload is polled instead.
        """
        status = self._tokens.status()
        if status is None or status.problem is not None or not status.scope:
            return False
        if status == self._list_refused_for:
            return False
        return scope_allows_listing(status.scope)

    def list_access(self) -> str:
        """What the sign-in allows for lists: ``granted`` (:meth:`can_list`), ``unknown``
        (no scope stored: a sign-in by bare code), ``refused`` (Strava refused a list for
        these tokens) or ``missing``."""
        status = self._tokens.status()
        if status is None or status.problem is not None:
            return "missing"
        if status == self._list_refused_for:
            return "refused"
        if not status.scope:
            return "unknown"
        return "granted" if scope_allows_listing(status.scope) else "missing"

    def list_activities(
        self, *, after: int | None, before: int | None, page: int = 1,
        per_page: int = LIST_PER_PAGE_MAX,
    ) -> list[ActivitySummary]:
        """GET /athlete/activities: one read, however many activities it returns.

        ``after``/``before`` bound the workout's start time (Unix seconds, strictly);
        with ``after`` Strava lists oldest first, without it newest first. A page
        shorter than ``per_page`` is the last. Raises ListScopeMissing (not a dead
        sign-in: poll each upload instead), RateLimited, TransientError, or an AuthError.
        """
        if page < 1 or not 1 <= per_page <= LIST_PER_PAGE_MAX:
            raise ValueError(f"page >= 1 and 1 <= per_page <= {LIST_PER_PAGE_MAX}")
        params: dict[str, str] = {"page": str(page), "per_page": str(per_page)}
        if after is not None:
            params["after"] = str(int(after))
        if before is not None:
            params["before"] = str(int(before))
        try:
            response = self._call("GET", "athlete/activities", kind="read", params=params)
        except ListScopeMissing:
            self._list_refused_for = self._tokens.status()
            log.warning("activity_list_refused", reason="scope_missing")
            raise
        body = json_body(response)
        if not isinstance(body, list):
            raise TransientError(
                f"Strava answered HTTP {response.status_code} without a list of activities. "
                "It will be retried later."
            )
        found = [ActivitySummary.from_json(item) for item in body if isinstance(item, dict)]
        log.debug("activities_listed", count=len(found), page=page, after=after, before=before)
        return found

    def update_activity(self, activity_id: int, fields: Mapping[str, object]) -> None:
        """PUT /activities/{id} with ``fields`` as JSON (counts on the read limit).

        Raises UpdateRefused for a 4xx (Strava's reason verbatim; 404: the activity is
        gone): permanent, never worth sending again. RateLimited, TransientError (5xx,
        network: retry later), or an AuthError otherwise.
        """
        if isinstance(activity_id, bool) or activity_id <= 0:
            raise ValueError("activity ids are positive integers")
        if not fields:
            raise ValueError("an update needs at least one field")
        self._call("PUT", f"activities/{int(activity_id)}", kind="read", update=True,
                   payload=dict(fields))
        # The file's own ``activity_updated`` (with its path) is the follower's to log.
        log.debug("activity_update_sent", activity_id=activity_id, fields=sorted(fields))

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
        update: bool = False,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        params: Mapping[str, str] | None = None,
        payload: Mapping[str, object] | None = None,
    ) -> httpx.Response:
        """Send one call: a form (``data``, ``files``), a query or a JSON ``payload``."""
        self._refuse_during_dead_end(kind)
        content = _Content(data=data, files=files, params=params, payload=payload)
        try:
            token = self._tokens.access_token()  # a refresh may meet a dead end too
            response = self._send(method, path, token=token, kind=kind, reserve=reserve,
                                  content=content)
            if response.status_code == 401 and not is_scope_missing(json_body(response)):
                log.info("access_token_refused", path=path)
                token = self._tokens.force_refresh(token)
                response = self._send(method, path, token=token, kind=kind, reserve=reserve,
                                      content=content)
            raise_for_response(response, governor=self._governor, kind=kind, upload=upload,
                               update=update, clock=self._clock)
        except ScopeMissing:
            self._tokens.mark_dead("scope_missing")
            raise
        except DeadEnd as exc:
            reason = DEAD_END_REASONS[type(exc)]
            until = self._clock() + exc.retry_after
            if self._shared_app and isinstance(exc, AthleteLimitReached):
                self._own_pause = Pause(until=until, scope="all", reason=reason)
            else:
                self._governor.pause(until=until, reason=reason)
            log.error("strava_dead_end", reason=reason, retry_at=until)
            raise
        return response

    def athlete_pause(self) -> Pause | None:
        """This athlete's own dead end (the athlete cap, several athletes on one app), if on."""
        pause = self._own_pause
        return pause if pause is not None and pause.until > self._clock() else None

    def _refuse_during_dead_end(self, kind: RequestKind) -> None:
        """Raise the recorded dead end again, without calling Strava, while it lasts."""
        pause = self.athlete_pause() or self._governor.active_pause(kind)
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
        content: _Content,
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
                request = self._http.build_request(
                    method, path, headers=headers, data=content.data, files=content.files,
                    params=content.params, json=content.payload)
                response = self._http.send(request, stream=True)
                try:
                    body = read_capped(response, MAX_REPLY_BYTES)
                finally:
                    response.close()
        finally:
            self._governor.complete(response.headers if response is not None else None)
        if body is None:
            log.warning("strava_reply_too_large", method=method, path=path,
                        status=response.status_code, limit=MAX_REPLY_BYTES)
            raise ReplyTooLarge(
                f"Strava's answer to {method} /{path.split('/', maxsplit=1)[0]} was larger "
                f"than {MAX_REPLY_BYTES // (1024 * 1024)} MiB, more than any real answer; it "
                "was not read. It will be retried later.")
        log.debug("strava_call", method=method, path=path, status=response.status_code)
        return with_body(response, body)

