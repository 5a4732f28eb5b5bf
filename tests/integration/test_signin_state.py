"""A callback with a foreign (or no) ``state`` cannot end a sign-in: it is ignored.

Any local process can call the listener on 127.0.0.1; only the answer that carries
this sign-in's state counts, and the wait goes on until it comes or time runs out.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs

from stravasync.config.settings import StravaConfig
from stravasync.emulator import Emulator, EmulatorConfig
from stravasync.strava.oauth import OAuthClient
from stravasync.strava.signin import CallbackListener, CallbackResult, sign_in
from stravasync.strava.tokens import TokenStore

SECRET = "signin-state-secret-1"


@pytest.fixture
def strava() -> Iterator[Emulator]:
    """A running emulator for client 4242."""
    with Emulator(EmulatorConfig(seed=7, client_id="4242", client_secret=SECRET)) as emu:
        yield emu


def test_a_foreign_callback_is_ignored_and_the_right_one_accepted() -> None:
    """Wrong state, then no state: both refused and logged; the right answer still wins."""
    with capture_logs() as logs, CallbackListener(expected_state="right") as listener:
        url = f"http://127.0.0.1:{listener.port}/callback"
        wrong = httpx.get(url, params={"state": "wrong", "code": "evil1"})
        bare = httpx.get(url, params={"code": "evil2"})
        right = httpx.get(url, params={"state": "right", "code": "good", "scope": "read,activity:write"})
        result = listener.wait(5)
    assert (400, 400, 200) == (wrong.status_code, bare.status_code, right.status_code)
    assert "Not this sign-in" in wrong.text
    assert result is not None
    assert "good" == result.code
    assert [("warning", "state mismatch"), ("warning", "state missing")] == [
        (e["log_level"], e["reason"]) for e in logs if e["event"] == "auth_callback_ignored"]


def test_a_pasted_address_of_another_sign_in_is_ignored() -> None:
    """A pasted address with a foreign state is refused; a bare code is the person's own."""
    with CallbackListener(expected_state="right") as listener:
        foreign = CallbackResult(code="evil", state="wrong", scope=None, error=None)
        assert (False, False) == (listener.submit(foreign), listener.answered)
        bare = CallbackResult(code="mine", state=None, scope=None, error=None)
        assert listener.submit(bare)
        result = listener.wait(1)
    assert result is not None
    assert "mine" == result.code


@pytest.mark.integration
def test_sign_in_survives_a_forged_callback(tmp_path: Path, strava: Emulator) -> None:
    """A local process calls the listener first with a wrong state: the sign-in still ends well."""
    done: list[threading.Thread] = []

    def browser(url: str) -> bool:
        def visit() -> None:
            with httpx.Client() as http:
                location = http.get(url).headers["location"].replace("localhost", "127.0.0.1")
                port = httpx.URL(location).port
                http.get(f"http://127.0.0.1:{port}/callback",
                         params={"state": "forged", "code": "stolen"})
                http.get(location)

        thread = threading.Thread(target=visit)
        thread.start()
        done.append(thread)
        return True

    config = StravaConfig(client_id="4242", client_secret=SECRET, api_url=strava.api_url,
                          oauth_url=strava.oauth_url)
    tokens = TokenStore(state_dir=tmp_path / "state")
    with OAuthClient(config=config) as oauth:
        result = sign_in(oauth=oauth, tokens=tokens, client_id="4242",
                         oauth_url=strava.oauth_url, timeout=20, echo=lambda _t: None,
                         stdin=io.StringIO(""), browser=browser)
    for thread in done:
        thread.join()
    assert result.athlete is not None
    assert 1234567 == result.athlete.id
    assert tokens.status() is not None
