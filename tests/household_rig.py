"""The rig for several accounts: a household config and real account folders in tmp.

jane and bob are Strava athletes on one app, jane-icu sends jane's folder to
intervals.icu. Each account's folder is the one ``state.accounts.account_folders``
gives (jane owns the state folder itself). (No tests here.)

:class:`House` (:func:`write_house`) is the live household for the exactly-once proofs
(integration/test_household_chaos.py, integration/test_household_daemon.py): the
emulator's athletes signed in in their own folders, workouts dropped into watched
folders, and ``stravasync run`` as the service runs it, its JSON log on stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from click.testing import CliRunner, Result
from daemon_rig import FINAL, child_env, seed_tokens
from fixtures import fit_bytes
from processes import reaped, stop
from strava_rig import ACCESS, REFRESH

from stravasync.cli.context import CliContext
from stravasync.config.accounts import key_variable
from stravasync.config.settings import Config, load_config
from stravasync.emulator import Emulator
from stravasync.fsutil import ensure_private_dir
from stravasync.stack import account_folders_of
from stravasync.state import FileFacts, State, Store
from stravasync.state.accounts import (
    AccountRecord,
    account_folders,
    pin_athlete,
    write_record,
)
from stravasync.strava.tokens import Athlete, TokenSet, TokenStore
from stravasync.upload.polling import LEGACY_ESTIMATE_KEY
from stravasync.validate.result import Facts

__all__ = [
    "DAY0",
    "ICU_KEY",
    "MOMENTS",
    "NOW",
    "House",
    "Household",
    "Tail",
    "faults_met",
    "household",
    "kill_rounds",
    "settle",
    "starts_of",
    "write_house",
]

NOW = 1_800_000_000.0
ICU_KEY = "icu-secret-key-0123456789abcdef"
"""jane-icu's intervals.icu key: it must never show."""
_OWNER = "rig:1"


class Household:
    """The config, each account's folder, and one-line ways to fill them."""

    def __init__(self, tmp_path: Path) -> None:
        self.jane_dir = tmp_path / "jane"
        self.bob_dir = tmp_path / "bob"
        for folder in (self.jane_dir, self.bob_dir):
            folder.mkdir()
        key_file = tmp_path / "intervals-jane.key"
        key_file.write_text(ICU_KEY + "\n")
        key_file.chmod(0o600)
        self.config_path = tmp_path / "config.toml"
        self.config_path.write_text(
            '[strava]\nclient_id = "1"\nclient_secret = "s"\n'
            f'[state]\ndir = "{tmp_path / "state"}"\n'
            f'[[accounts]]\nname = "jane"\npaths = ["{self.jane_dir}"]\n'
            f'[[accounts]]\nname = "bob"\npaths = ["{self.bob_dir}"]\n'
            '[[accounts]]\nname = "jane-icu"\nservice = "intervals"\n'
            f'paths = ["{self.jane_dir}"]\napi_key_file = "{key_file}"\n')
        self.config: Config = load_config(self.config_path, env={"HOME": str(tmp_path)})
        self.folders = account_folders(self.config.state_dir, self.config.accounts)

    def sign_in(self, name: str, athlete_id: int) -> None:
        """``name`` signed in to Strava as athlete ``athlete_id``."""
        folder = self.folders[name]
        ensure_private_dir(folder)
        TokenStore(state_dir=folder).save_initial(TokenSet(
            access_token=ACCESS, refresh_token=REFRESH, expires_at=int(NOW) + 3600,
            scope="read,activity:write,activity:read_all",
            athlete=Athlete(id=athlete_id, firstname=name.title())))
        write_record(folder, AccountRecord(name=name, service="strava",
                                           athlete_id=str(athlete_id)))

    def key_checked(self, name: str, athlete_id: str) -> None:
        """``name``'s intervals.icu key was checked: its folder records ``athlete_id``."""
        write_record(self.folders[name], AccountRecord(name=name, service="intervals",
                                                       athlete_id=athlete_id))

    def store(self, name: str) -> Store:
        """``name``'s store (the caller closes it)."""
        ensure_private_dir(self.folders[name])
        return Store.open(self.folders[name], clock=lambda: NOW - 100)

    def uploaded(self, name: str, path: Path, *, sha: str, activity_id: int) -> None:
        """``path`` is ``name``'s activity ``activity_id``."""
        with closing(self.store(name)) as store:
            _queued(store, path, sha)
            store.claim_post(sha, owner=_OWNER, external_id=f"x-{sha[:8]}")
            store.finish(sha, owner=_OWNER, state=State.UPLOADED, activity_id=activity_id)

    def retrying(self, name: str, path: Path, *, sha: str, error: str, at: float) -> None:
        """``path`` failed for ``name`` with ``error``; tried again at ``at``."""
        with closing(self.store(name)) as store:
            _queued(store, path, sha)
            store.claim_post(sha, owner=_OWNER, external_id=f"x-{sha[:8]}")
            store.release_post(sha, owner=_OWNER, state=State.RETRYING, sent=False,
                               next_attempt_at=at, error=error)

    def queued(self, name: str, path: Path, *, sha: str) -> None:
        """``path`` waits for its turn with ``name``."""
        with closing(self.store(name)) as store:
            _queued(store, path, sha)

    def invoke(self, command: click.Command, *args: str) -> Result:
        """Run one command with this household's config."""
        return CliRunner().invoke(command, list(args),
                                  obj=CliContext(config_path=self.config_path))


