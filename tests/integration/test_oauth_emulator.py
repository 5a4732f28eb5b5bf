"""Tests for the OAuth client against the emulator on loopback: deauthorize and the athlete cap."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from emulator_rig import serving

from stravasync.config.settings import StravaConfig
from stravasync.errors import AthleteLimitReached
from stravasync.strava.oauth import OAuthClient

SECRET = "client-secret-xyz-123"
CONFIG = StravaConfig(client_id="4242", client_secret=SECRET,
                      api_url="http://strava.test/api/v3", oauth_url="http://strava.test/oauth")
NO_SECRET = replace(CONFIG, client_secret="")


# -- against the emulator -------------------------------------------------------------------



@pytest.fixture
def strava() -> Iterator[object]:
    """A running emulator (deauthorize refuses tokens in forms, as from June 2027)."""
    with serving(seed=5, client_id="4242", client_secret=SECRET) as emu:
        yield emu


@pytest.mark.integration
def test_emulator_deauthorize_fallback_sends_no_form_token(strava: object) -> None:
    """Without a secret, sign-out through /deauthorize works with the June 2027 rules."""
    tokens = strava.issue_tokens(scope="read,activity:write")  # type: ignore[attr-defined]
    sent: list[httpx.Request] = []

    class Recording(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            request.read()
            sent.append(request)
            return super().handle_request(request)

    config = replace(NO_SECRET, api_url=strava.api_url,  # type: ignore[attr-defined]
                     oauth_url=strava.oauth_url)  # type: ignore[attr-defined]
    with OAuthClient(config=config, transport=Recording()) as client:
        outcome = client.revoke(access_token=str(tokens["access_token"]),
                                refresh_token=str(tokens["refresh_token"]))
    assert (True, "deauthorize") == (outcome.confirmed, outcome.via)
    (request,) = sent
    assert (b"", b"") == (request.content, request.url.query)
    log = [r for r in strava.inspect()["requests"]  # type: ignore[attr-defined]
           if r["path"] == "/oauth/deauthorize"]
    assert [(200, None)] == [(r["status"], r["note"]) for r in log]
    reply = httpx.get(f"{strava.api_url}/athlete",  # type: ignore[attr-defined]
                      headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert 401 == reply.status_code


@pytest.mark.integration
def test_emulator_athlete_cap_at_exchange(strava: object) -> None:
    """A code issued before the cap was lowered is refused as the athlete cap, not as bad secrets."""
    from urllib.parse import parse_qs, urlsplit

    from stravasync.strava.signin import authorize_url

    url = authorize_url(oauth_url=strava.oauth_url, client_id="4242",  # type: ignore[attr-defined]
                        redirect_uri="http://localhost:9/callback", state="s")
    code = parse_qs(urlsplit(httpx.get(url).headers["location"]).query)["code"][0]
    strava.issue_tokens(athlete_id=999, scope="read")  # type: ignore[attr-defined]
    strava.set_knobs(athlete_limit=1)  # type: ignore[attr-defined]
    config = replace(CONFIG, api_url=strava.api_url,  # type: ignore[attr-defined]
                     oauth_url=strava.oauth_url)  # type: ignore[attr-defined]
    with OAuthClient(config=config) as client, pytest.raises(AthleteLimitReached) as info:
        client.exchange_code(code)
    assert "https://www.strava.com/settings/api" in str(info.value)
