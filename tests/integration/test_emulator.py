"""Tests for stravasync.emulator: the Strava API emulator, driven over real loopback sockets."""

from __future__ import annotations

import base64
import gzip
import struct
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from emulator_rig import START, bearer, serving

from stravasync.emulator import Emulator, EmulatorConfig, Knobs, ManualClock

pytestmark = pytest.mark.integration

CLIENT_ID, SECRET = "12345", "emulator-secret"
REDIRECT = "http://127.0.0.1:8999/callback"
AUTH_ERROR = {
    "message": "Authorization Error",
    "errors": [{"resource": "Athlete", "field": "access_token", "code": "invalid"}],
}
DEAD_REFRESH = {
    "message": "Bad Request",
    "errors": [{"resource": "RefreshToken", "field": "refresh_token", "code": "invalid"}],
}
LIMIT_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Usage",
    "X-ReadRateLimit-Limit",
    "X-ReadRateLimit-Usage",
)


# -- sample files, made by code ---------------------------------------------------------


def fit(*, file_type: int = 4, serial: int = 1) -> bytes:
    """A minimal FIT file: header, one file_id definition and message, zero CRC."""
    definition = struct.pack("<BBBHB", 0x40, 0, 0, 0, 2) + bytes([0, 1, 0x00, 4, 4, 0x86])
    message = struct.pack("<BBI", 0x00, file_type, 1_000_000_000 + serial)
    records = definition + message
    header = struct.pack("<BBHI4sH", 14, 0x10, 2093, len(records), b".FIT", 0)
    return header + records + b"\x00\x00"


def gpx(*, points: int = 3, timed: bool = True, serial: int = 0, stamp: str = "") -> bytes:
    """A GPX track of `points` points, each with a <time> if `timed`."""
    rows = []
    for i in range(points):
        text = stamp or f"2024-05-01T10:{serial % 60:02d}:{i % 60:02d}Z"
        time = f"<time>{text}</time>" if timed else ""
        rows.append(f'<trkpt lat="46.{i:04d}" lon="14.{i:04d}"><ele>300</ele>{time}</trkpt>')
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gpx version="1.1" creator="tests" xmlns="http://www.topografix.com/GPX/1/1">'
        f"<trk><name>Test</name><trkseg>{''.join(rows)}</trkseg></trk></gpx>\n"
    ).encode()


def tcx(*, points: int = 3, timed: bool = True) -> bytes:
    """A TCX running activity of `points` trackpoints, each with a <Time> if `timed`."""
    rows = "".join(
        (f"<Time>2024-05-01T10:00:{i:02d}Z</Time>" if timed else "").join(
            ["<Trackpoint>", f"<DistanceMeters>{i}</DistanceMeters></Trackpoint>"]
        )
        for i in range(points)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<TrainingCenterDatabase xmlns='
        '"http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"><Activities>'
        '<Activity Sport="Running"><Id>2024-05-01T10:00:00Z</Id><Lap StartTime='
        f'"2024-05-01T10:00:00Z"><Track>{rows}</Track></Lap></Activity></Activities>'
        "</TrainingCenterDatabase>\n"
    ).encode()


# -- fixtures and helpers ---------------------------------------------------------------


def upload(
    http: httpx.Client,
    strava: Emulator,
    tokens: dict[str, Any],
    data: bytes,
    *,
    data_type: str = "gpx",
    name: str = "ride.gpx",
    external_id: str = "ext-1",
) -> httpx.Response:
    """POST one file to /uploads."""
    return http.post(
        f"{strava.api_url}/uploads",
        headers=bearer(tokens),
        data={"data_type": data_type, "external_id": external_id},
        files={"file": (name, data, "application/octet-stream")},
    )


