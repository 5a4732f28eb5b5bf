"""A typo in the configuration does not lock the owner out of `status`."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner, Result

from stravasync.cli import cli
from stravasync.config.settings import load_config
from stravasync.state.pointer import remember_state_dir
from stravasync.state.runlock import DaemonInfo, DaemonLock, write_info

GOOD = """
[strava]
client_id = "1"
client_secret = "s"

[watch]
paths = [{watch}]

[state]
dir = {state}
"""


def status(config: Path, *args: str) -> Result:
    """``stravasync status ARGS --config CONFIG``, in this process."""
    return CliRunner().invoke(cli, ["status", *args, "--config", str(config)])


def test_status_reports_the_running_daemon_despite_a_typo(tmp_path: Path) -> None:
    """The daemon ran with a custom state folder; a typo later: status still shows it, problem first."""
    (tmp_path / "watch").mkdir()
    path = tmp_path / "config.toml"
    path.write_text(GOOD.format(watch=json.dumps(str(tmp_path / "watch")),
                                state=json.dumps(str(tmp_path / "custom-state"))))
    config = load_config(path)
    remember_state_dir(config)  # what the daemon does when it starts
    lock = DaemonLock(config.state_dir)
    lock.acquire()
    try:
        write_info(config.state_dir, DaemonInfo(pid=os.getpid(), since=1.0, version="9.9"))
        path.write_text(path.read_text().replace("[watch]", "[watch]\nrecursiv = true"))
        as_json = status(path, "--json")
        table = status(path)
    finally:
        lock.release()
    data = json.loads(as_json.output)
    assert (0, 0) == (as_json.exit_code, table.exit_code)
    assert {"running": True, "pid": os.getpid()} == {k: data["daemon"][k]
                                                    for k in ("running", "pid")}
    assert "watch.recursiv" in data["config_error"]
    assert "config" == data["needs_you"][0]["kind"]
    first = table.output.splitlines()[0]
    assert first.startswith(f"the configuration {path} has a mistake")
    assert f"Running (pid {os.getpid()})" in table.output.splitlines()[1]


def test_without_a_pointer_status_reads_the_default_state_folder(tmp_path: Path) -> None:
    """A config never run by a daemon, broken: status reads the default folder and says why."""
    path = tmp_path / "config.toml"
    path.write_text("[strava]\nclient_id = \n")
    result = status(path, "--json")
    data = json.loads(result.output)
    assert 0 == result.exit_code
    assert "not valid TOML" in data["config_error"]
    assert {"running": False, "pid": None} == {k: data["daemon"][k] for k in ("running", "pid")}
