"""Tests for the emulator's 2026-27 Strava changes: revoke, header-only deauthorize,
the athlete cap at authorize, and the path-less API host."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from emulator_rig import bearer
from fixtures import gpx_text

from stravasync.emulator import Emulator, ManualClock, describe

pytestmark = pytest.mark.integration

CLIENT_ID, SECRET = "12345", "emulator-secret"
AUTH_ERROR = {
    "message": "Authorization Error",
    "errors": [{"resource": "Athlete", "field": "access_token", "code": "invalid"}],
}
BASIC = {"Authorization": "Basic " + base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()}
AUTHORIZE = {
    "client_id": CLIENT_ID,
    "redirect_uri": "http://127.0.0.1:8999/callback",
    "response_type": "code",
    "approval_prompt": "auto",
    "scope": "read,activity:write",
    "state": "s-1",
}


@pytest.fixture
def clock() -> ManualClock:
    """A clock the test moves by hand, from this module's start (the emulator fixture uses it)."""
    return ManualClock(1_800_000_000.0)


def alive(http: httpx.Client, strava: Emulator, tokens: dict[str, Any]) -> bool:
    """Whether the access token still works."""
    return 200 == http.get(f"{strava.api_url}/athlete", headers=bearer(tokens)).status_code


# -- revoke -----------------------------------------------------------------------------


def test_revoking_the_refresh_token_kills_the_access_token_too(
    strava: Emulator, http: httpx.Client
) -> None:
    """Either token revokes both; another grant of the athlete is untouched."""
    tokens, other = strava.issue_tokens(), strava.issue_tokens()
    response = http.post(
        f"{strava.oauth_url}/revoke",
        headers=BASIC,
        data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
    )
    assert (200, False, True) == (
        response.status_code,
        alive(http, strava, tokens),
        alive(http, strava, other),
    )


def test_revoke_takes_client_credentials_only_by_http_basic(
    strava: Emulator, http: httpx.Client
) -> None:
    """Client id and secret in the form instead of the Basic header are refused."""
    tokens = strava.issue_tokens()
    response = http.post(
        f"{strava.oauth_url}/revoke",
        data={"token": tokens["access_token"], "client_id": CLIENT_ID, "client_secret": SECRET},
    )
    assert (400, True) == (response.status_code, alive(http, strava, tokens))


# -- deauthorize ------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["form", "query"])
def test_deauthorize_refuses_a_token_outside_the_header(
    strava: Emulator, http: httpx.Client, where: str
) -> None:
    """From June 2027 a token in a form field or query string is refused, header or not."""
    tokens = strava.issue_tokens()
    field = {"access_token": tokens["access_token"]}
    response = http.post(
        f"{strava.oauth_url}/deauthorize",
        headers=bearer(tokens),
        data=field if where == "form" else None,
        params=field if where == "query" else None,
    )
    assert (401, AUTH_ERROR, True) == (
        response.status_code,
        response.json(),
        alive(http, strava, tokens),
    )
    assert "form_token" == strava.inspect()["requests"][-2]["note"]


def test_deauthorize_knobs_older_form_and_retired_endpoint(
    strava: Emulator, http: httpx.Client
) -> None:
    """--form-tokens takes access_token= as before 2027; --deauthorize-retired answers 404."""
    tokens = strava.issue_tokens()
    strava.set_knobs(deauthorize_retired=True)
    gone = http.post(f"{strava.oauth_url}/deauthorize", headers=bearer(tokens))
    assert (404, True) == (gone.status_code, alive(http, strava, tokens))
    strava.set_knobs(deauthorize_retired=False, header_only_tokens=False)
    old = http.post(
        f"{strava.oauth_url}/deauthorize", data={"access_token": tokens["access_token"]}
    )
    assert (200, False) == (old.status_code, alive(http, strava, tokens))


# -- the athlete cap --------------------------------------------------------------------