def finish(
    http: httpx.Client,
    strava: Emulator,
    clock: ManualClock,
    tokens: dict[str, Any],
    data: bytes,
    **kwargs: Any,
) -> dict[str, Any]:
    """Upload `data`, let processing end, and return the polled Upload object."""
    created = upload(http, strava, tokens, data, **kwargs)
    assert 201 == created.status_code, created.text
    clock.advance(3)
    polled = http.get(
        f"{strava.api_url}/uploads/{created.json()['id_str']}", headers=bearer(tokens)
    )
    assert 200 == polled.status_code
    result: dict[str, Any] = polled.json()
    return result


def sign_in(http: httpx.Client, strava: Emulator, *, scope: str = "read,activity:write") -> str:
    """Run /oauth/authorize and return the redirect Location."""
    response = http.get(
        f"{strava.oauth_url}/authorize",
        params={
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "approval_prompt": "auto",
            "scope": scope,
            "state": "s-42",
        },
    )
    assert 302 == response.status_code, response.text
    return response.headers["Location"]


def exchange(http: httpx.Client, strava: Emulator, code: str) -> httpx.Response:
    """POST the authorization_code grant."""
    return http.post(
        f"{strava.oauth_url}/token",
        data={
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "code": code,
            "grant_type": "authorization_code",
        },
    )


def refresh(http: httpx.Client, strava: Emulator, refresh_token: str) -> httpx.Response:
    """POST the refresh_token grant (as JSON, which Strava also takes)."""
    return http.post(
        f"{strava.oauth_url}/token",
        json={
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "refresh_token": refresh_token,
            "grant_type": "refresh_token",
        },
    )


# -- the happy path ---------------------------------------------------------------------


def test_sign_in_upload_and_poll_until_ready(
    strava: Emulator, clock: ManualClock, http: httpx.Client
) -> None:
    """Authorize, exchange, upload and poll end with the activity id, as on Strava."""
    location = urlsplit(sign_in(http, strava))
    query = parse_qs(location.query)
    assert (
        "http://127.0.0.1:8999/callback" == f"{location.scheme}://{location.netloc}{location.path}"
    )
    assert (["s-42"], ["read,activity:write"]) == (query["state"], query["scope"])
    response = exchange(http, strava, query["code"][0])
    assert 200 == response.status_code
    tokens = response.json()
    assert {
        "token_type",
        "expires_at",
        "expires_in",
        "refresh_token",
        "access_token",
        "athlete",
    } == set(tokens)
    assert ("Bearer", 21600, int(START) + 21600) == (
        tokens["token_type"],
        tokens["expires_in"],
        tokens["expires_at"],
    )
    assert 1234567 == tokens["athlete"]["id"]
    assert 40 == len(tokens["access_token"]) == len(tokens["refresh_token"])
    int(tokens["access_token"], 16)

    created = upload(http, strava, tokens, gpx(), external_id="98765")
    assert 201 == created.status_code
    assert {
        "id": 9000001,
        "id_str": "9000001",
        "external_id": "98765.gpx",
        "error": None,
        "status": "Your activity is still being processed.",
        "activity_id": None,
    } == created.json()
    url = f"{strava.api_url}/uploads/9000001"
    clock.advance(0.5)
    assert (
        "Your activity is still being processed."
        == http.get(url, headers=bearer(tokens)).json()["status"]
    )
    clock.advance(2)
    ready = http.get(url, headers=bearer(tokens)).json()
    assert ("Your activity is ready.", 7000001, None) == (
        ready["status"],
        ready["activity_id"],
        ready["error"],
    )
    state = strava.inspect()
    assert [7000001] == [a["id"] for a in state["activities"]]
    assert {"upload": 1, "read": 2} == state["counters"]["by_kind"]
    assert ["GET", "POST"] == sorted({e["method"] for e in state["requests"]})


def test_processing_finishes_without_polls(
    strava: Emulator, clock: ManualClock, http: httpx.Client
) -> None:
    """An upload nobody polls is ready once its time has passed (inspect shows it)."""
    tokens = strava.issue_tokens()
    assert 201 == upload(http, strava, tokens, gpx()).status_code
    clock.advance(10)
    assert ["ready"] == [u["state"] for u in strava.inspect()["uploads"]]


