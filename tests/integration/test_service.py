"""Tests for stravasync.service.autostart and the `service` commands, with fake systemctl/launchctl
(and systemd-analyze) run as processes."""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stravasync.service.autostart import (
    LAUNCHD_LABEL,
    ServiceError,
    SystemdUserService,
    autostart_for,
    render_systemd_unit,
)

FAKE_TOOL = """#!/bin/sh
echo "$*" >> "$FAKE_LOG"
if [ -n "$FAKE_FAIL" ]; then
  case "$*" in *"$FAKE_FAIL"*) echo "Failed to connect to bus: No medium found" >&2; exit 1;; esac
fi
case "$*" in
  *status*) echo "* stravasync.service - stravasync"; echo "   Active: active (running)";;
  print*) echo "	state = running"; echo "	pid = 4242"; echo "	program = python";;
esac
exit 0
"""


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH holding only fake systemctl and launchctl that record their arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("systemctl", "launchctl"):
        tool = bin_dir / name
        tool.write_text(FAKE_TOOL)
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "calls.log"))
    monkeypatch.delenv("FAKE_FAIL", raising=False)
    return tmp_path / "calls.log"


def calls(log: Path) -> list[str]:
    """The argument lines the fake tools recorded."""
    return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def no_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH with neither systemctl nor launchctl (a container)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_install_writes_unit_and_starts_it(fake_bin: Path, isolated_home: Path) -> None:
    """install writes the user unit running this interpreter and enables it with systemctl."""
    config = isolated_home / "my config.toml"
    outcome = autostart_for("linux").install(config_path=config)
    unit = isolated_home / ".config" / "systemd" / "user" / "stravasync.service"
    exec_start = f'{sys.executable} -m stravasync --config "{config}" run'
    assert unit == outcome.path
    assert render_systemd_unit(exec_start) == unit.read_text(encoding="utf-8")
    assert ["--user daemon-reload", "--user enable --now stravasync.service"] == calls(fake_bin)
    assert outcome.reachable


def test_unit_path_honours_xdg_config_home(
    fake_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unit goes under $XDG_CONFIG_HOME when it is set."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    outcome = autostart_for("linux").install()
    assert tmp_path / "xdg" / "systemd" / "user" / "stravasync.service" == outcome.path
    assert "ExecStart=" + f"{sys.executable} -m stravasync run" in outcome.path.read_text()


def test_install_without_user_bus_still_writes_the_unit(
    fake_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When systemctl cannot reach the user manager the unit is written, with a note."""
    monkeypatch.setenv("FAKE_FAIL", "daemon-reload")
    outcome = autostart_for("linux").install()
    assert outcome.path.is_file()
    assert not outcome.reachable
    assert any("No medium found" in line for line in outcome.lines)
    assert ["--user daemon-reload"] == calls(fake_bin)


def test_install_that_fails_to_start_is_an_error(
    fake_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A unit that systemd refuses to start is reported as an error, with the file kept."""
    monkeypatch.setenv("FAKE_FAIL", "enable")
    with pytest.raises(ServiceError, match="did not start"):
        autostart_for("linux").install()
    assert SystemdUserService().path.is_file()


def test_uninstall_stops_and_removes(fake_bin: Path) -> None:
    """uninstall disables and stops the service, removes the unit and reloads."""
    autostart = autostart_for("linux")
    autostart.install()
    outcome = autostart.uninstall()
    assert not outcome.path.exists()
    assert ["--user disable --now stravasync.service", "--user daemon-reload"] == calls(fake_bin)[
        2:
    ]
    assert any("was not installed" in line for line in autostart.uninstall().lines)


def test_status_reports_file_and_systemctl(fake_bin: Path) -> None:
    """status says whether the unit is installed and shows systemctl's view."""
    autostart = autostart_for("linux")
    before = autostart.status()
    autostart.install()
    after = autostart.status()
    assert (False, True) == (before.installed, after.installed)
    assert any("Active: active (running)" in line for line in after.lines)
    assert "--user status --no-pager --lines=5 stravasync.service" in calls(fake_bin)


def test_launchd_agent(fake_bin: Path, isolated_home: Path) -> None:
    """On macOS install writes a RunAtLoad/KeepAlive plist running this interpreter and loads it."""
    outcome = autostart_for("darwin").install(config_path=Path("/etc/ss.toml"))
    plist = isolated_home / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"
    data = plistlib.loads(plist.read_bytes())
    logs = isolated_home / "Library" / "Logs" / "stravasync"
    assert plist == outcome.path
    assert {
        "Label": LAUNCHD_LABEL,
        "ProgramArguments": [sys.executable, "-m", "stravasync", "--config", "/etc/ss.toml", "run"],
        "RunAtLoad": True,
        "KeepAlive": True,
        "StandardOutPath": str(logs / "stravasync.out.log"),
        "StandardErrorPath": str(logs / "stravasync.err.log"),
    }.items() <= data.items()
    uid = os.getuid()
    assert [
        f"bootout gui/{uid}/{LAUNCHD_LABEL}",
        f"bootstrap gui/{uid} {plist}",
    ] == calls(fake_bin)
    assert any("pid = 4242" in line for line in autostart_for("darwin").status().lines)
    assert not autostart_for("darwin").uninstall().path.exists()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_rendered_unit_passes_systemd_analyze_verify(
    no_tools: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """systemd-analyze verify --user accepts the installed unit without a single warning."""
    analyze = shutil.which("systemd-analyze", path="/usr/bin:/bin")
    if analyze is None:
        pytest.skip("needs systemd-analyze")
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    unit = autostart_for("linux").install().path
    result = subprocess.run(
        [analyze, "verify", "--user", str(unit)], capture_output=True, text=True, check=False
    )
    assert (0, "") == (result.returncode, result.stderr.strip())