def _queued(store: Store, path: Path, sha: str) -> None:
    store.record_file(str(path), size=10, mtime_ns=1, facts=FileFacts(
        sha256=sha, state=State.QUEUED, format="fit",
        # A start of its own per content, so no two files are the same workout.
        facts=Facts(start_time=datetime.fromtimestamp(NOW - 86400 * int(sha[0], 16), UTC))))


def household(tmp_path: Path) -> Household:
    """A household config in ``tmp_path`` with empty account folders."""
    return Household(tmp_path)


DAY0 = (datetime.now(UTC) - timedelta(days=20)).replace(hour=6, minute=0, second=0,
                                                          microsecond=0)
"""Twenty days ago: workouts ``DAY0 + n hours`` stay within 30 days whatever day it is."""


@dataclass
class House:
    """A household's config, folders and emulator: ``accounts`` maps names to folder names."""

    emulator: Emulator
    root: Path
    accounts: Mapping[str, Sequence[str]]
    config_path: Path
    env: dict[str, str] = field(default_factory=dict)
    """More environment for the commands and the daemon (intervals.icu keys)."""

    def folder(self, name: str) -> Path:
        """A watched folder (made if missing)."""
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def config(self) -> Config:
        """The configuration as the daemon reads it."""
        return load_config(self.config_path, env={"HOME": str(self.root), **self.env})

    def state_folders(self) -> dict[str, Path]:
        """Each account's state folder."""
        return account_folders_of(self.config())

    def sign_in(self, account: str, athlete: int) -> None:
        """Store ``athlete``'s tokens in ``account``'s folder, as ``auth --account`` would,
        recording the athlete unless another account records them (then the file is there
        as if copied in by hand)."""
        config = self.config()
        folder = account_folders_of(config)[account]
        seed_tokens(self.emulator, folder, athlete=athlete)
        pin_athlete(config.state_dir, config.accounts, account=account, service="strava",
                    athlete_id=str(athlete))

    def learned(self, estimate_s: float = 1.0) -> None:
        """As if processing times were learned: each account's first poll after ``estimate_s``."""
        for folder in self.state_folders().values():
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            store = Store.open(folder)
            try:
                store.set_meta(LEGACY_ESTIMATE_KEY, str(estimate_s))
            finally:
                store.close()

    def drop(self, folder: str, hour: int) -> float:
        """A workout started ``hour`` hours after DAY0 in ``folder``; its start (Unix time).

        Written under a temporary name and renamed, as most tools copy.
        """
        start = DAY0 + timedelta(hours=hour)
        target = self.folder(folder) / f"w{hour:03d}.fit"
        part = target.with_name(target.name + ".part")
        part.write_bytes(fit_bytes(start=start, points=20))
        part.rename(target)
        return start.timestamp()

    def start(self) -> subprocess.Popen[str]:
        """``stravasync run`` as the service runs it (JSON log lines on stderr)."""
        return subprocess.Popen(
            [sys.executable, "-m", "stravasync", "--config", str(self.config_path), "run"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env=child_env(self.root, self.env))

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``stravasync --config X ARGS`` in a subprocess, as a person runs it."""
        return subprocess.run(
            [sys.executable, "-m", "stravasync", "--config", str(self.config_path), *args],
            capture_output=True, text=True, env=child_env(self.root, self.env), timeout=60, check=False)

    def files(self) -> dict[str, dict[str, str]]:
        """Each account's paths with their states, from its own store."""
        found: dict[str, dict[str, str]] = {}
        for name, folder in self.state_folders().items():
            store = Store.open(folder, read_only=True)
            try:
                found[name] = {f.path: str(f.state) for f in store.files()}
            finally:
                store.close()
        return found

    def wait_final(self, counts: Mapping[str, int], timeout: float) -> dict[str, dict[str, str]]:
        """Wait until each account lists ``counts[name]`` paths, all final; their states."""
        files: dict[str, dict[str, str]] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):  # a store may be busy or not made yet
                files = self.files()
            if all(len(files.get(name, {})) >= n
                   and all(s in FINAL for s in files.get(name, {}).values())
                   for name, n in counts.items()):
                return files
            time.sleep(0.1)
        raise AssertionError(f"not final after {timeout} s: {self.unfinished()}")

    def unfinished(self) -> dict[str, list[str]]:
        """Each account's workouts not final yet, with why and when they are due (a failure's
        message)."""
        now = time.time()
        found: dict[str, list[str]] = {}
        with contextlib.suppress(Exception):  # a store may be busy or not made yet
            for name, folder in self.state_folders().items():
                store = Store.open(folder, read_only=True)
                try:
                    found[name] = [
                        f"{Path(w.path).name} {w.state} failures={w.failures} "
                        f"attempts={w.attempts} due_in={(w.next_attempt_at or now) - now:.1f}s "
                        f"posting={w.posting} maybe_posted={w.maybe_posted} error={w.error}"
                        for w in store.workouts() if str(w.state) not in FINAL]
                finally:
                    store.close()
        return found


