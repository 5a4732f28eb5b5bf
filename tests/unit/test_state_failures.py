"""Tests for state failures: a read-only or full database passes, a damaged database says so in
one line, and ``stravasync state reset`` sets it aside."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from store_rig import Clock, add, facts, write_many

from stravasync.cli import main
from stravasync.cli.context import CliContext
from stravasync.cli.state_cmd import state_group
from stravasync.errors import AlreadyRunning
from stravasync.state import DB_NAME, State, StateCorrupt, StateUnwritable, Store


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """The state folder."""
    return tmp_path / "state"


@pytest.fixture
def config(tmp_path: Path, state_dir: Path) -> Path:
    """A configuration file whose [state] dir is ``state_dir``."""
    watch = tmp_path / "watch"
    watch.mkdir()
    path = tmp_path / "config.toml"
    path.write_text(
        '[strava]\nclient_id = "12345"\nclient_secret = "s"\n'
        'api_url = "http://127.0.0.1:9/api/v3"\noauth_url = "http://127.0.0.1:9/oauth"\n'
        f'[watch]\npaths = ["{watch}"]\n[state]\ndir = "{state_dir}"\n[log]\nformat = "json"\n')
    path.chmod(0o600)
    return path


def not_a_database(state_dir: Path) -> bytes:
    """Replace the database with bytes that are no SQLite file at all; return them."""
    state_dir.mkdir(parents=True, exist_ok=True)
    junk = b"this was state.sqlite3 before the SD card failed\n" * 200
    (state_dir / DB_NAME).write_bytes(junk)
    return junk


def malformed(state_dir: Path) -> None:
    """A real database whose inner pages were overwritten (valid header, broken tree)."""
    store = Store.open(state_dir, clock=Clock())
    for i in range(300):
        add(store, f"/w/{i:04d}.fit", facts(f"{i:064d}", start=float(i)))
    store.close()  # the last connection checkpoints the WAL into the file
    with open(state_dir / DB_NAME, "r+b") as f:
        f.seek(4096 * 3)
        f.write(b"\xff" * 4096 * 4)


def test_a_file_that_is_no_database_is_reported_as_damaged(state_dir: Path) -> None:
    """Opening it raises StateCorrupt: exit 65, a person acts, one line naming the fix."""
    not_a_database(state_dir)
    with pytest.raises(StateCorrupt) as caught:
        Store.open(state_dir)
    error = caught.value
    assert (65, True) == (error.exit_code, error.needs_person)
    assert 1 == len(str(error).splitlines())
    assert "`stravasync state reset`" in str(error)


def test_a_database_with_broken_pages_is_reported_as_damaged(state_dir: Path) -> None:
    """Damage inside a valid-looking file is found when the daemon opens it."""
    malformed(state_dir)
    with pytest.raises(StateCorrupt, match="damaged"):
        Store.open(state_dir)


def test_the_status_view_reports_a_damaged_database(state_dir: Path) -> None:
    """The read-only store (``status``) raises StateCorrupt too, not sqlite3's error."""
    not_a_database(state_dir)
    with pytest.raises(StateCorrupt):
        Store.open(state_dir, read_only=True).files()


def test_status_on_a_damaged_database_prints_one_line(
    config: Path, state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`stravasync status`: no traceback, one line saying what to do, exit 65."""
    not_a_database(state_dir)
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(config), "status"])
    err = capsys.readouterr().err
    assert 65 == exited.value.code
    assert 1 == len(err.splitlines()), err
    assert err.startswith("stravasync: State database damaged: ")


def test_run_on_a_damaged_database_exits_65(
    config: Path, state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The daemon stops with EX_DATAERR, which the shipped unit does not restart."""
    not_a_database(state_dir)
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(config), "run"])
    unit = (Path(__file__).parents[2] / "systemd" / "stravasync.service").read_text()
    assert 65 == exited.value.code
    assert "State database damaged" in capsys.readouterr().err
    assert "RestartPreventExitStatus=2 65" in unit.splitlines()


