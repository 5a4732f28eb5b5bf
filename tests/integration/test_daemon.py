"""Integration tests for stravasync.service.daemon: the real watcher, engine and client on loopback."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from daemon_rig import FINAL, START, seed_tokens, wait_for_event, write_daemon_config
from emulator_rig import serving
from processes import stop

from stravasync.config.settings import Config, config_from_dict
from stravasync.demo.samples import sample_fit, sample_gpx, sample_tcx
from stravasync.emulator import Emulator, Knobs
from stravasync.errors import AlreadyRunning
from stravasync.service.daemon import Daemon
from stravasync.service.sdnotify import SystemdNotifier
from stravasync.state import Store
from stravasync.state.runlock import DaemonLock
from stravasync.strava.tokens import TokenStore
from stravasync.upload.polling import LEGACY_ESTIMATE_KEY as ESTIMATE_KEY

pytestmark = pytest.mark.integration



@dataclass
class Live:
    """An emulator, a signed-in state folder and a config that points at both."""

    emulator: Emulator
    root: Path
    watch: Path
    config: Config
    config_path: Path

    def write_config(self, **watch: object) -> None:
        paths = watch.get("paths", [str(self.watch)])
        assert isinstance(paths, list)
        write_daemon_config(self.config_path, self.emulator, paths=paths,
                            state_dir=self.root / "state")

    def files(self) -> dict[str, str]:
        store = Store.open(self.config.state_dir, read_only=True)
        try:
            return {f.path: str(f.state) for f in store.files()}
        finally:
            store.close()

    def wait_final(self, count: int, timeout: float = 20.0) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        files: dict[str, str] = {}
        while time.monotonic() < deadline:
            try:
                files = self.files()
            except Exception:
                files = {}
            if len(files) >= count and all(state in FINAL for state in files.values()):
                return files
            time.sleep(0.1)
        raise AssertionError(f"not final after {timeout} s: {files}")

    def activities(self) -> int:
        return len(self.emulator.inspect(requests=False)["activities"])


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    """A running emulator with fast processing and tokens stored for its athlete."""
    knobs = Knobs(processing_min_s=0.2, processing_max_s=0.6)
    with serving(client_id="4242", client_secret="daemon-test-secret", seed=11,
                 knobs=knobs) as emulator:
        watch = tmp_path / "watch"
        watch.mkdir()
        live = Live(emulator=emulator, root=tmp_path, watch=watch, config=None,  # type: ignore[arg-type]
                    config_path=tmp_path / "config.toml")
        live.write_config()
        import tomllib

        live.config = config_from_dict(
            tomllib.loads(live.config_path.read_text()), env={}, source=live.config_path
        )
        seed_tokens(emulator, live.config.state_dir)
        # As if learned: the emulator processes within 0.6 s, so the first poll comes after
        # 1 s (the learned minimum) instead of the 3 s a fresh install assumes.
        store = Store.open(live.config.state_dir)
        store.set_meta(ESTIMATE_KEY, "1.0")
        store.close()
        yield live


def drop(folder: Path, name: str, data: bytes) -> Path:
    """Copy a file in the way most tools do: a temporary name, then a rename."""
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / (name + ".part")
    part.write_bytes(data)
    final = folder / name
    part.rename(final)
    return final


@pytest.fixture
def daemon_thread(live: Live) -> Iterator[Callable[[], Daemon]]:
    """Starts a Daemon in a thread (no signal handlers); stops it at the end."""
    started: list[tuple[Daemon, threading.Thread]] = []

    def start() -> Daemon:
        daemon = Daemon(live.config, install_signals=False, notifier=SystemdNotifier(env={}))
        thread = threading.Thread(target=daemon.run, daemon=True)
        thread.start()
        assert daemon.wait_ready(10)
        started.append((daemon, thread))
        return daemon

    yield start
    for daemon, thread in started:
        daemon.request_stop()
        thread.join(10)


def test_dropped_files_become_activities(live: Live, daemon_thread: Callable[[], Daemon]) -> None:
    """Files dropped into the watched folder end as activities, once each."""
    daemon_thread()
    drop(live.watch, "run.fit", sample_fit(start=START))
    drop(live.watch / "sub", "ride.gpx", sample_gpx(start=START + timedelta(hours=2), sport="ride"))
    files = live.wait_final(2)
    assert {"uploaded"} == set(files.values())
    assert 2 == live.activities()


def test_slow_copy_is_uploaded_once_and_whole(live: Live, daemon_thread: Callable[[], Daemon]) -> None:
    """A file written in pieces is uploaded once, after it is whole."""
    daemon_thread()
    data = sample_tcx(start=START)
    target = live.watch / "slow.tcx"
    with target.open("wb") as out:
        for i in range(0, len(data), len(data) // 5 + 1):
            out.write(data[i : i + len(data) // 5 + 1])
            out.flush()
            time.sleep(0.1)  # kept: a writer pausing mid-copy is what this test is about
    files = live.wait_final(1)
    assert {str(target): "uploaded"} == files
    uploads = live.emulator.inspect(requests=False)["uploads"]
    assert 1 == len(uploads)


def test_files_added_while_down_are_found_at_start(
    live: Live, daemon_thread: Callable[[], Daemon]
) -> None:
    """Files that arrived while the daemon was not running are uploaded at start."""
    drop(live.watch, "a.fit", sample_fit(start=START))
    drop(live.watch, "b.fit", sample_fit(start=START + timedelta(hours=3)))
    daemon_thread()
    assert {"uploaded"} == set(live.wait_final(2).values())


def test_copy_under_another_name_is_not_sent_again(
    live: Live, daemon_thread: Callable[[], Daemon]
) -> None:
    """The same content under a second name is a duplicate, not a second upload."""
    daemon_thread()
    data = sample_fit(start=START)
    drop(live.watch, "first.fit", data)
    live.wait_final(1)
    drop(live.watch, "again.fit", data)
    files = live.wait_final(2)
    assert ["duplicate", "uploaded"] == sorted(files.values())
    assert 1 == len(live.emulator.inspect(requests=False)["uploads"])


def test_one_daemon_per_state_dir(live: Live) -> None:
    """A second daemon on the same state folder is refused with a clear message."""
    first = DaemonLock(live.config.state_dir)
    first.acquire()
    try:
        with pytest.raises(AlreadyRunning, match="already running"):
            DaemonLock(live.config.state_dir).acquire()
    finally:
        first.release()
    again = DaemonLock(live.config.state_dir)
    again.acquire()
    again.release()


def start_process(live: Live, *extra: str) -> subprocess.Popen[str]:
    """`stravasync run` as the service runs it, logging JSON lines to stderr."""
    return subprocess.Popen(
        [sys.executable, "-m", "stravasync", "--config", str(live.config_path), "run", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_sigterm_exits_zero_within_five_seconds(live: Live) -> None:
    """SIGTERM stops the daemon cleanly with status 0 in under 5 s."""
    proc = start_process(live)
    try:
        wait_for_event(proc, "daemon_started")
        drop(live.watch, "run.fit", sample_fit(start=START))
        wait_for_event(proc, "upload_started")  # SIGTERM arrives with an upload under way
        began = time.monotonic()
        status = stop(proc)
        assert 0 == status
        assert time.monotonic() - began < 5.0
    finally:
        stop(proc, signal.SIGKILL)


def test_second_run_exits_with_a_clear_message(live: Live) -> None:
    """`stravasync run` while another runs says so on one line and exits 1."""
    proc = start_process(live)
    try:
        wait_for_event(proc, "daemon_started")
        second = subprocess.run(
            [sys.executable, "-m", "stravasync", "--config", str(live.config_path), "run"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert 1 == second.returncode
        assert "already running" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        stop(proc)


def test_sighup_reloads_the_configuration(live: Live) -> None:
    """After SIGHUP a folder added to the config is watched."""
    proc = start_process(live)
    try:
        wait_for_event(proc, "daemon_started")
        extra = live.root / "extra"
        extra.mkdir()
        live.write_config(paths=[str(live.watch), str(extra)])
        proc.send_signal(signal.SIGHUP)
        wait_for_event(proc, "config_reloaded")
        drop(extra, "late.fit", sample_fit(start=START))
        assert {"uploaded"} == set(live.wait_final(1).values())
    finally:
        stop(proc)


def test_sigkill_at_random_moments_still_uploads_each_file_once(live: Live) -> None:
    """Killed with SIGKILL again and again, the daemon still makes one activity per workout."""
    live.emulator.set_knobs(processing_min_s=0.3, processing_max_s=1.5)
    workouts = 6
    rng = random.Random(5)
    for i in range(workouts):
        drop(live.watch, f"w{i}.fit", sample_fit(start=START + timedelta(hours=i)))
    # Kill right after the POST went out, right after Strava answered it, right after a
    # result was recorded, and at a random moment: every gap between a write and its
    # effect gets hit at least once.
    for moment in ("upload_started", "upload_created", "upload_done", None):
        proc = start_process(live)
        if moment is None:
            time.sleep(rng.uniform(0.5, 1.5))  # kept: a random moment is the point here
        else:
            wait_for_event(proc, moment)
        stop(proc, signal.SIGKILL)
    proc = start_process(live)
    try:
        files = live.wait_final(workouts, timeout=40)
    finally:
        stop(proc)
    assert {"uploaded"} == set(files.values())
    assert workouts == live.activities()


class _SignalMidLine:
    """A log stream that raises a signal in this process while a log line is being written."""

    def __init__(self, signum: int, *, after: str, then: Callable[[], None]) -> None:
        self.signum, self.after, self.then = signum, after, then
        self.lines: list[str] = []
        self.sent = False

    def write(self, text: str) -> int:
        self.lines.append(text)
        if not self.sent and self.after in text:
            self.sent = True
            os.kill(os.getpid(), self.signum)  # its handler runs before this write returns
            self.then()
        return len(text)

    def flush(self) -> None:
        return None

    def isatty(self) -> bool:
        return False


@pytest.mark.timeout(60)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_while_a_log_line_is_written_does_not_hang(live: Live, signum: int) -> None:
    """A signal that lands while the main thread writes a log line is still obeyed, no deadlock."""
    from stravasync.logs import configure_logging

    daemon = Daemon(live.config, install_signals=True, notifier=SystemdNotifier(env={}))
    stream = _SignalMidLine(signum, after="daemon_started", then=daemon.request_stop)
    configure_logging(fmt="json", stream=stream)  # type: ignore[arg-type]
    assert 0 == daemon.run()
    received = [json.loads(line) for line in stream.lines if "signal_received" in line]
    assert [signal.Signals(signum).name] == [event["signal"] for event in received]


def test_token_refresh_job_halts_once_and_resumes_after_sign_in(
    live: Live, daemon_thread: Callable[[], Daemon]
) -> None:
    """No sign-in: calls stop from the start, the refresh job adds no noise; `auth` resumes."""
    from structlog.testing import capture_logs

    from stravasync.errors import NotSignedIn

    TokenStore(state_dir=live.config.state_dir).delete()
    daemon = daemon_thread()
    house = daemon.household
    assert house is not None
    engine = house.router.engine
    assert isinstance(engine.fatal, NotSignedIn)
    with capture_logs() as logs:
        daemon._refresh_tokens()
        daemon._refresh_tokens()
    assert isinstance(engine.fatal, NotSignedIn)
    assert 0 == sum(1 for e in logs if e["event"] == "engine_fatal")
    assert [] == [e for e in logs if e["event"] == "token_refresh_deferred"]
    seed_tokens(live.emulator, live.config.state_dir)  # `stravasync auth`
    daemon._resume()
    assert engine.fatal is None
