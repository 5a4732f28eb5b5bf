"""Tests for the Strava API client against httpx.MockTransport fakes."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import structlog
from strava_rig import ACCESS, CONFIG, NEW_ACCESS, NEW_REFRESH, REFRESH, SECRET

from stravasync.errors import (
    AccessTokenInvalid,
    ApiError,
    AppInactive,
    AthleteLimitReached,
    DuplicateActivity,
    ListScopeMissing,
    RateLimited,
    ReauthRequired,
    ScopeMissing,
    StravaSyncError,
    TransientError,
    UpdateRefused,
    UploadRejected,
)
from stravasync.logs import configure_logging
from stravasync.strava.client import (
    STATUS_DELETED,
    STATUS_ERROR,
    STATUS_PROCESSING,
    STATUS_READY,
    ActivitySummary,
    StravaClient,
    Upload,
)
from stravasync.strava.governor import Governor, next_quarter_hour
from stravasync.strava.oauth import OAuthClient
from stravasync.strava.tokens import TokenSet, TokenStore
from stravasync.strava.wire import parse_duplicate, plain_text

RATE = {
    "X-RateLimit-Limit": "200,2000",
    "X-RateLimit-Usage": "10,20",
    "X-ReadRateLimit-Limit": "100,1000",
    "X-ReadRateLimit-Usage": "5,10",
}
HTML_DUP = (
    "x.fit duplicate of <a href='/activities/19636549590' target='_blank'>activity 19636549590</a>"
)

Handler = Callable[[httpx.Request], httpx.Response]


def upload_json(**overrides: object) -> dict[str, object]:
    """A Strava upload object."""
    data: dict[str, object] = {
        "id": 9000001,
        "id_str": "9000001",
        "external_id": "ext1.fit",
        "error": None,
        "status": STATUS_PROCESSING,
        "activity_id": None,
    }
    data.update(overrides)
    return data


class FakeStrava:
    """A tiny stateful stand-in for Strava's API and OAuth endpoints."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.valid_access = {ACCESS}
        self.valid_refresh = {REFRESH}
        self.api: Handler = lambda _r: httpx.Response(201, json=upload_json(), headers=RATE)
        self.refreshes = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        path = request.url.path
        if path == "/oauth/token":
            form = dict(httpx.QueryParams(request.content.decode()))
            if form.get("grant_type") == "refresh_token":
                if form.get("refresh_token") not in self.valid_refresh:
                    return httpx.Response(
                        400,
                        json={
                            "message": "Bad Request",
                            "errors": [
                                {
                                    "resource": "RefreshToken",
                                    "field": "refresh_token",
                                    "code": "invalid",
                                }
                            ],
                        },
                    )
                self.refreshes += 1
                self.valid_access, self.valid_refresh = {NEW_ACCESS}, {NEW_REFRESH}
                return httpx.Response(
                    200,
                    json={
                        "token_type": "Bearer",
                        "access_token": NEW_ACCESS,
                        "refresh_token": NEW_REFRESH,
                        "expires_at": int(time.time()) + 21600,
                        "expires_in": 21600,
                    },
                )
            return httpx.Response(404)
        auth = request.headers.get("authorization", "")
        if auth.removeprefix("Bearer ") not in self.valid_access:
            return httpx.Response(
                401,
                json={
                    "message": "Authorization Error",
                    "errors": [{"resource": "Athlete", "field": "access_token", "code": "invalid"}],
                },
                headers=RATE,
            )
        return self.api(request)

    def api_requests(self) -> list[httpx.Request]:
        """Requests that went to the REST API (not OAuth)."""
        return [r for r in self.requests if r.url.path.startswith("/api/")]


@pytest.fixture
def fake() -> FakeStrava:
    """The fake Strava."""
    return FakeStrava()