def test_same_content_in_flight_twice_makes_one_activity(
    strava: Emulator, clock: ManualClock, http: httpx.Client
) -> None:
    """Two copies processed at once end as one activity and one duplicate of it."""
    tokens = strava.issue_tokens()
    upload(http, strava, tokens, fit(), data_type="fit", name="a.fit")
    upload(http, strava, tokens, fit(), data_type="fit", name="b.fit")
    clock.advance(5)
    state = strava.inspect()
    assert ["duplicate", "ready"] == sorted(u["state"] for u in state["uploads"])
    assert 1 == len(state["activities"])


# -- rate limits ------------------------------------------------------------------------


def test_rate_limit_headers_count_reads_and_uploads(strava: Emulator, http: httpx.Client) -> None:
    """Uploads count on overall only, every other call on both, 401s included."""
    tokens = strava.issue_tokens()
    first = upload(http, strava, tokens, gpx())
    assert ("200,2000", "1,1", "100,1000", "0,0") == tuple(first.headers[h] for h in LIMIT_HEADERS)
    http.get(f"{strava.api_url}/uploads/9000001", headers=bearer(tokens))
    unauthorized = http.get(f"{strava.api_url}/uploads/9000001")
    assert 401 == unauthorized.status_code
    assert ("3,3", "2,2") == (
        unauthorized.headers["X-RateLimit-Usage"],
        unauthorized.headers["X-ReadRateLimit-Usage"],
    )
    token = http.post(f"{strava.oauth_url}/token", data={"client_id": "nope"})
    assert "X-RateLimit-Usage" not in token.headers
    assert "Retry-After" not in unauthorized.headers


