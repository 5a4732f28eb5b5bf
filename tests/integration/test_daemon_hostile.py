"""Issue 10, proven on the real daemon and commands: a hostile world loses nothing.

Names that are not UTF-8, a state folder that fills up, a damaged database, a revoked
sign-in and an absurd rate-limit header: each finding of the adversarial trial, as a
user would meet it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from daemon_rig import START, Rig, make_rig, running, wait_for_log, wait_until
from processes import stop
from structlog.testing import capture_logs

from stravasync.demo.samples import sample_fit
from stravasync.strava.governor import Governor

pytestmark = pytest.mark.integration

LATIN1 = os.fsdecode(b"Ger\xe4t")
"""``Gerät`` as Windows writes it on a FAT device: one byte that is not UTF-8."""
SHOWN = "Ger\\xe4t"
"""How status shows that name: the byte escaped."""


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """An emulator and a signed-in rig in tmp_path."""
    with make_rig(tmp_path) as r:
        yield r


def workout(n: int) -> bytes:
    """A distinct valid FIT workout (``n`` hours after START)."""
    return sample_fit(start=START + timedelta(hours=n))


def put(folder: Path | str, name: str, data: bytes) -> str:
    """Write a file the way copy tools do (temporary name, then rename); its path."""
    os.makedirs(folder, exist_ok=True)
    final = os.path.join(folder, name)
    with open(final + ".part", "wb") as out:
        out.write(data)
    os.rename(final + ".part", final)
    return final


def status_json(rig: Rig) -> dict[str, object]:
    """``stravasync status --json`` as a person (or a script) runs it."""
    result = rig.command("status", "--json")
    assert 0 == result.returncode, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


# -- names that are not UTF-8 ----------------------------------------------------------------


def test_latin1_names_at_startup_lose_nothing(rig: Rig) -> None:
    """A Latin-1 file and folder present at start: every valid file is uploaded, shown escaped."""
    for n in range(5):
        put(rig.watch, f"ok{n}.fit", workout(n))
    put(rig.watch, LATIN1 + ".fit", workout(10))
    put(rig.watch / LATIN1, "inside.fit", workout(11))
    with running(rig.config()):
        files = rig.wait_final(7)
    assert {"uploaded"} == set(files.values())
    assert 7 == rig.uploads()
    shown = {f["path"]: f["state"] for f in status_json(rig)["files"]}  # type: ignore[index]
    assert "uploaded" == shown[f"{rig.watch}/{SHOWN}.fit"]
    assert "uploaded" == shown[f"{rig.watch}/{SHOWN}/inside.fit"]


def test_latin1_folder_at_runtime_uploads_its_files(rig: Rig) -> None:
    """A new Latin-1 folder holding three workouts, made while the daemon runs: three uploads."""
    with capture_logs() as logs, running(rig.config()):
        folder = os.path.join(rig.watch, LATIN1)
        os.mkdir(folder)
        for n in range(3):
            put(folder, f"{LATIN1}-{n}.fit", workout(20 + n))
        files = rig.wait_final(3)
    assert {"uploaded"} == set(files.values())
    assert 3 == rig.uploads()
    assert [] == [e for e in logs if e["event"] in ("ingest_crashed", "engine_job_failed")]


def test_upload_of_a_latin1_file_prints_no_traceback(rig: Rig) -> None:
    """`stravasync upload Gerät.fit` (Latin-1 name) uploads it and prints the name escaped."""
    path = put(rig.watch, LATIN1 + ".fit", workout(30))
    result = rig.command("upload", path)
    assert "Traceback" not in result.stderr
    assert 0 == result.returncode, result.stderr
    assert result.stdout.startswith(f"{rig.watch}/{SHOWN}.fit: {rig.emulator.base_url}/activities/")
    assert 1 == rig.uploads()


# -- a damaged state database ---------------------------------------------------------------


def _damage(state_db: Path, how: str) -> None:
    if how == "not_a_database":
        state_db.write_bytes(b"this is no database\n" * 100)
        return
    data = bytearray(state_db.read_bytes())
    data[100:] = b"\xff" * (len(data) - 100)  # header kept, every page after it ruined
    state_db.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["not_a_database", "pages_ruined"])
def test_a_damaged_database_is_one_line_and_exit_65(rig: Rig, how: str) -> None:
    """`run` exits 65 (the unit does not restart it) with one line; `status` one line too."""
    for name in ("state.sqlite3-wal", "state.sqlite3-shm"):
        with contextlib.suppress(FileNotFoundError):
            (rig.state_dir / name).unlink()
    _damage(rig.state_dir / "state.sqlite3", how)
    run = rig.command("run", timeout=30)
    status = rig.command("status")
    for result in (run, status):
        human = [line for line in result.stderr.splitlines() if not line.startswith("{")]
        assert "Traceback" not in result.stderr
        assert 1 == len(human), result.stderr
        assert human[0].startswith("stravasync: State database damaged:")
        assert "stravasync state reset" in human[0]
    assert (65, 65) == (run.returncode, status.returncode)
    assert "" == status.stdout


# -- a revoked sign-in is told once ---------------------------------------------------------


def test_a_revoked_sign_in_is_told_once(rig: Rig) -> None:
    """Revoked at Strava: one engine_fatal, no auth_changed, over several resume cycles."""
    from stravasync.errors import ReauthRequired
    from stravasync.strava.tokens import Athlete, TokenStore

    tokens = TokenStore(state_dir=rig.state_dir)
    stored, status = tokens.stored_tokens(), tokens.status()
    assert stored is not None
    assert status is not None
    assert status.athlete_id is not None
    # The same sign-in, its access token due for a refresh now.
    due = dataclasses.replace(stored, expires_at=1, athlete=Athlete(id=status.athlete_id))
    with running(rig.config()) as daemon, capture_logs() as logs:
        rig.emulator.revoke_athlete()
        tokens.save_initial(due)
        for _cycle in range(4):  # the refresh and resume jobs, as the scheduler runs them
            daemon._refresh_tokens()
            daemon._resume()
        assert daemon.household is not None
        assert isinstance(daemon.household.router.engine.fatal, ReauthRequired)
    events = [e["event"] for e in logs]
    assert 1 == events.count("engine_fatal"), events
    assert 0 == events.count("auth_changed")


# -- an absurd rate-limit header ------------------------------------------------------------


class ZeroLimitOnce(httpx.BaseTransport):
    """Forwards to the emulator; the first upload answer says ``X-RateLimit-Limit: 0,0``."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.rewritten = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if (request.method == "POST" and request.url.path.endswith("/uploads")
                and not self.rewritten):
            self.rewritten += 1
            response.headers["X-RateLimit-Limit"] = "0,0"
        return response

    def close(self) -> None:
        self._inner.close()