def write_house(root: Path, emulator: Emulator, accounts: Mapping[str, Sequence[str]], *,
                intervals: Mapping[str, tuple[int, Sequence[str]]] | None = None,
                settle_seconds: float = 0.2) -> House:
    """A config with one Strava account per entry of ``accounts`` (its folders under ``root``),
    and one intervals.icu account per entry of ``intervals``: (the emulator athlete whose key
    it takes from ``$STRAVASYNC_INTERVALS_KEY_<NAME>``, its folders)."""
    icu = intervals or {}
    tables = "".join(
        f'[[accounts]]\nname = "{name}"\n'
        f"paths = {json.dumps([str(root / folder) for folder in folders])}\n"
        for name, folders in accounts.items()) + "".join(
        f'[[accounts]]\nname = "{name}"\nservice = "intervals"\n'
        f"api_url = {json.dumps(emulator.intervals_url)}\n"
        f"paths = {json.dumps([str(root / folder) for folder in folders])}\n"
        for name, (_athlete, folders) in icu.items())
    path = root / "config.toml"
    path.write_text(
        "[strava]\n"
        f'client_id = "{emulator.config.client_id}"\n'
        f'client_secret = "{emulator.config.client_secret}"\n'
        f"api_url = {json.dumps(emulator.api_url)}\n"
        f"oauth_url = {json.dumps(emulator.oauth_url)}\n"
        f"[watch]\nsettle_seconds = {settle_seconds}\nmax_age_days = 30\n"
        f"[state]\ndir = {json.dumps(str(root / 'state'))}\n"
        '[log]\nformat = "json"\n' + tables,
        encoding="utf-8")
    path.chmod(0o600)
    keys = {key_variable(name): emulator.intervals_key(athlete) or ""
            for name, (athlete, _folders) in icu.items()}
    house = House(emulator=emulator, root=root, config_path=path, env=keys,
                  accounts={**accounts, **{name: folders for name, (_a, folders) in icu.items()}})
    for folders in house.accounts.values():
        for folder in folders:
            house.folder(folder)
    return house


