"""Issue 11, proven on the real daemon and commands: the owner always knows.

Folder health as an ordinary user (root reads everything, so these run as uid 65534
through setpriv), notices to an HTTP receiver and a command, a copy read half-written,
``retry`` taken up by a running daemon, journald priorities, ``run --once`` exit
statuses and ``status`` during a rate-limit pause.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from daemon_rig import START, Rig, json_lines, make_rig, running, wait_for_log, wait_until
from nobody import NOBODY, give_to_nobody, nobody_root
from processes import stop
from structlog.testing import capture_logs

from stravasync.demo.samples import sample_fit, sample_tcx

pytestmark = pytest.mark.integration


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """An emulator and a signed-in rig in tmp_path."""
    with make_rig(tmp_path) as r:
        yield r


@pytest.fixture
def nobody_rig() -> Iterator[Rig]:
    """A rig whose folders belong to uid 65534, in a folder that user can reach."""
    with nobody_root() as root, make_rig(root) as r:
        yield r


def workout(n: int, *, days_ago: float = 1.0) -> bytes:
    """A distinct valid FIT workout."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=days_ago, hours=n)
    return sample_fit(start=start)


def put(folder: Path, name: str, data: bytes) -> Path:
    """Write a file the way copy tools do (temporary name, then rename)."""
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / (name + ".part")
    part.write_bytes(data)
    part.rename(folder / name)
    return folder / name


class Receiver:
    """An ntfy-like HTTP receiver on 127.0.0.1 that keeps every POST."""

    def __init__(self) -> None:
        self.posts: list[dict[str, str]] = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append({"title": self.headers.get("Title", ""),
                                 "priority": self.headers.get("Priority", ""),
                                 "body": body.decode()})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stravasync"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local HTTP receiver for notices."""
    r = Receiver()
    yield r
    r.close()


def _text(path: Path) -> str:
    """A file's text, empty while it does not exist."""
    return path.read_text() if path.exists() else ""


def wait_status(rig: Rig, check: Any, what: str, timeout: float = 15.0) -> dict[str, Any]:
    """Ask ``status --json`` until ``check(status)`` holds; that status."""
    seen: list[dict[str, Any]] = []

    def asked() -> bool:
        seen[:] = [json.loads(rig.command("status", "--json").stdout)]
        return bool(check(seen[0]))

    wait_until(asked, timeout, what)
    return seen[0]


# -- folder health as an ordinary user --------------------------------------------------------


def test_unusable_folders_are_told_once_each_as_an_ordinary_user(
    nobody_rig: Rig, receiver: Receiver
) -> None:
    """A typo'd and a mode-000 folder: config warns, the log and notices say it once each."""
    rig = nobody_rig
    typo = rig.root / "Garmni" / "Activity"
    locked = rig.root / "locked"
    put(locked, "hidden.fit", workout(1))
    log_path, notices_log = rig.root / "daemon.log", rig.root / "notices.log"
    command = ["/bin/sh", "-c", 'echo "$STRAVASYNC_EVENT|$1" >> "$0"', str(notices_log)]
    rig.write_config(paths=[str(rig.watch), str(typo), str(locked)], extra=(
        f'[notify]\nurl = "{receiver.url}"\ncommand = {json.dumps(command)}\n'
        'on = ["problem", "recovered"]\n'))
    give_to_nobody(rig.root)
    locked.chmod(0)

    config = rig.command("config", user=NOBODY)
    assert 0 == config.returncode, config.stderr
    warnings = [line for line in config.stderr.splitlines() if "warning" in line]
    assert 2 == len(warnings), config.stderr
    assert any(str(typo) in w and "missing" in w for w in warnings)
    assert any(str(locked) in w and "unreadable" in w and "permission denied" in w
               for w in warnings)

    with open(log_path, "w") as log_file:
        proc = rig.start(user=NOBODY, stderr=log_file)
        try:
            put(rig.watch, "good.fit", workout(2))
            rig.wait_final(1)
            status = json.loads(rig.command("status", "--json", user=NOBODY).stdout)
            table = rig.command("status", user=NOBODY).stdout
            print(f"\nstatus with a typo'd and an unreadable folder:\n{table}")
            typo.mkdir(parents=True)
            put(typo, "late.fit", workout(3))
            give_to_nobody(rig.root / "Garmni")
            took = wait_until(lambda: rig.files().get(str(typo / "late.fit")) == "uploaded",
                              15, "the folder that appeared is used")
            # Both channels have told the recovery, and a follow-up round has run since
            # (it told late.fit): a repeated notice would have gone out by now.
            wait_until(lambda: "recovered|" in _text(notices_log)
                       and any(p["priority"] != "high" for p in receiver.posts),
                       15, "the recovery told on both channels")
            rig.wait_told(typo / "late.fit")
        finally:
            stop(proc)
    log = json_lines(log_path.read_text())

    assert {"running": True, "pid": proc.pid} == {k: status["daemon"][k]
                                                  for k in ("running", "pid")}
    watch = {w["path"]: (w["state"], w["mode"]) for w in status["watch"]}
    assert {str(rig.watch): ("ok", "events"), str(typo): ("missing", "events"),
            str(locked): ("unreadable", "events")} == watch
    assert "watching 3 folders" in table.splitlines()[0]
    assert took < 5
    unusable = [e["path"] for e in log if e.get("event") == "watch_path_unusable"]
    assert sorted([str(typo), str(locked)]) == sorted(unusable)
    problems = [p["body"] for p in receiver.posts if p["priority"] == "high"]
    assert 2 == len(problems), receiver.posts
    assert 1 == sum(str(typo) in p for p in problems)
    assert 1 == sum(str(locked) in p for p in problems)
    told = notices_log.read_text().splitlines()
    assert 2 == sum(line.startswith("problem|") for line in told), told
    assert 1 == sum(line.startswith("recovered|") and str(typo) in line for line in told)


