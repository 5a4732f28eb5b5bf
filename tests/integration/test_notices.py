"""Tests for stravasync.owner.notices against a receiver on loopback and a real command: one
notice per cause, never in the way."""

from __future__ import annotations

import email.header
import json
import socket
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from notices_rig import SETTLE
from structlog.testing import capture_logs

from stravasync.logs import register_secret
from stravasync.owner import notices as notices_module
from stravasync.owner.notices import (
    Notices,
)

TOKEN = "5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f"


@dataclass
class Received:
    """One POST the receiver got."""

    path: str
    title: str | None
    priority: str | None
    body: str


@dataclass
class Receiver:
    """A local ntfy stand-in on 127.0.0.1: records each POST, answers *status*."""

    status: int = 200
    hang: bool = False
    requests: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def titles(self) -> list[str | None]:
        return [r.title for r in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running receiver; its URL is ``receiver.url``."""
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode("utf-8")
            rec.requests.append(
                Received(self.path, self.headers.get("Title"), self.headers.get("Priority"), body)
            )
            if rec.hang:
                rec.release.wait(SETTLE)
            self.send_response(rec.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/stravasync"
    yield rec
    rec.release.set()
    server.shutdown()
    server.server_close()
    thread.join(SETTLE)




def recorder_command(tmp_path: Path, *, exit_status: int = 0, sleep: float = 0.0) -> tuple[str, ...]:
    """A command that appends its argv and the notice environment to tmp_path/calls.jsonl."""
    script = tmp_path / "record.py"
    script.write_text(
        "import json, os, sys, time\n"
        f"with open({str(tmp_path / 'calls.jsonl')!r}, 'a') as f:\n"
        "    f.write(json.dumps({'argv': sys.argv[1:],\n"
        "        'message': os.environ.get('STRAVASYNC_MESSAGE'),\n"
        "        'event': os.environ.get('STRAVASYNC_EVENT')}) + '\\n')\n"
        f"time.sleep({sleep})\n"  # kept: a hanging command, where a test asks for one
        f"sys.exit({exit_status})\n",
        encoding="utf-8",
    )
    return (sys.executable, str(script), "stravasync")


def calls(tmp_path: Path) -> list[dict[str, object]]:
    path = tmp_path / "calls.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_one_post_per_problem_cause(receiver: Receiver, make_notices: Callable[..., Notices]) -> None:
    """Each problem cause is POSTed once, with Title and a high Priority, however often it recurs."""
    notices = make_notices(url=receiver.url)
    for _ in range(3):
        notices.problem("folder:/data/Garmin", "Folder /data/Garmin cannot be read: permission denied.")
        notices.problem("auth:signed_out", "Signed out of Strava: run `stravasync auth`.",
                        title="Sign in again")
    assert notices.flush(SETTLE)
    assert [
        ("/stravasync", "stravasync: needs you", "high",
         "Folder /data/Garmin cannot be read: permission denied."),
        ("/stravasync", "stravasync: Sign in again", "high",
         "Signed out of Strava: run `stravasync auth`."),
    ] == [(r.path, r.title, r.priority, r.body) for r in receiver.requests]


def test_command_runs_once_per_cause(tmp_path: Path, make_notices: Callable[..., Notices]) -> None:
    """The command gets the message as its last argument and in the environment, once per cause."""
    notices = make_notices(command=recorder_command(tmp_path))
    notices.problem("file:abc", "a.fit was refused by Strava: bad data.")
    notices.problem("file:abc", "a.fit was refused by Strava: bad data.")
    notices.uploaded("file:def", "Morning Ride uploaded: https://www.strava.com/activities/7")
    notices.uploaded("file:def", "Morning Ride uploaded: https://www.strava.com/activities/7")
    assert notices.flush(SETTLE)
    assert [
        {"argv": ["stravasync", "a.fit was refused by Strava: bad data."],
         "message": "a.fit was refused by Strava: bad data.", "event": "problem"},
        {"argv": ["stravasync", "Morning Ride uploaded: https://www.strava.com/activities/7"],
         "message": "Morning Ride uploaded: https://www.strava.com/activities/7",
         "event": "uploaded"},
    ] == calls(tmp_path)


def test_a_restart_does_not_repeat_a_problem(
    receiver: Receiver, make_notices: Callable[..., Notices]
) -> None:
    """A new Notices on the same state file stays quiet about a problem already told."""
    first = make_notices(url=receiver.url)
    first.problem("folder:/data/Garmin", "missing")
    first.close(SETTLE)
    second = make_notices(url=receiver.url)
    second.problem("folder:/data/Garmin", "missing")
    second.problem("folder:/data/Zwift", "missing too")
    assert second.flush(SETTLE)
    assert ["missing", "missing too"] == [r.body for r in receiver.requests]


def test_recovered_clears_a_cause(receiver: Receiver, make_notices: Callable[..., Notices]) -> None:
    """After a recovery the same problem is told again; a recovery of no problem tells nothing."""
    notices = make_notices(url=receiver.url)
    notices.recovered("folder:/data/Garmin", "never broken")
    notices.problem("folder:/data/Garmin", "gone")
    notices.recovered("folder:/data/Garmin", "back")
    notices.recovered("folder:/data/Garmin", "back again")
    notices.problem("folder:/data/Garmin", "gone again")
    assert notices.flush(SETTLE)
    assert [("gone", "high"), ("back", "default"), ("gone again", "high")] == [
        (r.body, r.priority) for r in receiver.requests
    ]


def test_recovery_after_a_restart_is_told(
    receiver: Receiver, make_notices: Callable[..., Notices]
) -> None:
    """A problem told before a restart is recovered (and told so) after it."""
    before = make_notices(url=receiver.url)
    before.problem("auth:signed_out", "signed out")
    before.close(SETTLE)
    after = make_notices(url=receiver.url)
    after.recovered("auth:signed_out", "signed in again")
    assert after.flush(SETTLE)
    assert ["signed out", "signed in again"] == [r.body for r in receiver.requests]


def test_only_the_kinds_asked_for_are_sent(
    receiver: Receiver, make_notices: Callable[..., Notices]
) -> None:
    """With on = ["problem"] no recovery or upload is sent, yet a recovery still clears the cause."""
    notices = make_notices(url=receiver.url, on={"problem"})
    notices.problem("auth:app_inactive", "inactive")
    notices.recovered("auth:app_inactive", "active")
    notices.uploaded("file:abc", "uploaded")
    notices.problem("auth:app_inactive", "inactive again")
    assert notices.flush(SETTLE)
    assert ["inactive", "inactive again"] == [r.body for r in receiver.requests]


def test_state_file_is_private_json(tmp_path: Path, make_notices: Callable[..., Notices]) -> None:
    """What was told is kept in a 0600 JSON file in the state dir."""
    path = tmp_path / "state" / "notices.json"
    notices = make_notices(command=recorder_command(tmp_path), state_path=path)
    notices.problem("folder:/data/Garmin", "missing")
    assert notices.flush(SETTLE)
    assert 0o600 == stat.S_IMODE(path.stat().st_mode)
    assert ["folder:/data/Garmin"] == list(json.loads(path.read_text(encoding="utf-8"))["problems"])


def test_secrets_never_leave(
    tmp_path: Path, receiver: Receiver, make_notices: Callable[..., Notices]
) -> None:
    """A token inside a message is masked in the POST body and the command's argument."""
    register_secret(TOKEN)
    notices = make_notices(url=receiver.url, command=recorder_command(tmp_path))
    notices.problem("auth:signed_out", f"refresh failed for {TOKEN}\nBearer abcdefghijkl")
    assert notices.flush(SETTLE)
    sent = [r.body for r in receiver.requests] + [json.dumps(c) for c in calls(tmp_path)]
    assert 2 == len(sent)
    for text in sent:
        assert TOKEN not in text
        assert "abcdefghijkl" not in text
    assert "\n" not in receiver.requests[0].body


def test_non_ascii_title_reaches_the_receiver(
    receiver: Receiver, make_notices: Callable[..., Notices]
) -> None:
    """A title with non-ASCII text is sent RFC 2047-encoded and reads back intact."""
    notices = make_notices(url=receiver.url)
    notices.problem("folder:/data/Läufe", "Ordner fehlt", title="Läufe missing")
    assert notices.flush(SETTLE)
    (request,) = receiver.requests
    assert request.title is not None
    decoded = "".join(
        part.decode(charset or "ascii") if isinstance(part, bytes) else part
        for part, charset in email.header.decode_header(request.title)
    )
    assert "stravasync: Läufe missing" == decoded


def test_failing_receiver_and_command_are_logged_at_debug(
    tmp_path: Path, receiver: Receiver, make_notices: Callable[..., Notices]
) -> None:
    """A 500, a refused connection and a failing command are debug lines, never exceptions."""
    receiver.status = 500
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    failing = make_notices(url=receiver.url,
                           command=recorder_command(tmp_path, exit_status=3),
                           state_path=tmp_path / "a.json")
    refused = make_notices(url=f"http://127.0.0.1:{closed_port}/x",
                           command=(str(tmp_path / "no-such-command"),),
                           state_path=tmp_path / "b.json")
    with capture_logs() as logs:
        failing.problem("auth:signed_out", "signed out")
        refused.problem("auth:signed_out", "signed out")
        assert failing.flush(SETTLE)
        assert refused.flush(SETTLE)
    failures = sorted(
        (entry["via"], entry["log_level"]) for entry in logs if entry["event"] == "notice_failed"
    )
    assert [("command", "debug"), ("command", "debug"), ("http", "debug"), ("http", "debug")] == failures
    assert 1 == len(calls(tmp_path))


def test_a_hanging_receiver_and_command_do_not_block_the_caller(
    tmp_path: Path,
    receiver: Receiver,
    make_notices: Callable[..., Notices],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The caller returns at once while a notice hangs; the notice is given up after its timeout."""
    monkeypatch.setattr(notices_module, "HTTP_TIMEOUT", 0.5)
    monkeypatch.setattr(notices_module, "COMMAND_TIMEOUT", 0.5)
    receiver.hang = True
    notices = make_notices(url=receiver.url, command=recorder_command(tmp_path, sleep=30))
    started = time.monotonic()
    for n in range(3):
        notices.problem(f"file:{n}", "refused")
    assert time.monotonic() - started < 2.0
    with capture_logs() as logs:
        assert notices.flush(SETTLE * 3)
    assert {"http", "command"} == {e["via"] for e in logs if e["event"] == "notice_failed"}


def test_unwritable_state_still_sends(
    tmp_path: Path, receiver: Receiver, make_notices: Callable[..., Notices]
) -> None:
    """When the state dir cannot be written the notice still goes out (it may be the problem)."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("", encoding="utf-8")
    notices = make_notices(url=receiver.url, state_path=blocker / "notices.json")
    with capture_logs() as logs:
        notices.problem("state:unwritable", "state dir cannot be written")
        assert notices.flush(SETTLE)
    assert ["state dir cannot be written"] == [r.body for r in receiver.requests]
    assert ["notice_ledger_not_written"] == [
        e["event"] for e in logs if e["log_level"] != "info"
    ]


def test_damaged_state_file_starts_afresh(
    tmp_path: Path, receiver: Receiver, make_notices: Callable[..., Notices]
) -> None:
    """A damaged notices file is read as empty: at worst a notice is told once more."""
    path = tmp_path / "state" / "notices.json"
    path.parent.mkdir()
    path.write_text("{not json", encoding="utf-8")
    notices = make_notices(url=receiver.url, state_path=path)
    notices.problem("auth:signed_out", "signed out")
    assert notices.flush(SETTLE)
    assert ["signed out"] == [r.body for r in receiver.requests]


def test_a_sent_notice_is_logged_once(
    receiver: Receiver, make_notices: Callable[..., Notices]
) -> None:
    """A sent notice is logged by kind and cause, once."""
    notices = make_notices(url=receiver.url)
    with capture_logs() as logs:
        notices.problem("auth:signed_out", "signed out")
        assert notices.flush(SETTLE)
    assert [{"event": "notice_sent", "via": "http", "kind": "problem", "cause": "auth:signed_out",
             "log_level": "info"}] == [e for e in logs if e["event"] == "notice_sent"]