def starts_of(emulator: Emulator, athlete: int) -> list[float]:
    """The start times of the athlete's live activities on the emulator, one per activity."""
    return sorted(float(a["start_time"]) for a in emulator.activities_of(athlete))


class Tail:
    """A daemon subprocess's JSON log (stderr), read line by line with a deadline.

    A silent daemon never blocks a read past its deadline (``readline`` would wait for
    ever): the pipe is read with ``select`` and ``os.read``, and what follows the last
    whole line is kept for the next call.
    """

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        self._fd = proc.stderr.fileno()
        self._rest = b""

    def line(self, deadline: float) -> bytes | None:
        """The next whole line, or None at the deadline or at the end of the log."""
        while b"\n" not in self._rest:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._fd], [], [], left)[0]:
                return None
            chunk = os.read(self._fd, 65536)
            if not chunk:
                return None
            self._rest += chunk
        line, self._rest = self._rest.split(b"\n", 1)
        return line

    def wait_for(self, event: str, *, timeout: float = 20.0,
                 seen: set[str] | None = None) -> dict[str, object]:
        """Read the log until ``event`` shows up; that event (AssertionError if it does not).

        ``seen``: the folder name (parent of ``path``) and the service (``strava`` unless
        the event names one) of every ``upload_started`` read on the way are added to it,
        so a caller can tell whose POSTs went out.
        """
        deadline = time.monotonic() + timeout
        while (line := self.line(deadline)) is not None:
            try:
                found = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if not isinstance(found, dict):
                continue
            if seen is not None and found.get("event") == "upload_started":
                seen.add(Path(str(found.get("path", ""))).parent.name)
                seen.add(str(found.get("service", "strava")))
            if found.get("event") == event:
                return found
        raise AssertionError(f"no {event} event from the daemon within {timeout} s")


def faults_met(emulator: Emulator) -> tuple[int, int]:
    """The Strava faults the emulator dealt: (uploads cut off after creation, 5xx answers)."""
    counters = emulator.inspect(requests=False)["counters"]
    dropped = int(counters["notes"].get("dropped", 0))
    errors = sum(int(n) for status, n in counters["by_status"].items() if str(status)[0] == "5")
    return dropped, errors


MOMENTS = ("upload_started", "upload_created", "upload_done", None,
           "upload_started", "upload_created", None)
"""Where each round is killed: right after the POST went out, right after Strava answered
it, right after a result was recorded, or (None) at a random moment."""


def kill_rounds(house: House, rng: random.Random, *, together: frozenset[str] = frozenset(),
                moments: Sequence[str | None] = MOMENTS) -> int:
    """Start the daemon and SIGKILL it at each of ``moments``; the rounds that met theirs.

    ``together``: a round is killed only once POSTs went out from each of these folders
    and services in it (see :func:`wait_for`): their uploads interleave.
    """
    met = 0
    for moment in moments:
        proc = house.start()
        with reaped(proc):
            if moment is None:
                time.sleep(rng.uniform(0.8, 2.0))  # kept: a random moment is the point here
                met += 1
            else:
                seen: set[str] = set()
                tail = Tail(proc)
                try:
                    while True:
                        tail.wait_for(moment, seen=seen, timeout=15.0)
                        if together <= seen:
                            break
                    met += 1
                except AssertionError:
                    pass  # nothing left to send at that moment: the round ends anyway
            stop(proc, signal.SIGKILL)
    return met


def settle(house: House, counts: Mapping[str, int], *,
           calm: Mapping[str, float]) -> dict[str, dict[str, str]]:
    """The faults end (knobs ``calm``), a person runs ``stravasync retry --all``, and the
    daemon runs until every account's files are final; their states.

    Each kill and fault backed a file off (5 s, doubling): ``retry`` makes them due now,
    as after a bad day, so the final run settles in seconds rather than minutes.
    """
    house.emulator.set_knobs(**calm)
    retried = house.command("retry", "--all")
    assert 0 == retried.returncode, retried.stderr
    proc = house.start()
    with reaped(proc):
        files = house.wait_final(counts, timeout=30)
        stop(proc)
    return files