def test_a_folder_forced_to_polling_is_polled_and_shown(rig: Rig) -> None:
    """A folder without change events is polled: its file is uploaded, status shows `polling`."""
    text = rig.config_path.read_text().replace("max_age_days = 0\n",
                                               "max_age_days = 0\npoll_interval = 1\n")
    rig.config_path.write_text(text)
    with running(rig.config(), force_polling=[rig.watch]):
        put(rig.watch, "polled.fit", workout(4))
        rig.wait_final(1, timeout=15)
        status = json.loads(rig.command("status", "--json").stdout)
    assert [(str(rig.watch), "ok", "polling")] == [
        (w["path"], w["state"], w["mode"]) for w in status["watch"]]


# -- what status shows -----------------------------------------------------------------------


def test_a_copy_read_half_written_leaves_one_row_and_no_stale_problem(rig: Rig) -> None:
    """A TCX copied with a pause longer than settle_seconds: one row, uploaded, no problem."""
    data = sample_tcx(start=START)
    target = rig.watch / "slow.tcx"
    with capture_logs() as logs, running(rig.config()):
        with target.open("wb") as out:
            out.write(data[: len(data) // 2])
            out.flush()
            wait_for_log(logs, "file_cut_short", path=str(target))  # the half: read, pending
            out.write(data[len(data) // 2:])
        wait_until(lambda: rig.files().get(str(target)) == "uploaded", 15, "the whole copy")
        rig.wait_told(target)  # the daemon's follow-up round has run
        status = json.loads(rig.command("status", "--json").stdout)
        table = rig.command("status").stdout
    assert [("uploaded", str(target))] == [(f["state"], f["path"]) for f in status["files"]]
    assert "slow.tcx" not in table.split("Files:")[0], table  # not among "Needs you"
    assert "Recent problems" not in table, table
    assert "problem" not in table.splitlines()[0]


def test_status_while_paused_by_the_rate_limit(rig: Rig) -> None:
    """Budget spent: paused_until is set, no waiting file is due in the past, the headline says so."""
    rig.emulator.set_usage(usage_15=199)
    with running(rig.config()):
        put(rig.watch, "spends-the-last.fit", workout(5))
        wait_until(lambda: "uploading" in rig.files().values(), 15, "the last call of the window")
        for n in range(2):
            put(rig.watch, f"waits{n}.fit", workout(6 + n))
        wait_until(lambda: len(rig.files()) == 3, 10, "the waiting files are queued")
        status = wait_status(rig, lambda s: s["rate_limit"]["paused_until"] is not None,
                             "the pause shown")
        table = rig.command("status").stdout
        print(f"\nstatus during a rate-limit pause:\n{table}")
    now = time.time()
    paused = status["rate_limit"]["paused_until"]
    assert paused is not None
    assert paused > now
    assert ["queued", "queued", "uploading"] == sorted(f["state"] for f in status["files"])
    assert all(f["next_attempt_at"] >= paused for f in status["files"])
    headline = table.splitlines()[0]
    assert "3 of 3 files waiting, paused until" in headline
    assert "Uploads paused until" in table


# -- retry, journald, run --once, --config after the command ---------------------------------


def test_retry_of_a_skipped_file_is_uploaded_by_the_running_daemon(rig: Rig) -> None:
    """Skipped as too old; max_age_days raised; `retry FILE`: uploaded within seconds, no signal."""
    rig.write_config(max_age_days=5)
    with running(rig.config()):
        old = put(rig.watch, "old.fit", workout(0, days_ago=10))
        rig.wait_final(1)
    assert {str(old): "skipped"} == rig.files()
    rig.write_config(max_age_days=30)  # the owner raises it and restarts the service
    with capture_logs() as logs, running(rig.config()):
        wait_for_log(logs, "scan_done")
        assert {str(old): "skipped"} == rig.files()  # known, not read again by the scan
        result = rig.command("retry", str(old))
        asked = time.monotonic()
        wait_until(lambda: rig.files() == {str(old): "uploaded"}, 10, "the retried file")
        took = time.monotonic() - asked
    assert 0 == result.returncode, result.stderr
    assert f"queued again: {old}" in result.stdout
    assert took < 8
    assert 1 == rig.uploads()


def test_journald_gets_a_priority_on_every_line(rig: Rig) -> None:
    """With JOURNAL_STREAM naming its stderr file, each line starts <N> and stays JSON."""
    missing = rig.root / "not-plugged-in"
    rig.write_config(paths=[str(rig.watch), str(missing)])
    log_path = rig.root / "journal.log"
    with open(log_path, "w") as log_file:
        st = os.fstat(log_file.fileno())
        proc = rig.start(stderr=log_file, env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
        try:
            put(rig.watch, "a.fit", workout(8))
            rig.wait_final(1)
        finally:
            stop(proc)
    lines = log_path.read_text().splitlines()
    priorities = {"<3>": "error", "<4>": "warning", "<6>": "info", "<7>": "debug"}
    assert lines
    for line in lines:
        prefix, rest = line[:3], line[3:]
        assert prefix in priorities, line
        assert priorities[prefix] == json.loads(rest)["level"], line
    assert any(line.startswith("<4>") and "watch_path_unusable" in line for line in lines)


def test_run_once_exits_75_while_a_file_is_unreadable(nobody_rig: Rig) -> None:
    """An unreadable file is left pending with its reason (exit 75); readable again: exit 0."""
    rig = nobody_rig
    put(rig.watch, "good.fit", workout(9))
    locked = put(rig.watch, "locked.fit", workout(10))
    give_to_nobody(rig.root)
    locked.chmod(0)
    first = rig.command("run", "--once", user=NOBODY)
    files = {f["path"]: f for f in json.loads(
        rig.command("status", "--json", user=NOBODY).stdout)["files"]}
    locked.chmod(0o644)
    second = rig.command("run", "--once", user=NOBODY)
    assert 75 == first.returncode, first.stderr
    assert "uploaded" == files[str(rig.watch / "good.fit")]["state"]
    assert ("pending", "Permission denied") == (files[str(locked)]["state"],
                                                files[str(locked)]["error"])
    assert 0 == second.returncode, second.stderr
    assert {"uploaded"} == set(rig.files().values())


def test_config_after_the_command_is_accepted(rig: Rig) -> None:
    """`stravasync status --config X` and `config --config X` work as before the command."""
    for args in (("status",), ("status", "--json"), ("config",)):
        result = rig.command(*args)
        assert 0 == result.returncode, (args, result.stderr)
    assert str(rig.config_path) in rig.command("config").stdout


def test_zwift_in_progress_file_is_never_read(rig: Rig) -> None:
    """inProgressActivity.fit (rewritten all ride long, each save a whole FIT) is never read."""
    rig.write_config()
    zwift_mid_ride = put(rig.watch, "inProgressActivity.fit", workout(5))
    with capture_logs() as logs, running(rig.config()):
        zwift_mid_ride.write_bytes(workout(7))  # the next save, mid-ride
        # Written after that save: once it is final, the save's events were handled too.
        put(rig.watch, "2026-11-29-18-04-12.fit", workout(6))
        rig.wait_final(1)
    assert {str(rig.watch / "2026-11-29-18-04-12.fit"): "uploaded"} == rig.files()
    assert 1 == rig.uploads()
    assert not [e for e in logs if "inProgressActivity" in str(e.get("path", ""))]
    once = rig.command("run", "--once")
    assert 0 == once.returncode, once.stderr
    assert 1 == len(rig.files())
