"""Tests for signing in and out without a network: the authorize URL, the callback, the token
exchange and revoke over MockTransport, and what the commands say offline."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cli_rig import invoke, write_auth_config

from stravasync.cli.auth_cmd import auth_command, logout_command
from stravasync.config.settings import StravaConfig
from stravasync.errors import AuthFlowError, ConfigError, ScopeMissing, TransientError
from stravasync.strava.oauth import OAuthClient
from stravasync.strava.signin import (
    CallbackResult,
    authorize_url,
    check_scope,
    parse_callback,
)


def test_authorize_url_has_every_parameter() -> None:
    """The authorize URL asks for read,activity:write,activity:read_all with state and redirect."""
    url = authorize_url(
        oauth_url="https://www.strava.com/oauth/",
        client_id="42",
        redirect_uri="http://localhost:5000/callback",
        state="st4te",
    )
    parts = urlsplit(url)
    assert (
        "https://www.strava.com/oauth/authorize" == f"{parts.scheme}://{parts.netloc}{parts.path}"
    )
    assert {
        "client_id": ["42"],
        "redirect_uri": ["http://localhost:5000/callback"],
        "response_type": ["code"],
        "approval_prompt": ["auto"],
        "scope": ["read,activity:write,activity:read_all"],
        "state": ["st4te"],
    } == parse_qs(parts.query)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "http://localhost:1/callback?state=s&code=abc123&scope=read,activity:write",
            CallbackResult(code="abc123", state="s", scope="read,activity:write", error=None),
        ),
        ("  abc123def \n", CallbackResult(code="abc123def", state=None, scope=None, error=None)),
        (
            "?state=s&error=access_denied",
            CallbackResult(code=None, state="s", scope=None, error="access_denied"),
        ),
        ("hello world", None),
        ("", None),
        ("http://localhost:1/callback", None),
    ],
)
def test_parse_callback(text: str, expected: CallbackResult | None) -> None:
    """Redirected URLs, query strings and bare codes are understood; junk is not."""
    assert expected == parse_callback(text)


def test_check_scope() -> None:
    """activity:write must be among the granted scopes (unknown scope passes)."""
    check_scope("read,activity:write")
    check_scope(None)
    with pytest.raises(ScopeMissing, match="stravasync auth"):
        check_scope("read")


# -- the OAuth endpoints, against httpx.MockTransport ----------------------------------

ACCESS = "a" * 40
REFRESH = "r" * 40
CLIENT_SECRET = "client-secret-xyz-123"
OAUTH_CONFIG = StravaConfig(client_id="4242", client_secret=CLIENT_SECRET,
                            api_url="http://strava.test/api/v3",
                            oauth_url="http://strava.test/oauth")


def test_exchange_code_returns_tokens_and_athlete() -> None:
    """A code exchange posts the form and returns a TokenSet with the athlete."""
    seen: list[dict[str, str]] = []

    def app(request: httpx.Request) -> httpx.Response:
        seen.append(dict(httpx.QueryParams(request.read().decode())))
        return httpx.Response(
            200,
            json={
                "token_type": "Bearer",
                "expires_at": 1_800_000_000,
                "expires_in": 21600,
                "access_token": ACCESS,
                "refresh_token": REFRESH,
                "athlete": {"id": 77, "firstname": "Ada", "lastname": "Lovelace"},
            },
        )

    with OAuthClient(config=OAUTH_CONFIG, transport=httpx.MockTransport(app)) as oauth:
        tokens = oauth.exchange_code("thecode123", scope="read,activity:write")
    assert {
        "client_id": "4242",
        "client_secret": CLIENT_SECRET,
        "code": "thecode123",
        "grant_type": "authorization_code",
    } == seen[0]
    assert tokens.athlete is not None
    assert "Ada Lovelace" == tokens.athlete.name
    assert "read,activity:write" == tokens.scope
    assert ACCESS not in repr(tokens)


def test_bad_code_is_auth_flow_error() -> None:
    """A used or invalid code is AuthFlowError with advice."""
    app = httpx.MockTransport(
        lambda _r: httpx.Response(
            400,
            json={
                "errors": [{"resource": "AuthorizationCode", "field": "code", "code": "invalid"}]
            },
        )
    )
    with pytest.raises(AuthFlowError, match="stravasync auth"):
        OAuthClient(config=OAUTH_CONFIG, transport=app).exchange_code("used-code")


def test_bad_client_credentials_are_config_error() -> None:
    """Wrong client id/secret are a configuration problem."""
    app = httpx.MockTransport(
        lambda _r: httpx.Response(
            401,
            json={"errors": [{"resource": "Application", "field": "client_id", "code": "invalid"}]},
        )
    )
    with pytest.raises(ConfigError, match="client_secret"):
        OAuthClient(config=OAUTH_CONFIG, transport=app).exchange_code("c0de")


def test_no_secret_is_config_error() -> None:
    """Without a client secret, nothing is sent and the person is told where to set it."""
    config = StravaConfig(
        client_id="1", client_secret="", api_url=OAUTH_CONFIG.api_url, oauth_url=OAUTH_CONFIG.oauth_url
    )
    app = httpx.MockTransport(lambda _r: pytest.fail("no request expected"))
    with pytest.raises(ConfigError, match="STRAVASYNC_CLIENT_SECRET"):
        OAuthClient(config=config, transport=app).refresh(REFRESH)


def test_revoke_uses_basic_auth_and_token_body() -> None:
    """Sign-out posts token=... with HTTP Basic client credentials, nothing in the URL."""
    seen: list[httpx.Request] = []

    def app(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        request.read()
        return httpx.Response(200, json={})

    oauth = OAuthClient(config=OAUTH_CONFIG, transport=httpx.MockTransport(app))
    assert oauth.revoke(access_token=ACCESS, refresh_token=REFRESH)
    (request,) = seen
    assert "/oauth/revoke" == request.url.path
    assert request.headers["authorization"] == httpx.BasicAuth("4242", CLIENT_SECRET)._auth_header
    assert {"token": REFRESH} == dict(httpx.QueryParams(request.content.decode()))
    assert "" == request.url.query.decode()


def test_revoke_falls_back_to_deauthorize() -> None:
    """When /revoke is not there, the older /deauthorize is used."""
    paths: list[str] = []

    def app(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(404 if request.url.path.endswith("/revoke") else 200, json={})

    oauth = OAuthClient(config=OAUTH_CONFIG, transport=httpx.MockTransport(app))
    assert oauth.revoke(access_token=ACCESS, refresh_token=REFRESH)
    assert ["/oauth/revoke", "/oauth/deauthorize"] == paths


def test_revoke_offline_is_transient() -> None:
    """Sign-out without a network raises TransientError."""

    def app(_r: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("down")

    with pytest.raises(TransientError):
        OAuthClient(config=OAUTH_CONFIG, transport=httpx.MockTransport(app)).revoke(access_token=ACCESS)




@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test away from the real home directory."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("STRAVASYNC_CLIENT_SECRET", raising=False)


def test_auth_needs_a_secret(tmp_path: Path) -> None:
    """Without a client secret the command says where to put one."""
    fake = type(
        "S", (), {"api_url": "http://127.0.0.1:9/api/v3", "oauth_url": "http://127.0.0.1:9/oauth"}
    )()
    config = write_auth_config(tmp_path, fake, secret="")
    result = invoke(auth_command, config, ["--code", "abc123"])
    assert isinstance(result.exception, ConfigError)  # type: ignore[attr-defined]
    assert "client_secret" in str(result.exception)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("exc", "words"), [
    (httpx.ConnectError("[Errno 111] Connection refused"), "could not connect"),
    (httpx.ConnectTimeout("slow"), "timed out"),
    (httpx.ReadTimeout("slow"), "did not answer in time"),
])
def test_sign_in_offline_says_what_happened_and_what_to_do(
    exc: Exception, words: str
) -> None:
    """A network failure during sign-in: in words, no httpx names, no "retried later"."""

    def app(_r: httpx.Request) -> httpx.Response:
        raise exc

    oauth = OAuthClient(config=OAUTH_CONFIG, transport=httpx.MockTransport(app))
    with pytest.raises(TransientError) as info:
        oauth.exchange_code("c0de")
    message = str(info.value)
    assert words in message.lower()
    assert "oauth_url" in message
    assert "stravasync auth" in message
    assert "retried" not in message
    assert type(exc).__name__ not in message


def test_sign_in_with_strava_down_does_not_promise_a_retry() -> None:
    """A 5xx answer to the sign-in says to run `stravasync auth` again, not "retried later"."""
    oauth = OAuthClient(config=OAUTH_CONFIG,
                        transport=httpx.MockTransport(lambda _r: httpx.Response(502)))
    with pytest.raises(TransientError) as info:
        oauth.exchange_code("c0de")
    assert "stravasync auth" in str(info.value)
    assert "retried" not in str(info.value)


def test_logout_removes_a_damaged_token_file(tmp_path: Path) -> None:
    """A token file that cannot be read is removed by logout, which says so."""
    fake = type(
        "S", (), {"api_url": "http://127.0.0.1:9/api/v3", "oauth_url": "http://127.0.0.1:9/oauth"}
    )()
    config = write_auth_config(tmp_path, fake)
    (tmp_path / "state").mkdir(exist_ok=True)
    (tmp_path / "state" / "tokens.json").write_text("{not json")
    result = invoke(logout_command, config, [])
    assert 0 == result.exit_code  # type: ignore[attr-defined]
    assert "Deleted the unreadable token file" in result.output  # type: ignore[attr-defined]
    assert not (tmp_path / "state" / "tokens.json").exists()
