"""Tests for signing in and out over loopback: the callback listener, `stravasync auth` and `logout`
against the emulator."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cli_rig import AUTH_SECRET, invoke, write_auth_config
from emulator_rig import serving

from stravasync.cli.auth_cmd import auth_command, logout_command
from stravasync.config.settings import StravaConfig
from stravasync.errors import AuthFlowError, ScopeMissing
from stravasync.strava.oauth import OAuthClient
from stravasync.strava.signin import (
    CallbackListener,
    CallbackResult,
    authorize_url,
    sign_in,
)
from stravasync.strava.tokens import TokenStore

SECRET = AUTH_SECRET
CLIENT_SECRET = "client-secret-xyz-123"
OAUTH_CONFIG = StravaConfig(client_id="4242", client_secret=CLIENT_SECRET,
                            api_url="http://strava.test/api/v3",
                            oauth_url="http://strava.test/oauth")


def test_listener_rejects_wrong_state() -> None:
    """An answer with a foreign state is refused, the page says why, and the wait goes on."""
    with CallbackListener(expected_state="right") as listener:
        reply = httpx.get(
            f"http://127.0.0.1:{listener.port}/callback",
            params={"state": "wrong", "code": "c0de12"},
        )
        assert 400 == reply.status_code
        assert "state mismatch" in reply.text
        assert listener.wait(0.05) is None


def test_listener_accepts_and_answers_the_browser() -> None:
    """The right answer is accepted and the browser told it may close the tab."""
    with CallbackListener(expected_state="right") as listener:
        reply = httpx.get(
            f"http://127.0.0.1:{listener.port}/callback",
            params={"state": "right", "code": "c0de12", "scope": "read,activity:write"},
        )
        assert 200 == reply.status_code
        assert "close this tab" in reply.text
        result = listener.wait(1)
    assert result is not None
    assert "c0de12" == result.code
    assert listener.redirect_uri.startswith("http://localhost:")


def test_listener_denied_and_timeout() -> None:
    """A declined authorization and a silent browser both end clearly."""
    with CallbackListener(expected_state="s") as listener:
        assert listener.wait(0.05) is None
        listener.submit(CallbackResult(code=None, state="s", scope=None, error="access_denied"))
        with pytest.raises(AuthFlowError, match="access_denied"):
            listener.wait(1)


# -- end to end against the emulator ------------------------------------------------------


@pytest.fixture
def strava() -> Iterator[object]:
    """A running emulator for client 4242."""
    with serving(seed=3, client_id="4242", client_secret=SECRET) as emu:
        yield emu


class Browser:
    """Stands in for webbrowser.open: follows Strava's redirect to the listener."""

    def __init__(self, *, tamper_state: bool = False) -> None:
        self.tamper_state = tamper_state
        self.pages: list[httpx.Response] = []
        self.thread: threading.Thread | None = None

    def __call__(self, url: str) -> bool:
        self.thread = threading.Thread(target=self._visit, args=(url,))
        self.thread.start()
        return True

    def _visit(self, url: str) -> None:
        with httpx.Client() as http:
            reply = http.get(url)
            assert 302 == reply.status_code
            location = reply.headers["location"]
            if self.tamper_state:
                location = location.replace("state=", "state=evil")
            self.pages.append(http.get(location.replace("localhost", "127.0.0.1")))


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test away from the real home directory."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("STRAVASYNC_CLIENT_SECRET", raising=False)