def test_windows_reset_at_the_quarter_hour_and_at_midnight(
    strava: Emulator, clock: ManualClock, http: httpx.Client
) -> None:
    """The 15-minute counters reset at :00/:15/:30/:45, the daily ones at UTC midnight."""
    tokens = strava.issue_tokens()
    url = f"{strava.api_url}/athlete"
    for _ in range(3):
        http.get(url, headers=bearer(tokens))
    clock.set(1_700_000_100.0 + 900 - 0.5)  # still in the same window
    assert "4,4" == http.get(url, headers=bearer(tokens)).headers["X-RateLimit-Usage"]
    clock.set(1_700_000_100.0 + 900)  # the quarter-hour boundary
    assert "1,5" == http.get(url, headers=bearer(tokens)).headers["X-ReadRateLimit-Usage"]
    midnight = (int(START) // 86400 + 1) * 86400
    clock.set(midnight)
    assert "1,1" == http.get(url, headers=bearer(tokens)).headers["X-RateLimit-Usage"]


def test_over_the_limit_answers_429_and_still_counts_daily(
    strava: Emulator, http: httpx.Client
) -> None:
    """Past the 15-minute limit: 429 with the documented body; the daily count goes on."""
    strava.set_knobs(limit_15=2, read_limit_15=100)
    strava.set_usage(usage_day=10)
    tokens = strava.issue_tokens()
    statuses = [http.get(f"{strava.api_url}/athlete", headers=bearer(tokens)) for _ in range(4)]
    assert [200, 200, 429, 429] == [r.status_code for r in statuses]
    assert {
        "message": "Rate Limit Exceeded",
        "errors": [{"resource": "Application", "field": "rate limit", "code": "exceeded"}],
    } == statuses[-1].json()
    assert "4,14" == statuses[-1].headers["X-RateLimit-Usage"]
    assert "Retry-After" not in statuses[-1].headers
    strava.set_knobs(rate_limit_field="overall rate limit")
    again = http.get(f"{strava.api_url}/athlete", headers=bearer(tokens))
    assert "overall rate limit" == again.json()["errors"][0]["field"]


def test_read_limit_blocks_reads_but_not_uploads(strava: Emulator, http: httpx.Client) -> None:
    """Over the read limit, polls get 429 while upload POSTs still go through."""
    strava.set_knobs(read_limit_15=1)
    tokens = strava.issue_tokens()
    assert 200 == http.get(f"{strava.api_url}/athlete", headers=bearer(tokens)).status_code
    assert 429 == http.get(f"{strava.api_url}/uploads/1", headers=bearer(tokens)).status_code
    assert 201 == upload(http, strava, tokens, gpx()).status_code


# -- tokens -----------------------------------------------------------------------------


def test_bad_token_and_query_string_token_get_401(strava: Emulator, http: httpx.Client) -> None:
    """A wrong Bearer token and a token in the query string both get the 401 body."""
    tokens = strava.issue_tokens()
    wrong = http.get(f"{strava.api_url}/athlete", headers={"Authorization": "Bearer " + "0" * 40})
    in_query = http.get(
        f"{strava.api_url}/athlete", params={"access_token": tokens["access_token"]}
    )
    assert (401, AUTH_ERROR) == (wrong.status_code, wrong.json())
    assert (401, AUTH_ERROR) == (in_query.status_code, in_query.json())
    assert "query_token" == strava.inspect()["requests"][-1]["note"]


def test_expired_access_token_gets_401_until_refreshed(
    strava: Emulator, clock: ManualClock, http: httpx.Client
) -> None:
    """An access token dies after its lifetime; a refresh gives a working one."""
    tokens = strava.issue_tokens()
    clock.advance(21600)
    assert 401 == http.get(f"{strava.api_url}/athlete", headers=bearer(tokens)).status_code
    fresh = refresh(http, strava, tokens["refresh_token"])
    assert 200 == fresh.status_code
    assert {"token_type", "access_token", "expires_at", "expires_in", "refresh_token"} == set(
        fresh.json()
    )
    assert 200 == http.get(f"{strava.api_url}/athlete", headers=bearer(fresh.json())).status_code
    strava.expire_access_tokens()
    assert 401 == http.get(f"{strava.api_url}/athlete", headers=bearer(fresh.json())).status_code


def test_refresh_rotation_kills_the_old_refresh_token(strava: Emulator, http: httpx.Client) -> None:
    """After a refresh the old refresh token is refused with the documented 400."""
    tokens = strava.issue_tokens()
    first = refresh(http, strava, tokens["refresh_token"]).json()
    assert tokens["refresh_token"] != first["refresh_token"]
    stale = refresh(http, strava, tokens["refresh_token"])
    assert (400, DEAD_REFRESH) == (stale.status_code, stale.json())
    assert 200 == refresh(http, strava, first["refresh_token"]).status_code
    strava.set_knobs(rotate_refresh_tokens=False)
    again = strava.issue_tokens()
    assert (
        again["refresh_token"]
        == refresh(http, strava, again["refresh_token"]).json()["refresh_token"]
    )


def test_codes_are_single_use_and_expire(
    strava: Emulator, clock: ManualClock, http: httpx.Client
) -> None:
    """A used code is invalid, a late one expired, both with the AuthorizationCode body."""
    code = parse_qs(urlsplit(sign_in(http, strava)).query)["code"][0]
    assert 200 == exchange(http, strava, code).status_code
    used = exchange(http, strava, code)
    assert (400, {"resource": "AuthorizationCode", "field": "code", "code": "invalid"}) == (
        used.status_code,
        used.json()["errors"][0],
    )
    late = parse_qs(urlsplit(sign_in(http, strava)).query)["code"][0]
    clock.advance(601)
    assert "expired" == exchange(http, strava, late).json()["errors"][0]["code"]


def test_wrong_client_secret_and_bad_redirect_are_refused(
    strava: Emulator, http: httpx.Client
) -> None:
    """The token endpoint checks the secret; authorize refuses foreign redirect hosts."""
    code = parse_qs(urlsplit(sign_in(http, strava)).query)["code"][0]
    wrong = http.post(
        f"{strava.oauth_url}/token",
        data={
            "client_id": CLIENT_ID,
            "client_secret": "x",
            "code": code,
            "grant_type": "authorization_code",
        },
    )
    assert 401 == wrong.status_code
    foreign = http.get(
        f"{strava.oauth_url}/authorize",
        params={
            "client_id": CLIENT_ID,
            "redirect_uri": "https://evil.example/cb",
            "response_type": "code",
        },
    )
    assert (400, "redirect_uri") == (foreign.status_code, foreign.json()["errors"][0]["field"])


def test_revoke_kills_both_tokens_of_the_grant(strava: Emulator, http: httpx.Client) -> None:
    """Revoking the access token (HTTP Basic client auth) also kills the refresh token."""
    tokens = strava.issue_tokens()
    basic = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    revoked = http.post(
        f"{strava.oauth_url}/revoke",
        headers={"Authorization": f"Basic {basic}"},
        data={"token": tokens["access_token"]},
    )
    assert 200 == revoked.status_code
    assert 401 == http.get(f"{strava.api_url}/athlete", headers=bearer(tokens)).status_code
    assert 400 == refresh(http, strava, tokens["refresh_token"]).status_code


def test_deauthorize_disconnects_the_athlete(strava: Emulator, http: httpx.Client) -> None:
    """The older deauthorize endpoint, token in the header, revokes every token of the athlete."""
    tokens, other = strava.issue_tokens(), strava.issue_tokens()
    response = http.post(f"{strava.oauth_url}/deauthorize", headers=bearer(tokens))
    assert (200, {"access_token": tokens["access_token"]}) == (
        response.status_code,
        response.json(),
    )
    assert 401 == http.get(f"{strava.api_url}/athlete", headers=bearer(other)).status_code
    assert [] == strava.inspect()["connected_athletes"]


def test_granted_scope_knob_drops_activity_write(strava: Emulator, http: httpx.Client) -> None:
    """With activity:write unticked the redirect says so and uploads get the scope 401."""
    strava.set_knobs(granted_scope="read")
    query = parse_qs(urlsplit(sign_in(http, strava)).query)
    assert ["read"] == query["scope"]
    tokens = exchange(http, strava, query["code"][0]).json()
    refused = upload(http, strava, tokens, gpx())
    assert 401 == refused.status_code
    assert {
        "message": "Authorization Error",
        "errors": [
            {"resource": "AccessToken", "field": "activity:write_permission", "code": "missing"}
        ],
    } == refused.json()


def test_approval_page_lets_the_athlete_untick_or_cancel(
    strava: Emulator, http: httpx.Client
) -> None:
    """With the approval page, the form's ticked scopes are granted; Cancel is access_denied."""
    strava.set_knobs(approval_page=True)
    params = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "read,activity:write",
        "state": "s",
    }
    page = http.get(f"{strava.oauth_url}/authorize", params=params)
    assert (200, True) == (page.status_code, 'value="activity:write"' in page.text)
    approved = http.post(
        f"{strava.oauth_url}/authorize", data={**params, "grant": "read", "approve": "yes"}
    )
    assert ["read"] == parse_qs(urlsplit(approved.headers["Location"]).query)["scope"]
    cancelled = http.post(f"{strava.oauth_url}/authorize", data={**params, "approve": "no"})
    assert ["access_denied"] == parse_qs(urlsplit(cancelled.headers["Location"]).query)["error"]