def test_a_new_athlete_beyond_the_cap_gets_stravas_page_and_no_redirect(
    strava: Emulator, http: httpx.Client
) -> None:
    """At the cap, authorize answers 403 with Strava's HTML page: no Location, no code."""
    strava.issue_tokens(athlete_id=99)
    strava.set_knobs(athlete_cap=1)
    page = http.get(f"{strava.oauth_url}/authorize", params=AUTHORIZE)
    assert (403, "text/html", None) == (
        page.status_code,
        page.headers["content-type"].split(";")[0],
        page.headers.get("location"),
    )
    assert "Limit of connected athletes exceeded" in page.text
    strava.set_knobs(approval_page=True)
    approve = http.post(f"{strava.oauth_url}/authorize", data={**AUTHORIZE, "approve": "yes"})
    assert (403, None) == (approve.status_code, approve.headers.get("location"))
    assert "athlete_cap" == strava.inspect()["requests"][-1]["note"]


def test_the_cap_lets_connected_athletes_sign_in_again_and_frees_on_revoke(
    strava: Emulator, http: httpx.Client
) -> None:
    """An athlete already connected is under the cap; once another revokes, a new one fits."""
    mine = strava.issue_tokens()
    strava.set_knobs(athlete_limit=1)
    again = http.get(f"{strava.oauth_url}/authorize", params=AUTHORIZE)
    assert (302, ["s-1"]) == (
        again.status_code,
        parse_qs(urlsplit(again.headers["location"]).query)["state"],
    )
    strava.revoke_athlete()
    other = strava.issue_tokens(athlete_id=99)
    assert 403 == http.get(f"{strava.oauth_url}/authorize", params=AUTHORIZE).status_code
    http.post(f"{strava.oauth_url}/revoke", headers=BASIC, data={"token": other["access_token"]})
    assert 302 == http.get(f"{strava.oauth_url}/authorize", params=AUTHORIZE).status_code
    assert not alive(http, strava, mine)


def test_the_inactive_app_403_comes_before_the_cap(strava: Emulator, http: httpx.Client) -> None:
    """An inactive app still answers its JSON 403 at authorize."""
    strava.issue_tokens(athlete_id=99)
    strava.set_knobs(athlete_limit=1, inactive=True)
    page = http.get(f"{strava.oauth_url}/authorize", params=AUTHORIZE)
    assert (403, "Inactive") == (page.status_code, page.json()["errors"][0]["code"])


# -- the path-less API host -------------------------------------------------------------


def test_the_api_answers_without_the_api_v3_prefix(
    strava: Emulator, clock: ManualClock, http: httpx.Client
) -> None:
    """Upload, poll and list at the root work and count like the /api/v3 forms."""
    tokens = strava.issue_tokens(scope="read,activity:write,activity:read")
    root = strava.pathless_api_url
    assert root + "/api/v3" == strava.api_url
    created = http.post(
        f"{root}/uploads",
        headers=bearer(tokens),
        data={"data_type": "gpx"},
        files={"file": ("w.gpx", gpx_text().encode())},
    )
    assert 201 == created.status_code
    clock.advance(3)
    polled = http.get(f"{root}/uploads/{created.json()['id_str']}", headers=bearer(tokens))
    listed = http.get(f"{root}/athlete/activities", headers=bearer(tokens))
    assert (polled.json()["activity_id"], "3,3") == (
        listed.json()[0]["id"],
        listed.headers["X-RateLimit-Usage"],
    )
    routes = strava.inspect()["counters"]["by_route"]
    assert {"POST /uploads": 1, "GET /uploads/{id}": 1, "GET /athlete/activities": 1} == routes
    assert 401 == http.get(f"{root}/athlete").status_code


def test_the_banner_prints_both_api_url_forms(strava: Emulator) -> None:
    """The standalone banner shows the /api/v3 and the path-less api_url."""
    banner = describe(strava)
    assert f"api_url   = {strava.api_url}\n" in banner
    assert f"api_url   = {strava.pathless_api_url}   (path-less" in banner
