"""Tests for stravasync.logs: output formats and secrets that never reach a log line."""

from __future__ import annotations

import hashlib
import io
import json
import logging

import structlog

from stravasync.logs import configure_logging, redact_text, register_secret

ACCESS = "3f1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a"
REFRESH = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"


def json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_have_timestamp_level_event() -> None:
    """With format json every line is a JSON object with timestamp, level and event."""
    out = io.StringIO()
    configure_logging(fmt="json", level="info", stream=out)
    structlog.get_logger().info("upload_done", path="/x/a.fit", activity_id=7000001)
    (line,) = json_lines(out)
    assert {"event": "upload_done", "level": "info", "path": "/x/a.fit", "activity_id": 7000001} == {
        k: line[k] for k in ("event", "level", "path", "activity_id")
    }
    assert str(line["timestamp"]).endswith("Z")


def test_auto_is_json_when_not_a_tty() -> None:
    """format auto writes JSON lines to a stream that is not a terminal."""
    out = io.StringIO()
    configure_logging(fmt="auto", stream=out)
    structlog.get_logger().info("hello")
    assert "hello" == json_lines(out)[0]["event"]


def test_console_format_is_not_json() -> None:
    """format console writes human lines."""
    out = io.StringIO()
    configure_logging(fmt="console", stream=out)
    structlog.get_logger().info("hello", n=1)
    assert "hello" in out.getvalue()
    assert not out.getvalue().startswith("{")


def test_level_filters() -> None:
    """Events below the configured level are dropped."""
    out = io.StringIO()
    configure_logging(fmt="json", level="warning", stream=out)
    log = structlog.get_logger()
    log.info("quiet")
    log.warning("loud")
    assert ["loud"] == [line["event"] for line in json_lines(out)]


def test_sensitive_keys_are_masked() -> None:
    """Values under token, code and secret keys never reach output."""
    out = io.StringIO()
    configure_logging(fmt="json", stream=out)
    structlog.get_logger().info(
        "token_refreshed",
        access_token="abc-secret-1",
        refresh_token="abc-secret-2",
        code="abc-secret-3",
        client_secret="abc-secret-4",
        nested={"authorization": "Bearer abc-secret-5"},
    )
    text = out.getvalue()
    for n in range(1, 6):
        assert f"abc-secret-{n}" not in text


def test_registered_secrets_are_masked_anywhere() -> None:
    """A registered token is masked inside free text, event names and other values."""
    register_secret(REFRESH)
    out = io.StringIO()
    configure_logging(fmt="json", stream=out)
    structlog.get_logger().info(f"weird {REFRESH}", detail=f"server said {REFRESH}!", items=[REFRESH])
    assert REFRESH not in out.getvalue()
    assert "***" in out.getvalue()


def test_tokens_inside_exceptions_are_masked() -> None:
    """A token embedded in an exception message and its traceback is masked."""
    register_secret(ACCESS)
    for fmt in ("json", "console"):
        out = io.StringIO()
        configure_logging(fmt=fmt, stream=out)
        try:
            raise RuntimeError(f"request failed: Authorization: Bearer {ACCESS}")
        except RuntimeError as exc:
            structlog.get_logger().exception("call_failed", error=exc)
        assert ACCESS not in out.getvalue(), fmt
        assert "RuntimeError" in out.getvalue()


def test_unregistered_token_shapes_are_masked() -> None:
    """Token-looking text is masked even if nobody registered it."""
    text = redact_text(
        'Bearer zzzzsecretzzzz refresh_token=qqqsecretqqq&x=1 {"access_token": "jjjsecretjjj"} '
        "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef"
    )
    for secret in ("zzzzsecretzzzz", "qqqsecretqqq", "jjjsecretjjj", "deadbeef" * 5):
        assert secret not in text
    # A sha256 (64 hex) is a content id, not a token: it stays readable.
    sha = hashlib.sha256(b"a workout").hexdigest()
    assert sha == redact_text(sha)


def test_stdlib_records_pass_the_same_redaction() -> None:
    """A library logging through the standard library cannot leak a token either."""
    register_secret(ACCESS)
    out = io.StringIO()
    configure_logging(fmt="json", stream=out)
    logging.getLogger("somelib").warning("retrying with token %s", ACCESS)
    (line,) = json_lines(out)
    assert "library_log" == line["event"]
    assert ACCESS not in out.getvalue()