# -- upload validation and processing outcomes -------------------------------------------


def test_bad_data_type_and_gzip_mismatch_get_400(strava: Emulator, http: httpx.Client) -> None:
    """Unknown data_type, and gzip bytes without .gz (or the reverse), are refused at once."""
    tokens = strava.issue_tokens()
    bad_type = upload(http, strava, tokens, gpx(), data_type="kml")
    assert (400, "data_type") == (bad_type.status_code, bad_type.json()["errors"][0]["field"])
    gz_error = {"resource": "upload", "field": "gzip", "code": "invalid encoding"}
    zipped = upload(http, strava, tokens, gzip.compress(gpx()), data_type="gpx")
    assert (400, gz_error) == (zipped.status_code, zipped.json()["errors"][0])
    plain = upload(http, strava, tokens, gpx(), data_type="gpx.gz")
    assert (400, gz_error) == (plain.status_code, plain.json()["errors"][0])
    assert [] == strava.inspect()["uploads"]


def test_empty_file_gets_the_documented_400(strava: Emulator, http: httpx.Client) -> None:
    """An empty file gets 400 Upload/data/empty."""
    tokens = strava.issue_tokens()
    response = upload(http, strava, tokens, b"")
    assert {
        "message": "Bad Request",
        "errors": [{"resource": "Upload", "field": "data", "code": "empty"}],
    } == response.json()


