"""Tests for the OAuth client over MockTransport: the athlete cap at /oauth/token, and signing out honestly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import httpx
import pytest

from stravasync.config.settings import StravaConfig
from stravasync.errors import AppInactive, AthleteLimitReached, ConfigError
from stravasync.strava.oauth import OAuthClient, SignOut

ACCESS = "a" * 40
REFRESH = "r" * 40
NEW_ACCESS = "n" * 40
SECRET = "client-secret-xyz-123"
NOW = 1_800_000_000.0
CONFIG = StravaConfig(client_id="4242", client_secret=SECRET,
                      api_url="http://strava.test/api/v3", oauth_url="http://strava.test/oauth")
NO_SECRET = replace(CONFIG, client_secret="")
CAP = {"message": "Limit of connected athletes exceeded",
       "errors": [{"resource": "Application", "field": "athletes", "code": "limit exceeded"}]}
INACTIVE = {"message": "Forbidden",
            "errors": [{"resource": "Application", "field": "Status", "code": "Inactive"}]}

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport app that answers per path and keeps every request."""

    def __init__(self, **answers: httpx.Response | Handler) -> None:
        self.answers = answers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        answer = self.answers.get(request.url.path.rsplit("/", 1)[-1], httpx.Response(404))
        return answer(request) if callable(answer) else answer

    def paths(self) -> list[str]:
        """The paths asked for, in order."""
        return [r.url.path for r in self.requests]


def oauth(app: Recorder, config: StravaConfig = CONFIG) -> OAuthClient:
    """An OAuth client on ``app`` with a fixed clock."""
    return OAuthClient(config=config, transport=httpx.MockTransport(app), clock=lambda: NOW)


# -- /oauth/token ---------------------------------------------------------------------------


def test_athlete_cap_at_exchange_is_not_called_wrong_credentials() -> None:
    """A code refused for the athlete cap is AthleteLimitReached, with sign-in advice."""
    app = Recorder(token=httpx.Response(403, json=CAP))
    with pytest.raises(AthleteLimitReached) as info:
        oauth(app).exchange_code("c0de")
    message = str(info.value)
    assert "cap of 1" in message
    assert "client_secret" not in message
    assert "hourly" not in message  # a person is waiting: no background promise
    assert message.endswith("run `stravasync auth` again.")


def test_athlete_cap_at_refresh_is_a_dead_end() -> None:
    """A refresh refused for the athlete cap is AthleteLimitReached, retried hourly."""
    with pytest.raises(AthleteLimitReached, match="hourly"):
        oauth(Recorder(token=httpx.Response(403, json=CAP))).refresh(REFRESH)


def test_inactive_app_at_exchange_says_subscribe_then_reactivate() -> None:
    """An inactive app met while signing in names the subscription and the settings page."""
    with pytest.raises(AppInactive) as info:
        oauth(Recorder(token=httpx.Response(403, json=INACTIVE))).exchange_code("c0de")
    assert "subscribes, then reactivates the app at https://www.strava.com/settings/api" in str(
        info.value)
    assert "hourly" not in str(info.value)


@pytest.mark.parametrize("status", [400, 401, 403])
def test_other_application_errors_are_still_wrong_credentials(status: int) -> None:
    """An Application error that is neither the cap nor inactive: check client id/secret."""
    body = {"errors": [{"resource": "Application", "field": "client_id", "code": "invalid"}]}
    with pytest.raises(ConfigError, match="client_id/client_secret"):
        oauth(Recorder(token=httpx.Response(status, json=body))).exchange_code("c0de")


# -- signing out ----------------------------------------------------------------------------