@pytest.fixture
def store(tmp_path: Path, fake: FakeStrava) -> TokenStore:
    """A token store holding valid tokens and refreshing through the fake."""
    oauth = OAuthClient(config=CONFIG, transport=httpx.MockTransport(fake))
    tokens = TokenStore(state_dir=tmp_path, refresher=oauth)
    tokens.save_initial(
        TokenSet(
            access_token=ACCESS,
            refresh_token=REFRESH,
            expires_at=int(time.time()) + 21600,
            scope="read,activity:write",
        )
    )
    return tokens


@pytest.fixture
def governor() -> Governor:
    """An in-memory governor."""
    return Governor(state_file=None)


@pytest.fixture
def client(fake: FakeStrava, store: TokenStore, governor: Governor) -> StravaClient:
    """A client wired to the fake."""
    return StravaClient(
        config=CONFIG, tokens=store, governor=governor, transport=httpx.MockTransport(fake)
    )


def upload(client: StravaClient) -> Upload:
    """Send a small upload."""
    return client.create_upload(
        data=b"\x1f\x8bpayload",
        data_type="fit.gz",
        external_id="ext1",
        name="Morning Ride",
        trainer=True,
    )


def test_create_upload_sends_multipart_with_bearer(client: StravaClient, fake: FakeStrava) -> None:
    """The upload is multipart with our fields; the token is only in the header."""
    result = upload(client)
    assert "9000001" == result.id
    assert result.processing
    (request,) = fake.api_requests()
    assert "POST" == request.method
    assert "/api/v3/uploads" == request.url.path
    assert f"Bearer {ACCESS}" == request.headers["authorization"]
    assert ACCESS not in str(request.url)
    body = request.content
    assert b'name="data_type"\r\n\r\nfit.gz' in body
    assert b'name="external_id"\r\n\r\next1' in body
    assert b'name="trainer"\r\n\r\n1' in body
    assert b'name="commute"' not in body
    assert b"\x1f\x8bpayload" in body


def test_headers_feed_the_governor(client: StravaClient, governor: Governor) -> None:
    """Each response's rate-limit headers update the governor."""
    upload(client)
    snap = governor.snapshot()
    assert (10, 20, 5, 10) == (
        snap["usage_15"],
        snap["usage_day"],
        snap["read_usage_15"],
        snap["read_usage_day"],
    )


def test_get_upload_reads_id_str(client: StravaClient, fake: FakeStrava) -> None:
    """64-bit ids come from id_str, and activity_id marks success."""
    fake.api = lambda _r: httpx.Response(
        200,
        headers=RATE,
        json=upload_json(id=2**62, id_str=str(2**62 + 1), status=STATUS_READY, activity_id=7000001),
    )
    result = client.get_upload("123")
    assert str(2**62 + 1) == result.id
    assert result.ready
    assert result.failed_reason is None
    assert "/api/v3/uploads/123" == fake.api_requests()[0].url.path


def test_get_upload_refuses_odd_ids(client: StravaClient) -> None:
    """An upload id that is not digits never reaches a URL."""
    with pytest.raises(ValueError, match="digits"):
        client.get_upload("../athlete")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Test_Walk.gpx duplicate of activity 21234316", 21234316),
        (HTML_DUP, 19636549590),
        (HTML_DUP.replace("<", "&lt;").replace(">", "&gt;"), 19636549590),
        ("Improperly formatted data.", None),
        (None, None),
    ],
)
def test_parse_duplicate(text: str | None, expected: int | None) -> None:
    """Both duplicate texts Strava sends yield the existing activity id."""
    assert expected == parse_duplicate(text)