def test_gzipped_upload_is_processed_from_its_content(
    strava: Emulator, clock: ManualClock, http: httpx.Client
) -> None:
    """A .gz upload is judged after decompression and deduplicated with the plain file."""
    tokens = strava.issue_tokens()
    first = finish(http, strava, clock, tokens, gzip.compress(fit()), data_type="fit.gz")
    assert first["activity_id"] is not None
    second = finish(http, strava, clock, tokens, fit(), data_type="fit", name="x.fit")
    assert f"x.fit duplicate of activity {first['activity_id']}" in second["error"]


def test_duplicate_error_comes_in_plain_and_html_form(
    strava: Emulator, clock: ManualClock, http: httpx.Client
) -> None:
    """Duplicates of an existing activity end with either documented error text."""
    tokens = strava.issue_tokens()
    existing = strava.add_activity(gpx())
    strava.set_knobs(duplicate_html_share=0.0)
    plain = finish(http, strava, clock, tokens, gpx(), name="Test_Walk.gpx")
    assert {
        "error": f"Test_Walk.gpx duplicate of activity {existing}",
        "status": "There was an error processing your activity.",
        "activity_id": None,
    } == {k: plain[k] for k in ("error", "status", "activity_id")}
    strava.set_knobs(duplicate_html_share=1.0)
    html = finish(http, strava, clock, tokens, gpx(), name="x.gpx")
    assert (
        f"x.gpx duplicate of <a href='/activities/{existing}' target='_blank'>"
        f"activity {existing}</a>"
    ) == html["error"]
    strava.delete_activity(existing)
    assert finish(http, strava, clock, tokens, gpx())["activity_id"] is not None


def test_duplicate_can_be_refused_at_post_time(strava: Emulator, http: httpx.Client) -> None:
    """With duplicate_at_post the POST itself fails with 'duplicate of activity N'."""
    tokens = strava.issue_tokens()
    existing = strava.add_activity(fit())
    strava.set_knobs(duplicate_at_post=True, duplicate_html_share=0.0)
    response = upload(http, strava, tokens, fit(), data_type="fit", name="a.fit")
    assert 400 == response.status_code
    assert f"duplicate of activity {existing}" in response.text


@pytest.mark.parametrize(
    ("data", "data_type", "error"),
    [
        (b"this is not a workout", "fit", "Improperly formatted data."),
        (fit(file_type=6), "fit", "Improperly formatted data."),  # a course
        (tcx(), "gpx", "Improperly formatted data."),  # wrong root for the type
        (b"   " + tcx(), "tcx", "Improperly formatted data."),  # whitespace before <?xml
        (gpx(stamp="2024-05-01T10:00:00ZZ"), "gpx", "Improperly formatted data."),
        (gpx(timed=False), "gpx", "Time information is missing from GPS file."),
        (tcx(timed=False), "tcx", "Time information is missing from GPS file."),
        (fit()[:20], "fit", "The upload appears to be malformed and we are unable to process it"),
    ],
)
def test_bad_content_ends_in_an_error(
    strava: Emulator,
    clock: ManualClock,
    http: httpx.Client,
    data: bytes,
    data_type: str,
    error: str,
) -> None:
    """Content that cannot make an activity is accepted, then fails with Strava's text."""
    tokens = strava.issue_tokens()
    result = finish(http, strava, clock, tokens, data, data_type=data_type)
    assert (error, "There was an error processing your activity.", None) == (
        result["error"],
        result["status"],
        result["activity_id"],
    )