@pytest.mark.integration
def test_auth_end_to_end(tmp_path: Path, strava: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """`stravasync auth` opens the browser, checks state and scope, shows the athlete, stores tokens."""
    browser = Browser()
    monkeypatch.setattr("webbrowser.open", browser)
    config = write_auth_config(tmp_path, strava)
    result = invoke(auth_command, config, ["--timeout", "20"])
    assert browser.thread is not None
    browser.thread.join()
    assert 0 == result.exit_code, result.output  # type: ignore[attr-defined]
    assert "Emma Ulator (athlete 1234567)" in result.output  # type: ignore[attr-defined]
    assert "close this tab" in browser.pages[0].text
    path = tmp_path / "state" / "tokens.json"
    assert 0o600 == os.stat(path).st_mode & 0o777
    status = TokenStore(state_dir=tmp_path / "state").status()
    assert status is not None
    assert (1234567, "read,activity:write,activity:read_all") == (
        status.athlete_id, status.scope)
    saved = json.loads(path.read_text())
    assert saved["access_token"] not in result.output  # type: ignore[attr-defined]


@pytest.mark.integration
def test_auth_unticked_scope_stores_nothing(
    tmp_path: Path, strava: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An athlete who unticks activity:write gets ScopeMissing and no tokens are stored."""
    strava.set_knobs(granted_scope="read")  # type: ignore[attr-defined]
    browser = Browser()
    monkeypatch.setattr("webbrowser.open", browser)
    result = invoke(auth_command, write_auth_config(tmp_path, strava), ["--timeout", "20"])
    assert browser.thread is not None
    browser.thread.join()
    assert isinstance(result.exception, ScopeMissing)  # type: ignore[attr-defined]
    assert "activity:write" in browser.pages[0].text
    assert not (tmp_path / "state" / "tokens.json").exists()
    assert 1 == strava.inspect()["counters"]["oauth_calls"]  # type: ignore[attr-defined]


@pytest.mark.integration
def test_auth_state_mismatch(
    tmp_path: Path, strava: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A redirect with a foreign state is refused and nothing is exchanged."""
    browser = Browser(tamper_state=True)
    monkeypatch.setattr("webbrowser.open", browser)
    result = invoke(auth_command, write_auth_config(tmp_path, strava), ["--timeout", "1"])
    assert browser.thread is not None
    browser.thread.join()
    assert isinstance(result.exception, AuthFlowError)  # type: ignore[attr-defined]
    assert not (tmp_path / "state" / "tokens.json").exists()
    # The authorize page was the only OAuth call: no code was exchanged.
    assert 1 == strava.inspect()["counters"]["oauth_calls"]  # type: ignore[attr-defined]


@pytest.mark.integration
def test_auth_no_browser_paste(tmp_path: Path, strava: object) -> None:
    """Without a browser, the printed URL is visited elsewhere and the redirect pasted."""
    from stravasync.config.settings import load_config
    from stravasync.strava.oauth import OAuthClient

    cfg = load_config(write_auth_config(tmp_path, strava))
    read_fd, write_fd = os.pipe()
    lines: list[str] = []

    def echo(text: str) -> None:
        lines.append(text)
        if text.startswith(cfg.strava.oauth_url):
            # The person opens the URL on another machine and pastes where it led.
            location = httpx.get(text).headers["location"]
            os.write(write_fd, f"not a url\n{location}\n".encode())

    store = TokenStore(state_dir=cfg.state_dir)
    with OAuthClient(config=cfg.strava) as oauth, open(read_fd) as stdin:
        result = sign_in(
            oauth=oauth,
            tokens=store,
            client_id="4242",
            oauth_url=cfg.strava.oauth_url,
            open_browser=False,
            timeout=20,
            echo=echo,
            stdin=stdin,
        )
        os.close(write_fd)
    assert result.athlete is not None
    assert 1234567 == result.athlete.id
    assert any("not a redirected URL" in line for line in lines)
    assert store.status() is not None


@pytest.mark.integration
def test_auth_with_code(tmp_path: Path, strava: object) -> None:
    """--code exchanges a code obtained by hand and exits."""
    config = write_auth_config(tmp_path, strava)
    url = authorize_url(
        oauth_url=strava.oauth_url,
        client_id="4242",  # type: ignore[attr-defined]
        redirect_uri="http://localhost:9/callback",
        state="x",
    )
    location = httpx.get(url).headers["location"]
    result = invoke(auth_command, config, ["--code", location])
    assert 0 == result.exit_code, result.output  # type: ignore[attr-defined]
    assert (tmp_path / "state" / "tokens.json").exists()
    again = invoke(auth_command, config, ["--code", location])  # a used code
    assert isinstance(again.exception, AuthFlowError)  # type: ignore[attr-defined]


@pytest.mark.integration
def test_auth_timeout(tmp_path: Path, strava: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nobody answers: a clear timeout message."""
    monkeypatch.setattr("webbrowser.open", lambda _url: True)
    result = invoke(auth_command, write_auth_config(tmp_path, strava), ["--timeout", "1"])
    assert isinstance(result.exception, AuthFlowError)  # type: ignore[attr-defined]
    assert "within 1 seconds" in str(result.exception)  # type: ignore[attr-defined]


@pytest.mark.integration
def test_logout_revokes_and_deletes(tmp_path: Path, strava: object) -> None:
    """logout revokes at Strava (the token stops working) and deletes the file."""
    config = write_auth_config(tmp_path, strava)
    url = authorize_url(
        oauth_url=strava.oauth_url,
        client_id="4242",  # type: ignore[attr-defined]
        redirect_uri="http://localhost:9/callback",
        state="x",
    )
    assert (
        0
        == invoke(
            auth_command,
            config,  # type: ignore[attr-defined]
            ["--code", httpx.get(url).headers["location"]],
        ).exit_code
    )
    token = json.loads((tmp_path / "state" / "tokens.json").read_text())["access_token"]
    result = invoke(logout_command, config, [])
    assert "Strava confirmed" in result.output  # type: ignore[attr-defined]
    assert not (tmp_path / "state" / "tokens.json").exists()
    reply = httpx.get(
        f"{strava.api_url}/athlete",  # type: ignore[attr-defined]
        headers={"Authorization": f"Bearer {token}"},
    )
    assert 401 == reply.status_code


def test_logout_offline_still_deletes(tmp_path: Path) -> None:
    """With Strava unreachable, logout deletes the tokens and says Strava was not told."""
    fake = type(
        "S", (), {"api_url": "http://127.0.0.1:9/api/v3", "oauth_url": "http://127.0.0.1:9/oauth"}
    )()
    config = write_auth_config(tmp_path, fake)
    from stravasync.strava.tokens import TokenSet

    TokenStore(state_dir=tmp_path / "state").save_initial(
        TokenSet(access_token="x" * 40, refresh_token="y" * 40, expires_at=2_000_000_000)
    )
    result = invoke(logout_command, config, [])
    assert 0 == result.exit_code  # type: ignore[attr-defined]
    assert "could not be told" in result.output  # type: ignore[attr-defined]
    assert not (tmp_path / "state" / "tokens.json").exists()


def test_listener_port_can_be_fixed_for_ssh_forwarding() -> None:
    """--port puts the callback listener on a known port; a taken one is a clear error."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with CallbackListener(expected_state="s", port=port) as listener:
        assert f"http://localhost:{port}/callback" == listener.redirect_uri
        with pytest.raises(AuthFlowError, match="Choose another --port"):
            CallbackListener(expected_state="s", port=port)


def test_no_browser_timeout_with_closed_input_fits_the_mode(tmp_path: Path) -> None:
    """--no-browser with stdin at EOF: the timeout suggests --code, not --no-browser."""
    import io

    lines: list[str] = []
    with OAuthClient(config=OAUTH_CONFIG) as oauth, pytest.raises(AuthFlowError) as info:
        sign_in(oauth=oauth, tokens=TokenStore(state_dir=tmp_path), client_id="4242",
                oauth_url=OAUTH_CONFIG.oauth_url, open_browser=False, timeout=0.3,
                echo=lines.append, stdin=io.StringIO(""))
    message = str(info.value)
    assert "with --no-browser" not in message
    assert "--code" in message
    assert any("closed" in line for line in lines)


def test_no_browser_timeout_with_open_input_says_to_paste(tmp_path: Path) -> None:
    """--no-browser with stdin open: the timeout says to paste the address, not to add a flag."""
    read_fd, write_fd = os.pipe()
    with OAuthClient(config=OAUTH_CONFIG) as oauth, open(read_fd) as stdin:
        try:
            with pytest.raises(AuthFlowError) as info:
                sign_in(oauth=oauth, tokens=TokenStore(state_dir=tmp_path), client_id="4242",
                        oauth_url=OAUTH_CONFIG.oauth_url, open_browser=False, timeout=0.3,
                        echo=lambda _t: None, stdin=stdin)
        finally:
            os.close(write_fd)  # ends the paste reader before its file is closed
    message = str(info.value)
    assert "with --no-browser" not in message
    assert "paste" in message


class CappedBrowser:
    """Stands in for a browser at Strava's athlete cap: it stays on Strava's 403 page."""

    def __init__(self) -> None:
        self.pages: list[httpx.Response] = []

    def __call__(self, url: str) -> bool:
        self.pages.append(httpx.get(url))
        return True


@pytest.mark.integration
def test_sign_in_at_the_athlete_cap_names_the_cause(tmp_path: Path, strava: object) -> None:
    """At the athlete cap no answer comes: the wait prints the causes, the timeout names them."""
    strava.issue_tokens(athlete_id=999, scope="read")  # type: ignore[attr-defined]
    strava.set_knobs(athlete_cap=1)  # type: ignore[attr-defined]
    browser = CappedBrowser()
    lines: list[str] = []
    with OAuthClient(config=OAUTH_CONFIG) as oauth, pytest.raises(AuthFlowError) as info:
        sign_in(oauth=oauth, tokens=TokenStore(state_dir=tmp_path), client_id="4242",
                oauth_url=strava.oauth_url,  # type: ignore[attr-defined]
                browser=browser, timeout=1.0, hint_after=0.3, echo=lines.append)
    (page,) = browser.pages
    assert (403, True) == (page.status_code, "Limit of connected athletes exceeded" in page.text)
    message = str(info.value)
    assert "within 1 seconds" in message
    assert "Limit of connected athletes exceeded" in message
    assert "athlete cap" in message
    assert "subscription" in message
    (hint,) = [line for line in lines if line.startswith("Still no answer")]
    assert "athlete cap" in hint
    assert "https://www.strava.com/settings/api" in hint
    assert not (tmp_path / "tokens.json").exists()


def test_sign_in_prints_no_hint_before_its_time(tmp_path: Path) -> None:
    """Within hint_after nothing but the address is printed; the timeout still names causes."""
    lines: list[str] = []
    with OAuthClient(config=OAUTH_CONFIG) as oauth, pytest.raises(AuthFlowError) as info:
        sign_in(oauth=oauth, tokens=TokenStore(state_dir=tmp_path), client_id="4242",
                oauth_url=OAUTH_CONFIG.oauth_url, browser=lambda _u: True, timeout=0.3,
                hint_after=5.0, echo=lines.append)
    assert [] == [line for line in lines if line.startswith("Still no answer")]
    assert "athlete cap" in str(info.value)


@pytest.mark.integration
def test_logout_without_a_secret_says_deauthorize_retires(tmp_path: Path, strava: object) -> None:
    """logout with no client secret signs out by /deauthorize and says it ends on 1 June 2027."""
    url = authorize_url(oauth_url=strava.oauth_url, client_id="4242",  # type: ignore[attr-defined]
                        redirect_uri="http://localhost:9/callback", state="x")
    signed_in = invoke(auth_command, write_auth_config(tmp_path, strava),
                       ["--code", httpx.get(url).headers["location"]])
    assert 0 == signed_in.exit_code  # type: ignore[attr-defined]
    token = json.loads((tmp_path / "state" / "tokens.json").read_text())["access_token"]
    result = invoke(logout_command, write_auth_config(tmp_path, strava, secret=""), [])
    output = " ".join(result.output.split())  # type: ignore[attr-defined]
    assert "Strava confirmed the sign-out" in output
    assert "retires on 1 June 2027" in output
    assert "https://www.strava.com/settings/apps" in output
    reply = httpx.get(f"{strava.api_url}/athlete",  # type: ignore[attr-defined]
                      headers={"Authorization": f"Bearer {token}"})
    assert 401 == reply.status_code


@pytest.mark.integration
def test_logout_when_strava_refuses_says_it_was_not_confirmed(
    tmp_path: Path, strava: object
) -> None:
    """A token Strava no longer takes: logout deletes it and does not claim a sign-out."""
    from stravasync.strava.tokens import TokenSet

    TokenStore(state_dir=tmp_path / "state").save_initial(
        TokenSet(access_token="x" * 40, refresh_token="y" * 40, expires_at=4_000_000_000))
    result = invoke(logout_command, write_auth_config(tmp_path, strava, secret=""), [])
    assert 0 == result.exit_code  # type: ignore[attr-defined]
    assert "did not confirm the sign-out" in result.output  # type: ignore[attr-defined]
    assert "Strava confirmed" not in result.output  # type: ignore[attr-defined]
    assert not (tmp_path / "state" / "tokens.json").exists()