def test_upload_helpers() -> None:
    """Upload classifies processing, ready, deleted, duplicate and error."""

    def make(**kw: object) -> Upload:
        return Upload.from_json(upload_json(**kw))

    assert make().processing
    deleted = make(status=STATUS_DELETED)
    assert (True, False, False) == (deleted.deleted, deleted.ready, deleted.processing)
    assert STATUS_DELETED == deleted.failed_reason
    dup = make(status=STATUS_ERROR, error=HTML_DUP)
    assert 19636549590 == dup.duplicate_of()
    assert HTML_DUP == dup.failed_reason
    bad = make(status=STATUS_ERROR, error="Time information is missing from GPS file.")
    assert bad.duplicate_of() is None
    assert "Time information is missing from GPS file." == bad.failed_reason
    reworded = make(status="Your upload is being processed")
    assert (True, None) == (reworded.processing, reworded.failed_reason)
    assert make(activity_id="12").ready


@pytest.mark.parametrize("status", [400, 409])
@pytest.mark.parametrize(
    ("text", "activity"),
    [("Test_Walk.gpx duplicate of activity 21234316", 21234316), (HTML_DUP, 19636549590)],
)
def test_duplicate_at_post_time(
    client: StravaClient, fake: FakeStrava, status: int, text: str, activity: int
) -> None:
    """A POST refused as a duplicate raises DuplicateActivity with the existing id."""
    fake.api = lambda _r: httpx.Response(
        status, headers=RATE, json=upload_json(status=STATUS_ERROR, error=text)
    )
    with pytest.raises(DuplicateActivity) as info:
        upload(client)
    assert activity == info.value.activity_id
    assert text == info.value.reason


def test_duplicate_in_201_body(client: StravaClient, fake: FakeStrava) -> None:
    """A 201 that already names a duplicate is a DuplicateActivity too."""
    fake.api = lambda _r: httpx.Response(
        201,
        headers=RATE,
        json=upload_json(status=STATUS_ERROR, error="a.gpx duplicate of activity 5"),
    )
    with pytest.raises(DuplicateActivity) as info:
        upload(client)
    assert 5 == info.value.activity_id


def test_400_is_rejected_with_stravas_reason(client: StravaClient, fake: FakeStrava) -> None:
    """A 400 on upload becomes UploadRejected carrying Strava's words."""
    fake.api = lambda _r: httpx.Response(
        400,
        headers=RATE,
        json={
            "message": "Bad Request",
            "errors": [{"resource": "Upload", "field": "data", "code": "empty"}],
        },
    )
    with pytest.raises(UploadRejected) as info:
        upload(client)
    assert "Bad Request (Upload data empty)" == info.value.reason
    assert 400 == info.value.status_code


def test_401_refreshes_once_and_retries_once(
    client: StravaClient, fake: FakeStrava, store: TokenStore
) -> None:
    """A refused access token triggers one refresh, one retry, and the rotated token is saved."""
    fake.valid_access = set()  # the access token died early
    fake.valid_refresh = {REFRESH}

    def api(request: httpx.Request) -> httpx.Response:
        # When the new access token is first used, the rotated refresh token is on disk.
        saved = json.loads(store.path.read_text())
        assert NEW_REFRESH == saved["refresh_token"]
        return httpx.Response(201, headers=RATE, json=upload_json())

    fake.api = api
    assert "9000001" == upload(client).id
    assert 1 == fake.refreshes
    auths = [r.headers["authorization"] for r in fake.api_requests()]
    assert [f"Bearer {ACCESS}", f"Bearer {NEW_ACCESS}"] == auths


def test_second_401_is_access_token_invalid(client: StravaClient, fake: FakeStrava) -> None:
    """If the fresh token is refused too, the client stops after one retry."""
    fake.api = lambda _r: httpx.Response(
        401,
        headers=RATE,
        json={"errors": [{"resource": "Athlete", "field": "access_token", "code": "invalid"}]},
    )
    with pytest.raises(AccessTokenInvalid, match="stravasync auth"):
        client.get_upload("1")
    assert 2 == len(fake.api_requests())
    assert 1 == fake.refreshes