def test_deleted_and_stuck_shares(strava: Emulator, clock: ManualClock, http: httpx.Client) -> None:
    """The deleted share ends with nulls; the stuck share stays processing for stuck_s."""
    tokens = strava.issue_tokens()
    strava.set_knobs(deleted_share=1.0)
    deleted = finish(http, strava, clock, tokens, tcx(), data_type="tcx")
    assert ("The created activity has been deleted.", None, None) == (
        deleted["status"],
        deleted["error"],
        deleted["activity_id"],
    )
    strava.set_knobs(deleted_share=0.0, stuck_share=1.0, stuck_s=600)
    stuck = finish(http, strava, clock, tokens, fit(), data_type="fit")
    assert "Your activity is still being processed." == stuck["status"]
    clock.advance(600)
    assert ["ready"] == [u["state"] for u in strava.inspect()["uploads"] if u["stuck"]]


def test_other_athletes_uploads_are_not_found(strava: Emulator, http: httpx.Client) -> None:
    """An upload id of another athlete, or none at all, answers 404."""
    mine, theirs = strava.issue_tokens(), strava.issue_tokens(athlete_id=42)
    upload_id = upload(http, strava, mine, gpx()).json()["id_str"]
    assert (
        404 == http.get(f"{strava.api_url}/uploads/{upload_id}", headers=bearer(theirs)).status_code
    )
    assert 404 == http.get(f"{strava.api_url}/uploads/123", headers=bearer(mine)).status_code


def test_ids_can_exceed_32_bits(clock: ManualClock, http: httpx.Client) -> None:
    """Upload and activity ids above 2**32 come back exactly, id_str included."""
    with serving(clock=clock, upload_id_start=2**32 + 5, activity_id_start=2**33 + 7,
                 knobs=Knobs(processing_min_s=0, processing_max_s=0)) as strava:
        tokens = strava.issue_tokens()
        result = finish(http, strava, clock, tokens, gpx())
    assert (str(2**32 + 5), 2**33 + 7) == (result["id_str"], result["activity_id"])


def test_concurrent_clients_get_unique_ids_and_exact_counts(strava: Emulator) -> None:
    """Uploads from many threads at once get distinct ids and are all counted."""
    tokens = strava.issue_tokens()
    ids: list[str] = []

    def worker(n: int) -> None:
        with httpx.Client(timeout=10.0) as client:
            for i in range(10):
                response = upload(client, strava, tokens, gpx(serial=n * 10 + i, points=2 + n))
                ids.append(response.json()["id_str"])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    state = strava.inspect(requests=False)
    assert (80, 80, 80) == (len(set(ids)), state["counters"]["api_calls"], len(state["uploads"]))
    assert 80 == state["rate_limit"]["usage_15"]


# -- faults -----------------------------------------------------------------------------


def test_5xx_share_answers_server_errors_with_headers(strava: Emulator, http: httpx.Client) -> None:
    """With a 5xx share of 1 every API call fails with 500/502/503 and nothing is created."""
    tokens = strava.issue_tokens()
    strava.set_knobs(error_5xx_share=1.0)
    responses = [upload(http, strava, tokens, gpx()) for _ in range(6)]
    assert {500, 502, 503} >= {r.status_code for r in responses}
    assert all("X-RateLimit-Usage" in r.headers for r in responses)
    assert [] == strava.inspect()["uploads"]
    strava.set_knobs(error_5xx_share=0.0)
    assert 201 == upload(http, strava, tokens, gpx()).status_code