def test_deauthorize_sends_the_token_in_the_header_only() -> None:
    """The /deauthorize fallback: Bearer header, empty body, nothing in the URL."""
    app = Recorder(deauthorize=httpx.Response(200, json={}))
    outcome = oauth(app, NO_SECRET).revoke(access_token=ACCESS, refresh_token=REFRESH)
    (request,) = app.requests
    assert "/oauth/deauthorize" == request.url.path
    assert f"Bearer {ACCESS}" == request.headers["authorization"]
    assert (b"", b"") == (request.content, request.url.query)
    assert ACCESS not in str(request.url)
    assert (True, "deauthorize") == (outcome.confirmed, outcome.via)


def test_signing_out_without_a_secret_says_deauthorize_retires() -> None:
    """Without a client secret: deauthorize, and the person learns it ends on 1 June 2027."""
    app = Recorder(deauthorize=httpx.Response(200, json={}))
    outcome = oauth(app, NO_SECRET).revoke(access_token=ACCESS, refresh_token=REFRESH)
    assert "1 June 2027" in outcome.note
    assert "https://www.strava.com/settings/apps" in outcome.note
    assert ["/oauth/deauthorize"] == app.paths()


def test_a_refused_deauthorize_is_not_reported_as_success() -> None:
    """A 401 from /deauthorize is not a confirmed sign-out (it was before)."""
    refused = {"errors": [{"resource": "Athlete", "field": "access_token", "code": "invalid"}]}
    app = Recorder(deauthorize=httpx.Response(401, json=refused))
    outcome = oauth(app, NO_SECRET).revoke(access_token=ACCESS, refresh_token=REFRESH)
    assert not outcome.confirmed
    assert "did not accept the access token" in outcome.note


def test_a_retired_deauthorize_without_a_secret_says_what_is_missing() -> None:
    """After 1 June 2027 without a secret: not confirmed, and the note says why."""
    app = Recorder(deauthorize=httpx.Response(404))
    outcome = oauth(app, NO_SECRET).revoke(access_token=ACCESS, refresh_token=REFRESH)
    assert not outcome.confirmed
    assert "retired on 1 June 2027" in outcome.note
    assert "client secret" in outcome.note


def test_an_expired_token_without_a_secret_sends_nothing() -> None:
    """An expired access token cannot sign out without a secret: nothing is sent."""
    app = Recorder(deauthorize=httpx.Response(200, json={}))
    outcome = oauth(app, NO_SECRET).revoke(access_token=ACCESS, refresh_token=REFRESH,
                                           expires_at=NOW - 10)
    assert SignOut(confirmed=False, via="none", note=outcome.note) == outcome
    assert "expired" in outcome.note
    assert [] == app.requests


def test_an_expired_token_is_renewed_before_deauthorize() -> None:
    """With a secret but no /revoke, an expired access token is refreshed, then used."""
    fresh = {"access_token": NEW_ACCESS, "refresh_token": "s" * 40,
             "expires_at": int(NOW) + 21600}
    app = Recorder(token=httpx.Response(200, json=fresh),
                   deauthorize=httpx.Response(200, json={}))
    outcome = oauth(app).revoke(access_token=ACCESS, refresh_token=REFRESH, expires_at=NOW - 10)
    assert ["/oauth/revoke", "/oauth/token", "/oauth/deauthorize"] == app.paths()
    assert f"Bearer {NEW_ACCESS}" == app.requests[-1].headers["authorization"]
    assert outcome.confirmed


def test_refused_client_credentials_at_revoke_fall_back_and_say_so() -> None:
    """/revoke refusing the client secret: deauthorize signs out, the note names the secret."""
    refused = {"errors": [{"resource": "Application", "field": "client_secret",
                           "code": "invalid"}]}
    app = Recorder(revoke=httpx.Response(401, json=refused),
                   deauthorize=httpx.Response(200, json={}))
    outcome = oauth(app).revoke(access_token=ACCESS, refresh_token=REFRESH)
    assert ["/oauth/revoke", "/oauth/deauthorize"] == app.paths()
    assert outcome.confirmed
    assert "client_id/client_secret" in outcome.note


# -- against the emulator -------------------------------------------------------------------