def test_dead_refresh_token_is_reauth_and_recorded(
    client: StravaClient, fake: FakeStrava, store: TokenStore
) -> None:
    """A dead refresh token raises ReauthRequired once; later calls do not reach Strava."""
    fake.valid_access = set()
    fake.valid_refresh = set()
    with pytest.raises(ReauthRequired, match="stravasync auth"):
        client.get_upload("1")
    sent = len(fake.requests)
    with pytest.raises(ReauthRequired):
        client.get_upload("1")
    assert sent == len(fake.requests)
    status = store.status()
    assert status is not None
    assert "refresh_token_invalid" == status.problem


def test_scope_missing(client: StravaClient, fake: FakeStrava) -> None:
    """A missing activity:write grant is ScopeMissing, and no further call is made."""
    fake.api = lambda _r: httpx.Response(
        401,
        headers=RATE,
        json={
            "message": "Authorization Error",
            "errors": [
                {"resource": "AccessToken", "field": "activity:write_permission", "code": "missing"}
            ],
        },
    )
    with pytest.raises(ScopeMissing, match="stravasync auth"):
        upload(client)
    assert 0 == fake.refreshes
    with pytest.raises(ScopeMissing):
        upload(client)
    assert 1 == len(fake.api_requests())


def test_inactive_app_is_a_dead_end(client: StravaClient, fake: FakeStrava) -> None:
    """403 Application Inactive raises AppInactive and pauses every call for an hour."""
    fake.api = lambda _r: httpx.Response(
        403,
        headers=RATE,
        json={
            "message": "Forbidden",
            "errors": [{"resource": "Application", "field": "Status", "code": "Inactive"}],
        },
    )
    with pytest.raises(AppInactive, match="reactivates") as first:
        upload(client)
    assert 403 == first.value.status_code
    with pytest.raises(AppInactive) as second:
        client.get_upload("1")
    assert 3000 < second.value.retry_after <= 3600
    assert 1 == len(fake.api_requests())


def test_athlete_limit_is_a_dead_end(client: StravaClient, fake: FakeStrava) -> None:
    """403 Limit of connected athletes exceeded raises AthleteLimitReached and pauses."""
    fake.api = lambda _r: httpx.Response(
        403, headers=RATE, json={"message": "Limit of connected athletes exceeded", "errors": []}
    )
    with pytest.raises(AthleteLimitReached):
        upload(client)
    with pytest.raises(AthleteLimitReached):
        upload(client)
    assert 1 == len(fake.api_requests())


def test_429_pauses_until_boundary(client: StravaClient, fake: FakeStrava) -> None:
    """A 429 raises RateLimited(until=next quarter) and the next call is not sent."""
    fake.api = lambda _r: httpx.Response(
        429,
        json={
            "message": "Rate Limit Exceeded",
            "errors": [
                {"resource": "Application", "field": "overall rate limit", "code": "exceeded"}
            ],
        },
    )
    before = time.time()
    with pytest.raises(RateLimited) as info:
        client.get_upload("1")
    assert next_quarter_hour(before) <= info.value.until <= next_quarter_hour(time.time())
    with pytest.raises(RateLimited):
        upload(client)
    assert 1 == len(fake.api_requests())


def test_governor_wait_sends_nothing(fake: FakeStrava, store: TokenStore) -> None:
    """When the governor says wait, the client raises RateLimited without a request."""
    governor = Governor(state_file=None)
    governor.observe({**RATE, "X-RateLimit-Usage": "200,300"})
    client = StravaClient(
        config=CONFIG, tokens=store, governor=governor, transport=httpx.MockTransport(fake)
    )
    with pytest.raises(RateLimited) as info:
        upload(client)
    assert info.value.until == next_quarter_hour(time.time())
    assert [] == fake.api_requests()


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_transient(client: StravaClient, fake: FakeStrava, status: int) -> None:
    """Server errors are TransientError."""
    fake.api = lambda _r: httpx.Response(status, text="<html>oops</html>")
    with pytest.raises(TransientError):
        upload(client)