def test_dropped_upload_exists_although_the_client_saw_an_error(
    strava: Emulator, clock: ManualClock, http: httpx.Client
) -> None:
    """A dropped upload POST raises a transport error, yet the upload is created and processed."""
    tokens = strava.issue_tokens()
    strava.set_knobs(drop_upload_share=1.0)
    with pytest.raises(httpx.TransportError):
        upload(http, strava, tokens, gpx(), external_id="lost-1")
    clock.advance(5)
    [only] = strava.inspect()["uploads"]
    assert ("lost-1", True, "ready") == (only["external_id_sent"], only["dropped"], only["state"])
    assert 1 == strava.inspect()["counters"]["by_status"]["dropped"]


def test_inactive_app_gets_403_everywhere(strava: Emulator, http: httpx.Client) -> None:
    """An inactive application gets the documented 403 on API and token calls."""
    tokens = strava.issue_tokens()
    strava.set_knobs(inactive=True)
    expected = {
        "message": "Forbidden",
        "errors": [{"resource": "Application", "field": "Status", "code": "Inactive"}],
    }
    api = http.get(f"{strava.api_url}/uploads/1", headers=bearer(tokens))
    token = refresh(http, strava, tokens["refresh_token"])
    assert [(403, expected), (403, expected)] == [
        (api.status_code, api.json()),
        (token.status_code, token.json()),
    ]
    assert "X-RateLimit-Usage" in api.headers


def test_athlete_limit_refuses_new_athletes(strava: Emulator, http: httpx.Client) -> None:
    """A code from before the cap was reached is refused at exchange; others' calls go on."""
    code = parse_qs(urlsplit(sign_in(http, strava)).query)["code"][0]
    other = strava.issue_tokens(athlete_id=99)
    strava.set_knobs(athlete_limit=1)
    refused = exchange(http, strava, code)
    assert (403, "Limit of connected athletes exceeded") == (
        refused.status_code,
        refused.json()["message"],
    )
    assert 200 == http.get(f"{strava.api_url}/athlete", headers=bearer(other)).status_code


def test_latency_knob_delays_answers(strava: Emulator, http: httpx.Client) -> None:
    """latency_s adds wall-clock delay to API answers."""
    strava.set_knobs(latency_s=0.2)
    response = http.get(f"{strava.api_url}/athlete")
    assert response.elapsed.total_seconds() >= 0.2


# -- inspection, parsing, CLI -----------------------------------------------------------


def test_http_inspection_and_knob_endpoints(strava: Emulator, http: httpx.Client) -> None:
    """/_emulator/knobs changes knobs, refusing unknown ones; /_emulator/state shows usage."""
    base = strava.api_url.removesuffix("/api/v3")
    changed = http.post(f"{base}/_emulator/knobs", json={"limit_15": 50, "inactive": False})
    assert (200, 50) == (changed.status_code, changed.json()["limit_15"])
    assert 400 == http.post(f"{base}/_emulator/knobs", json={"nope": 1}).status_code
    tokens = http.post(f"{base}/_emulator/tokens", json={"athlete_id": 5}).json()
    http.get(f"{strava.api_url}/athlete", headers=bearer(tokens))
    state = http.get(f"{base}/_emulator/state", params={"requests": "0"}).json()
    assert (50, 1, 1, "requests" in state) == (
        state["rate_limit"]["limit_15"],
        state["rate_limit"]["usage_15"],
        state["counters"]["by_status"]["200"],
        False,
    )


def test_serve_until_stopped_prints_the_config_snippet() -> None:
    """The standalone loop prints the URLs and a [strava] snippet, and stops on request."""
    from stravasync.emulator import serve_until_stopped

    lines: list[str] = []
    stop = threading.Event()
    seen: list[str] = []

    def ready(emulator: Emulator) -> None:
        seen.append(emulator.api_url)
        stop.set()

    serve_until_stopped(EmulatorConfig(), echo=lines.append, stop=stop, on_ready=ready)
    assert f'api_url = "{seen[0]}"' in lines[0]
    assert f"api_url   = {seen[0].removesuffix('/api/v3')}   (path-less" in lines[0]
    assert "[strava]" in lines[0]
