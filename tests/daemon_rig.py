"""The rig for proving the real daemon and commands: an emulator, a config, a state folder.

Used by integration/test_daemon_hostile.py (issue 10) and integration/test_daemon_owner.py
(issue 11). The daemon runs in a thread (:func:`running`) or as ``stravasync run`` in a
subprocess, optionally as the unprivileged user 65534 (root can read everything, so
permission problems only show for an ordinary user).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from emulator_rig import serving
from nobody import as_user

from stravasync.config.settings import Config, load_config
from stravasync.emulator import Emulator, Knobs
from stravasync.owner.attention import WATERMARK_KEY
from stravasync.service.daemon import Daemon
from stravasync.service.sdnotify import SystemdNotifier
from stravasync.state import Store
from stravasync.strava.tokens import Athlete, TokenSet, TokenStore
from stravasync.upload.polling import LEGACY_ESTIMATE_KEY

REPO = Path(__file__).resolve().parents[1]
FINAL = {"uploaded", "duplicate", "invalid", "rejected", "skipped"}
START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


@dataclass
class Rig:
    """An emulator, a signed-in state folder, a watch folder and a config naming them."""

    emulator: Emulator
    root: Path
    watch: Path
    state_dir: Path
    config_path: Path

    def write_config(self, *, paths: list[str] | None = None, extra: str = "",
                     max_age_days: int = 0, settle_seconds: float = 0.3) -> None:
        """Write the config file (``extra``: more TOML tables, appended)."""
        write_daemon_config(
            self.config_path, self.emulator,
            paths=paths if paths is not None else [str(self.watch)],
            state_dir=self.state_dir, extra=extra, max_age_days=max_age_days,
            settle_seconds=settle_seconds)

    def config(self) -> Config:
        """The configuration as the daemon reads it."""
        return load_config(self.config_path, env={"HOME": str(self.root)})

    def files(self) -> dict[str, str]:
        """Every path the store lists, with its state."""
        store = Store.open(self.state_dir, read_only=True)
        try:
            return {f.path: str(f.state) for f in store.files()}
        finally:
            store.close()

    def wait_final(self, count: int, timeout: float = 20.0) -> dict[str, str]:
        """Wait until ``count`` paths are listed and all are final."""
        files: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):  # the store may be busy or not made yet
                files = self.files()
            if len(files) >= count and all(state in FINAL for state in files.values()):
                return files
            time.sleep(0.1)
        raise AssertionError(f"not final after {timeout} s: {files}")

    def told(self, path: Path | str) -> bool:
        """Whether the daemon's follow-up round has looked at finished ``path`` (owner told)."""
        store = Store.open(self.state_dir, read_only=True)
        try:
            record = store.path_record(str(path))
            row = store.workout(record.sha256) if record and record.sha256 else None
            seen = store.get_meta(WATERMARK_KEY)
        finally:
            store.close()
        finished = row.finished_at if row is not None else None
        return finished is not None and seen is not None and float(seen) >= finished

    def wait_told(self, path: Path | str, timeout: float = 20.0) -> None:
        """Wait until a follow-up round has run since ``path`` finished (it tells the owner)."""
        wait_until(lambda: _quietly(lambda: self.told(path)), timeout,
                   f"a follow-up round after {path} finished")

    def uploads(self) -> int:
        """Upload POSTs the emulator accepted."""
        return len(self.emulator.inspect(requests=False)["uploads"])

    def command(self, *args: str, user: int | None = None, env: dict[str, str] | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``stravasync ARGS --config X`` in a subprocess (as ``user`` if given)."""
        return subprocess.run(
            [*as_user(user), sys.executable, "-m", "stravasync", *args,
             "--config", str(self.config_path)],
            capture_output=True, text=True, env=child_env(self.root, env), timeout=timeout,
            check=False,
        )

    def start(self, *, user: int | None = None, stderr: Any = subprocess.PIPE,
              env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """``stravasync run`` as the service runs it (JSON log lines on stderr)."""
        return subprocess.Popen(
            [*as_user(user), sys.executable, "-m", "stravasync", "--config",
             str(self.config_path), "run"],
            stdout=subprocess.DEVNULL, stderr=stderr, text=True,
            env=child_env(self.root, env),
        )


def child_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment for a child: HOME in the rig, no stravasync variables."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
           "LANG": "C.UTF-8"}
    return {**env, **(extra or {})}


def write_daemon_config(
    path: Path, emulator: Emulator, *, paths: list[str], state_dir: Path, extra: str = "",
    max_age_days: int = 0, settle_seconds: float = 0.3,
) -> Path:
    """Write a daemon config naming ``emulator``, ``paths`` and ``state_dir`` (0600)."""
    path.write_text(
        "[strava]\n"
        f'client_id = "{emulator.config.client_id}"\n'
        f'client_secret = "{emulator.config.client_secret}"\n'
        f'api_url = "{emulator.api_url}"\n'
        f'oauth_url = "{emulator.oauth_url}"\n'
        "[watch]\n"
        f"paths = {json.dumps(paths)}\n"
        f"settle_seconds = {settle_seconds}\n"
        f"max_age_days = {max_age_days}\n"
        "[state]\n"
        f"dir = {json.dumps(str(state_dir))}\n"
        "[log]\n"
        'format = "json"\n' + extra,
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


def seed_tokens(emulator: Emulator, state_dir: Path, *,
                scope: str = "read,activity:write", athlete: int | None = None) -> None:
    """Store a signed-in athlete's tokens with ``scope``, as `stravasync auth` would
    (``athlete``: one of the emulator's household, else its default athlete)."""
    body = emulator.issue_tokens(athlete_id=athlete, scope=scope)
    TokenStore(state_dir=state_dir).save_initial(TokenSet(
        access_token=body["access_token"], refresh_token=body["refresh_token"],
        expires_at=int(body["expires_at"]), scope=scope,
        athlete=Athlete(id=int(body["athlete"]["id"]))))


@contextlib.contextmanager
def make_rig(root: Path, **knobs: Any) -> Iterator[Rig]:
    """A running emulator (quick processing) and a signed-in rig under ``root``."""
    settings = {"processing_min_s": 0.1, "processing_max_s": 0.4, **knobs}
    with serving(client_id="4242", client_secret="rig-secret", seed=7,
                 knobs=Knobs(**settings)) as emulator:
        watch = root / "watch"
        watch.mkdir(parents=True, exist_ok=True)
        rig = Rig(emulator=emulator, root=root, watch=watch, state_dir=root / "state",
                  config_path=root / "config.toml")
        rig.write_config()
        seed_tokens(emulator, rig.state_dir)
        store = Store.open(rig.state_dir)
        store.set_meta(LEGACY_ESTIMATE_KEY, "1.0")  # first poll after 1 s, as if learned
        store.close()
        yield rig


@contextlib.contextmanager
def running(config: Config, **kwargs: Any) -> Iterator[Daemon]:
    """The real daemon in a thread (no signal handlers), stopped on leaving."""
    daemon = Daemon(config, install_signals=False, notifier=SystemdNotifier(env={}), **kwargs)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        assert daemon.wait_ready(10), "the daemon did not start"
        yield daemon
    finally:
        daemon.request_stop()
        thread.join(10)


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``check`` every 50 ms; the seconds it took. Fails after ``timeout``."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if check():
            return time.monotonic() - began
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout} s")


def wait_for_event(proc: subprocess.Popen[str], event: str, timeout: float = 20.0) -> None:
    """Read a daemon subprocess's JSON log (stderr) until ``event`` shows up."""
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        try:
            if json.loads(line).get("event") == event:
                return
        except json.JSONDecodeError:
            continue
    raise AssertionError(f"no {event} event from the daemon")


def _quietly(check: Callable[[], bool]) -> bool:
    """``check()``, or False while the store is busy or not made yet."""
    with contextlib.suppress(Exception):  # the store may be busy or not made yet
        return check()
    return False


def wait_for_log(logs: list[dict[str, Any]], event: str, timeout: float = 20.0,
                 **match: Any) -> dict[str, Any]:
    """Wait until ``capture_logs()`` has caught ``event`` (with ``match``); the event."""
    def found() -> dict[str, Any] | None:
        return next((e for e in list(logs) if e.get("event") == event
                     and all(e.get(k) == v for k, v in match.items())), None)
    wait_until(lambda: found() is not None, timeout, f"the {event} event")
    caught = found()
    assert caught is not None
    return caught


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON events in a log (other lines are skipped)."""
    events = []
    for line in text.splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            value = json.loads(line)
            if isinstance(value, dict):
                events.append(value)
    return events
