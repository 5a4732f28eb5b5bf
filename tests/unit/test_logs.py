"""Tests for stravasync.logs: output formats and secrets that never reach a log line."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from pathlib import Path

import pytest
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


def journal_stream_of(path: Path) -> str:
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}"


def test_journald_lines_start_with_their_syslog_priority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When JOURNAL_STREAM names the log stream, each line starts with <N> and stays JSON."""
    path = tmp_path / "journal"
    with path.open("w", encoding="utf-8") as stream:
        monkeypatch.setenv("JOURNAL_STREAM", journal_stream_of(path))
        configure_logging(fmt="auto", level="debug", stream=stream)
        log = structlog.get_logger()
        log.debug("d")
        log.info("i")
        log.warning("w")
        log.error("e")
        log.critical("c")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("x")
        logging.getLogger("somelib").warning("library says %s", "hi")
    lines = path.read_text(encoding="utf-8").splitlines()
    prefixes = [line[:3] for line in lines]
    assert ["<7>", "<6>", "<4>", "<3>", "<3>", "<3>", "<4>"] == prefixes
    events = [json.loads(line[3:])["event"] for line in lines]
    assert ["d", "i", "w", "e", "c", "x", "library_log"] == events


def test_journald_console_lines_are_prefixed_line_by_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A console traceback spanning lines carries the priority on every line."""
    path = tmp_path / "journal"
    with path.open("w", encoding="utf-8") as stream:
        monkeypatch.setenv("JOURNAL_STREAM", journal_stream_of(path))
        configure_logging(fmt="console", stream=stream)
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            structlog.get_logger().exception("call_failed")
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line]
    assert len(lines) > 1
    assert all(line.startswith("<3>") for line in lines)


def test_no_priority_when_journal_stream_names_another_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JOURNAL_STREAM that is not our stream (a child of a service) adds no prefix."""
    other = tmp_path / "other"
    other.write_text("", encoding="utf-8")
    monkeypatch.setenv("JOURNAL_STREAM", journal_stream_of(other))
    path = tmp_path / "log"
    with path.open("w", encoding="utf-8") as stream:
        configure_logging(fmt="json", stream=stream)
        structlog.get_logger().warning("w")
    (line,) = path.read_text(encoding="utf-8").splitlines()
    assert "w" == json.loads(line)["event"]


def test_no_priority_without_journal_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside systemd (no JOURNAL_STREAM, or a garbled one) lines are plain JSON."""
    for value in (None, "garbage", "1:x"):
        if value is None:
            monkeypatch.delenv("JOURNAL_STREAM", raising=False)
        else:
            monkeypatch.setenv("JOURNAL_STREAM", value)
        out = io.StringIO()
        configure_logging(fmt="json", stream=out)
        structlog.get_logger().warning("w")
        assert out.getvalue().startswith("{"), value


def test_human_mode_writes_console_lines_in_a_pipe() -> None:
    """A human command's log events are console lines even when stderr is not a terminal."""
    err = io.StringIO()
    configure_logging(fmt="auto", level="info", stream=err, human=True)
    structlog.get_logger().warning("config_warning", message="path missing")
    text = err.getvalue()
    assert "config_warning" in text
    assert "path missing" in text
    assert not text.lstrip().startswith("{")


def test_human_mode_ignores_json_and_shows_warnings_only() -> None:
    """Human mode shows warnings and above, as console lines, even with format json, level debug."""
    err = io.StringIO()
    configure_logging(fmt="json", level="debug", stream=err, human=True)
    log = structlog.get_logger()
    log.debug("noise_debug")
    log.info("noise_info")
    log.error("upload_failed", path="/x/a.fit")
    logging.getLogger("httpx").info("HTTP Request: POST https://example.invalid")
    text = err.getvalue()
    assert "noise" not in text
    assert "HTTP Request" not in text
    assert "upload_failed" in text
    assert not text.lstrip().startswith("{")


def test_human_mode_still_masks_secrets() -> None:
    """Console lines in human mode go through the same redaction."""
    register_secret(ACCESS)
    err = io.StringIO()
    configure_logging(stream=err, human=True)
    structlog.get_logger().warning("odd", detail=f"token {ACCESS}", access_token="abc-secret-9")
    assert ACCESS not in err.getvalue()
    assert "abc-secret-9" not in err.getvalue()