@pytest.mark.parametrize(
    "exc",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("x")],
)
def test_transport_errors_never_leak(
    client: StravaClient, fake: FakeStrava, exc: Exception
) -> None:
    """httpx exceptions become TransientError (chained), never escape as httpx errors."""

    def boom(_r: httpx.Request) -> httpx.Response:
        raise exc

    fake.api = boom
    with pytest.raises(TransientError) as info:
        client.get_upload("1")
    assert isinstance(info.value.__cause__, httpx.HTTPError)


def test_unknown_4xx_is_api_error(client: StravaClient, fake: FakeStrava) -> None:
    """A 404 on a poll is an ApiError with Strava's words."""
    fake.api = lambda _r: httpx.Response(
        404,
        headers=RATE,
        json={
            "message": "Record Not Found",
            "errors": [{"resource": "Upload", "field": "id", "code": "not found"}],
        },
    )
    with pytest.raises(ApiError, match="Record Not Found") as info:
        client.get_upload("5")
    assert 404 == info.value.status_code


def test_no_secret_in_logs_or_errors(
    client: StravaClient, fake: FakeStrava, store: TokenStore
) -> None:
    """Neither tokens nor the client secret reach a log line or an error message."""
    stream = io.StringIO()
    configure_logging(fmt="json", level="debug", stream=stream)
    errors: list[StravaSyncError] = []
    try:
        with structlog.testing.capture_logs() as captured:
            fake.valid_access = set()  # 401 -> refresh -> retry
            upload(client)
            fake.valid_access = set()
            fake.valid_refresh = set()
            try:
                client.get_upload("2")
            except StravaSyncError as exc:
                errors.append(exc)
        upload_store = store  # a fresh record of everything the store logs
        upload_store.status()
        structlog.get_logger("test").info("probe", value=f"Bearer {NEW_ACCESS}")
    finally:
        configure_logging(fmt="json", level="info", stream=io.StringIO())
    text = json.dumps(captured, default=str) + stream.getvalue()
    text += " ".join(str(e) for e in errors)
    assert errors
    assert '"event": "probe"' in stream.getvalue()
    for secret in (ACCESS, REFRESH, NEW_ACCESS, NEW_REFRESH, SECRET):
        assert secret not in text


# -- listing and updating activities ---------------------------------------------------------


def summary_json(**overrides: object) -> dict[str, object]:
    """A Strava SummaryActivity as the list returns it."""
    data: dict[str, object] = {
        "id": 17, "name": "Morning Ride", "start_date": "2026-03-01T08:00:00Z",
        "upload_id": 9000001, "upload_id_str": "9000001", "external_id": "ext1.fit",
    }
    data.update(overrides)
    return data


def read_scope_missing(_r: httpx.Request) -> httpx.Response:
    """Strava's answer to a list call without activity:read."""
    return httpx.Response(401, headers=RATE, json={
        "message": "Authorization Error",
        "errors": [{"resource": "AccessToken", "field": "activity:read_permission",
                    "code": "missing"}]})


def test_list_activities_asks_once_and_reads_the_summaries(
    client: StravaClient, fake: FakeStrava, governor: Governor
) -> None:
    """One GET with the bounds in the query (never the token) gives matchable summaries."""
    fake.api = lambda _r: httpx.Response(200, headers=RATE, json=[
        summary_json(),
        summary_json(id=18, upload_id=2**40, upload_id_str=None, external_id=None, name=None),
        summary_json(id=19, upload_id=None, upload_id_str=None),
    ])
    found = client.list_activities(after=1_772_000_000, before=None, per_page=50)
    assert [
        ActivitySummary(id=17, upload_id="9000001", external_id="ext1.fit",
                        name="Morning Ride", start_time=1_772_352_000),
        ActivitySummary(id=18, upload_id=str(2**40), external_id=None, name="",
                        start_time=1_772_352_000),
        ActivitySummary(id=19, upload_id=None, external_id="ext1.fit", name="Morning Ride",
                        start_time=1_772_352_000),
    ] == found
    (request,) = fake.api_requests()
    assert ("GET", "/api/v3/athlete/activities") == (request.method, request.url.path)
    assert {"after": "1772000000", "page": "1", "per_page": "50"} == dict(request.url.params)
    assert ACCESS not in str(request.url)
    assert 5 == governor.snapshot()["read_usage_15"]  # the answer's headers were read