def test_one_zero_limit_header_does_not_stop_uploads(rig: Rig) -> None:
    """After one `X-RateLimit-Limit: 0,0`, later files still go within seconds, not tomorrow."""
    transport = ZeroLimitOnce()
    with capture_logs() as logs, running(rig.config(), transport=transport):
        put(rig.watch, "first.fit", workout(40))
        rig.wait_final(1)
        put(rig.watch, "second.fit", workout(41))
        put(rig.watch, "third.fit", workout(42))
        files = rig.wait_final(3, timeout=20)
    assert 1 == transport.rewritten
    assert {"uploaded"} == set(files.values())
    warned = [e for e in logs if e.get("log_level") == "warning" and "limit" in e["event"]]
    assert warned, [e["event"] for e in logs]
    snapshot = Governor(state_file=rig.state_dir / "ratelimit.json").snapshot()
    assert 0 not in (snapshot["limit_15"], snapshot["limit_day"])
    assert snapshot["paused_until"] is None


# -- a state folder that fills up -----------------------------------------------------------


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB tmpfs mounted on tmp_path/state (skipped where mounting is impossible)."""
    mount_point = tmp_path / "fs"
    mount_point.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs",
                           str(mount_point)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` to the last byte; the filler's path."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for block in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * block):
                    pass
    finally:
        os.close(fd)
    return filler


def test_files_dropped_while_the_state_is_full_are_uploaded_once_space_is_back(
    tmp_path: Path, small_tmpfs: Path
) -> None:
    """Full state folder: status says so; once space is back all go, once, within 30 s."""
    with make_rig(tmp_path / "rig") as rig:
        state = small_tmpfs / "state"
        shutil.copytree(rig.state_dir, state)
        rig.state_dir = state
        rig.write_config()
        with capture_logs() as logs, running(rig.config()):
            put(rig.watch, "before.fit", workout(50))
            rig.wait_final(1)
            filler = fill(small_tmpfs)
            dropped = [put(rig.watch, f"full{n}.fit", workout(51 + n)) for n in range(5)]
            wait_for_log(logs, "state_unwritable")  # the ingest thread met the full disk
            while_full = rig.command("status")
            print(f"\nstatus while the state folder is full:\n{while_full.stdout}")
            filler.unlink()
            freed = time.monotonic()
            took = wait_until(lambda: len(rig.files()) == 6 and set(rig.files().values())
                              == {"uploaded"}, 30, "files dropped while full uploaded")
            print(f"\nfull state folder: last upload {took:.1f} s after space came back")
        after = rig.command("status")
    assert "cannot be written" in while_full.stdout, while_full.stdout
    assert "problem" in while_full.stdout.splitlines()[0]
    assert 6 == rig.uploads()
    assert time.monotonic() - freed < 35
    assert "cannot be written" not in after.stdout
    assert set(dropped) <= set(rig.files())
    assert "Traceback" not in while_full.stderr


# -- another command beside the running daemon ----------------------------------------------


def test_a_command_beside_the_daemon_never_hides_its_later_writes(rig: Rig) -> None:
    """After `retry` wrote and closed the store beside a running daemon, status sees its next upload."""
    proc = rig.start()
    try:
        first = put(rig.watch, "first.fit", workout(60))
        rig.wait_final(1)  # the daemon's threads have all opened the store by now
        assert 1 == rig.command("retry", first).returncode  # uploaded: left as it is
        after = put(rig.watch, "after.fit", workout(61))
        wait_until(lambda: rig.files().get(after) == "uploaded", 15,
                   "the upload after the command, as other processes see it")
        files = {f["path"]: f["state"] for f in status_json(rig)["files"]}  # type: ignore[index]
    finally:
        stop(proc)
    assert {first: "uploaded", after: "uploaded"} == files
    assert 2 == rig.uploads()
