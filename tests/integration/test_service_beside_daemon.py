"""`service install` warns while a daemon started by hand holds the state folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from stravasync.cli.context import CliContext
from stravasync.cli.service_cmd import service
from stravasync.state.runlock import DaemonLock


@pytest.fixture
def no_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH with neither systemctl nor launchctl (a container)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_install_warns_that_the_foreground_daemon_must_stop(
    no_tools: None, isolated_home: Path
) -> None:
    """With `stravasync run` holding the lock, install says to stop it first, and why."""
    state_dir = isolated_home / "state"
    config = isolated_home / "c.toml"
    config.write_text(f'[strava]\nclient_id = 1\n[watch]\npaths = ["{isolated_home}"]\n'
                      f'[state]\ndir = "{state_dir}"\n')
    obj = CliContext(config_path=config)
    lock = DaemonLock(state_dir)
    lock.acquire()
    try:
        result = CliRunner().invoke(service, ["install"], obj=obj)
    finally:
        lock.release()
    assert 0 == result.exit_code, result.output
    assert [f"warning: stravasync already runs for {state_dir} (pid {os.getpid()}), in the "
            "foreground or by hand: stop it first (Ctrl-C where it runs); until it stops, "
            "the service finds the state folder taken, cannot start, and is tried again "
            "every 30 seconds"] == [line for line in result.stderr.splitlines()
                                    if "already runs" in line]
    CliRunner().invoke(service, ["uninstall"], obj=obj)


def test_install_says_nothing_of_a_daemon_when_none_runs(
    no_tools: None, isolated_home: Path
) -> None:
    """Without a daemon holding the state folder, no such warning."""
    config = isolated_home / "c.toml"
    config.write_text(f'[strava]\nclient_id = 1\n[watch]\npaths = ["{isolated_home}"]\n'
                      f'[state]\ndir = "{isolated_home / "state"}"\n')
    obj = CliContext(config_path=config)
    result = CliRunner().invoke(service, ["install"], obj=obj)
    assert 0 == result.exit_code, result.output
    assert "already runs" not in result.stderr
    CliRunner().invoke(service, ["uninstall"], obj=obj)
