"""Tests for stravasync.owner.notices without a receiver: what is configured, which URLs are
used, cause keys, and credentials in a URL (MockTransport)."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Callable
from pathlib import Path

import httpx
from notices_rig import SETTLE
from structlog.testing import capture_logs

from stravasync.errors import AppInactive, NotSignedIn, ReauthRequired, TransientError
from stravasync.logs import configure_logging
from stravasync.owner.notices import (
    Notices,
    error_cause,
    file_cause,
    folder_cause,
    url_problem,
)


def test_nothing_configured_does_nothing(tmp_path: Path, make_notices: Callable[..., Notices]) -> None:
    """Without a url or a command no thread runs and no file is written."""
    path = tmp_path / "state" / "notices.json"
    notices = make_notices(state_path=path)
    notices.problem("auth:signed_out", "signed out")
    assert notices.flush(SETTLE)
    assert not notices.enabled
    assert not path.exists()


def test_only_http_urls_are_used(tmp_path: Path, make_notices: Callable[..., Notices]) -> None:
    """A file: or schemeless URL is refused with a warning and a reason, and nothing is sent."""
    assert url_problem("https://ntfy.sh/topic") is None
    assert url_problem("http://127.0.0.1:8080/x") is None
    for bad in ("file:///etc/passwd", "ntfy.sh/topic", "ftp://example.org/x", "https:///x"):
        assert url_problem(bad) is not None, bad
    with capture_logs() as logs:
        notices = make_notices(url="file:///etc/passwd")
    assert ["warning"] == [e["log_level"] for e in logs if e["event"] == "notify_url_refused"]
    assert not notices.enabled


def test_cause_keys() -> None:
    """Cause keys are stable: one per folder path, file content, and kind of sign-in trouble."""
    assert "folder:/data/Garmin" == folder_cause("/data/Garmin/")
    assert f"folder:{os.path.expanduser('~')}/Garmin" == folder_cause("~/Garmin")
    assert "file:abc" == file_cause("abc")
    assert "auth:signed_out" == error_cause(NotSignedIn("x"))
    assert "auth:signed_out" == error_cause(ReauthRequired("x"))
    assert "auth:app_inactive" == error_cause(AppInactive("x"))
    assert error_cause(TransientError("x")) is None


def test_url_credentials_become_basic_auth_and_stay_out_of_logs(
    make_notices: Callable[..., Notices],
) -> None:
    """https://user:password@host/topic (a protected ntfy topic) sends basic auth; logs mask it."""
    seen: list[httpx.Request] = []

    def app(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(403)

    notices = make_notices(url="https://alice:s3cret-pw@ntfy.example.org/topic",
                           transport=httpx.MockTransport(app))
    out = io.StringIO()
    configure_logging(fmt="json", level="debug", stream=out)
    notices.problem("auth:signed_out", "password s3cret-pw leaked?")
    assert notices.flush(SETTLE)
    (request,) = seen
    assert "Basic " + base64.b64encode(b"alice:s3cret-pw").decode() == request.headers["Authorization"]
    assert b"password *** leaked?" == request.content
    assert "notice_failed" in out.getvalue()
    assert "s3cret-pw" not in out.getvalue()