def test_a_full_database_is_a_passing_failure_and_the_store_carries_on(
    tmp_path: Path
) -> None:
    """SQLITE_FULL raises StateUnwritable (retry, no person needed); later writes work."""
    store = Store.open(tmp_path, clock=Clock())
    db = store._db()  # SQLite's own size cap stands in for a full disk
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StateUnwritable, match="disk is full") as caught:
        write_many(store)
    db.execute("PRAGMA max_page_count = 1073741823")
    add(store, "/w/later.fit", facts("a" * 64))
    assert not caught.value.needs_person
    assert State.QUEUED == store.workout("a" * 64).state  # type: ignore[union-attr]


def test_a_read_only_database_is_a_passing_failure(tmp_path: Path) -> None:
    """SQLITE_READONLY raises StateUnwritable naming the state folder."""
    store = Store.open(tmp_path)
    store._db().execute("PRAGMA query_only = 1")
    with pytest.raises(StateUnwritable, match="read-only") as caught:
        add(store, "/w/a.fit", facts("a" * 64))
    assert str(tmp_path) in str(caught.value)


def reset(config: Path, *args: str) -> tuple[int, str, BaseException | None]:
    """Run `stravasync state reset` with ``config``."""
    result = CliRunner().invoke(state_group, ["reset", *args],
                                obj=CliContext(config_path=config))
    return result.exit_code, result.output, result.exception


def test_reset_sets_a_damaged_database_aside_and_a_fresh_one_opens(
    config: Path, state_dir: Path
) -> None:
    """The damaged file is kept byte for byte beside a fresh, working database."""
    junk = not_a_database(state_dir)
    (state_dir / f"{DB_NAME}-wal").write_bytes(b"last transactions")
    with pytest.raises(StateCorrupt):  # the daemon's failed start touches nothing
        Store.open(state_dir)
    code, output, _ = reset(config)
    kept = sorted(p.name for p in state_dir.glob(f"{DB_NAME}.damaged-*"))
    assert 0 == code, output
    assert [kept[0], kept[0] + "-wal"] == kept
    assert junk == (state_dir / kept[0]).read_bytes()
    assert b"last transactions" == (state_dir / kept[1]).read_bytes()
    assert "nothing uploads twice" in output
    add(Store.open(state_dir), "/w/a.fit", facts("a" * 64))


def test_reset_refuses_while_a_daemon_holds_the_folder(config: Path, state_dir: Path) -> None:
    """With the daemon lock held elsewhere nothing is moved."""
    not_a_database(state_dir)
    fd = os.open(state_dir / "daemon.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, b"4242")
        _, _, error = reset(config)
    finally:
        os.close(fd)
    assert isinstance(error, AlreadyRunning)
    assert "pid 4242" in str(error)
    assert [DB_NAME] == [p.name for p in state_dir.glob(f"{DB_NAME}*")]


def test_reset_leaves_a_healthy_database_unless_forced(config: Path, state_dir: Path) -> None:
    """A database that reads well is moved only with --force."""
    add(Store.open(state_dir), "/w/a.fit", facts("a" * 64))
    refused, output, _ = reset(config)
    assert (1, True) == (refused, "reads well" in output)
    assert 0 == reset(config, "--force")[0]
    assert not (state_dir / DB_NAME).exists()


def test_the_migration_runs_on_a_database_that_is_fine(state_dir: Path) -> None:
    """A healthy database is not mistaken for a damaged one (quick_check passes)."""
    add(Store.open(state_dir), "/w/a.fit", facts("a" * 64))
    db = sqlite3.connect(state_dir / DB_NAME)
    assert "ok" == db.execute("PRAGMA quick_check").fetchone()[0]
    db.close()
    assert 1 == len(Store.open(state_dir).files())