def test_lists_and_updates_wait_for_the_read_limit(fake: FakeStrava, store: TokenStore) -> None:
    """With the read limit used up, a list or an update is held back; an upload is not."""
    governor = Governor(state_file=None)
    governor.observe({**RATE, "X-ReadRateLimit-Usage": "100,300"})
    client = StravaClient(config=CONFIG, tokens=store, governor=governor,
                          transport=httpx.MockTransport(fake))
    with pytest.raises(RateLimited):
        client.list_activities(after=None, before=None)
    with pytest.raises(RateLimited):
        client.update_activity(17, {"commute": True})
    assert [] == fake.api_requests()
    assert "9000001" == upload(client).id


def test_list_without_read_scope_does_not_kill_the_sign_in(
    client: StravaClient, fake: FakeStrava, store: TokenStore
) -> None:
    """No activity:read: ListScopeMissing, no refresh, the sign-in stays good for uploads."""
    fake.api = read_scope_missing
    with pytest.raises(ListScopeMissing) as info:
        client.list_activities(after=None, before=None)
    assert not info.value.needs_person
    assert 0 == fake.refreshes
    status = store.status()
    assert status is not None
    assert status.problem is None
    fake.api = lambda _r: httpx.Response(201, json=upload_json(), headers=RATE)
    assert "9000001" == upload(client).id


@pytest.mark.parametrize(("scope", "expected"), [
    ("read,activity:write,activity:read_all", True),
    ("read,activity:write", False),
    ("read,activity:write,activity:read", False),
    (None, False),
])
def test_can_list_follows_the_granted_scope(
    tmp_path: Path, fake: FakeStrava, scope: str | None, expected: bool
) -> None:
    """Listing is possible only with activity:read_all granted (private activities too)."""
    tokens = TokenStore(state_dir=tmp_path)
    tokens.save_initial(TokenSet(access_token=ACCESS, refresh_token=REFRESH,
                                 expires_at=int(time.time()) + 21600, scope=scope))
    client = StravaClient(config=CONFIG, tokens=tokens, governor=Governor(state_file=None),
                          transport=httpx.MockTransport(fake))
    assert expected == client.can_list()


def test_a_refused_list_turns_listing_off(tmp_path: Path, fake: FakeStrava) -> None:
    """If Strava refuses a list despite the stored scope, can_list says no from then on."""
    tokens = TokenStore(state_dir=tmp_path)
    tokens.save_initial(TokenSet(access_token=ACCESS, refresh_token=REFRESH,
                                 expires_at=int(time.time()) + 21600,
                                 scope="read,activity:write,activity:read_all"))
    client = StravaClient(config=CONFIG, tokens=tokens, governor=Governor(state_file=None),
                          transport=httpx.MockTransport(fake))
    fake.api = read_scope_missing
    with pytest.raises(ListScopeMissing):
        client.list_activities(after=None, before=None)
    assert not client.can_list()


def test_list_refuses_pages_strava_does_not_serve(client: StravaClient) -> None:
    """per_page above 200 or a page below 1 is a programming error, sent nowhere."""
    with pytest.raises(ValueError, match="per_page"):
        client.list_activities(after=None, before=None, per_page=201)
    with pytest.raises(ValueError, match="page"):
        client.list_activities(after=None, before=None, page=0)


def test_update_activity_puts_json(client: StravaClient, fake: FakeStrava) -> None:
    """An update is one PUT /activities/{id} with the fields as JSON and the token in the header."""
    fake.api = lambda _r: httpx.Response(200, headers=RATE, json={"id": 17})
    client.update_activity(17, {"sport_type": "VirtualRide", "trainer": True,
                                "hide_from_home": True})
    (request,) = fake.api_requests()
    assert ("PUT", "/api/v3/activities/17") == (request.method, request.url.path)
    assert "application/json" == request.headers["content-type"]
    assert {"sport_type": "VirtualRide", "trainer": True, "hide_from_home": True} == json.loads(
        request.content)
    assert f"Bearer {ACCESS}" == request.headers["authorization"]


def test_update_with_unknown_gear_is_refused_verbatim(
    client: StravaClient, fake: FakeStrava
) -> None:
    """A 400 to an update is UpdateRefused with Strava's words, sent once."""
    fake.api = lambda _r: httpx.Response(400, headers=RATE, json={
        "message": "Bad Request",
        "errors": [{"resource": "Activity", "field": "gear_id", "code": "invalid"}]})
    with pytest.raises(UpdateRefused) as info:
        client.update_activity(17, {"gear_id": "b999"})
    assert "Bad Request (Activity gear_id invalid)" == info.value.reason
    assert 1 == len(fake.api_requests())


def test_update_of_a_deleted_activity_is_refused(client: StravaClient, fake: FakeStrava) -> None:
    """A 404 to an update is UpdateRefused: the activity is gone."""
    fake.api = lambda _r: httpx.Response(404, headers=RATE, json={
        "message": "Record Not Found",
        "errors": [{"resource": "Activity", "field": "id", "code": "invalid"}]})
    with pytest.raises(UpdateRefused, match="gone"):
        client.update_activity(17, {"commute": True})


@pytest.mark.parametrize(("status", "kind"), [(500, TransientError), (503, TransientError),
                                              (429, RateLimited)])
def test_update_that_may_pass_is_retryable(
    client: StravaClient, fake: FakeStrava, status: int, kind: type[Exception]
) -> None:
    """5xx is TransientError and 429 RateLimited: the update may be sent again later."""
    fake.api = lambda _r: httpx.Response(status, json={
        "errors": [{"resource": "Application", "field": "rate limit", "code": "exceeded"}]
    } if status == 429 else {"message": "Server Error"})
    with pytest.raises(kind):
        client.update_activity(17, {"commute": True})





@pytest.mark.parametrize(("raw", "expected"), [
    ("a.fit duplicate of <a href='/activities/19636549590' target='_blank'>activity "
     "19636549590</a>", "a.fit duplicate of activity 19636549590"),
    ("Tom &amp; Jerry&#39;s ride duplicate of activity 5", "Tom & Jerry's ride duplicate of activity 5"),
    ("plain words stay", "plain words stay"),
])
def test_plain_text_drops_markup(raw: str, expected: str) -> None:
    """Strava's HTML becomes readable text: no tags, entities decoded."""
    assert expected == plain_text(raw)


@pytest.mark.parametrize(("exc", "words"), [
    (httpx.ConnectError("refused"), "could not connect"),
    (httpx.ConnectTimeout("slow"), "timed out"),
    (httpx.ReadTimeout("slow"), "did not answer in time"),
    (httpx.RemoteProtocolError("x"), "connection"),
])
def test_transport_errors_are_told_in_words(
    client: StravaClient, fake: FakeStrava, exc: Exception, words: str
) -> None:
    """An upload call's network failure says what happened, that it is retried, no httpx names."""

    def boom(_r: httpx.Request) -> httpx.Response:
        raise exc

    fake.api = boom
    with pytest.raises(TransientError) as info:
        client.get_upload("1")
    message = str(info.value)
    assert words in message.lower()
    assert "retried later" in message
    assert type(exc).__name__ not in message
