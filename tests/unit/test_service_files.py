"""Tests for stravasync.service.autostart and the `service` commands where no service manager is
reachable: the unit and plist files written, and what is printed."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from stravasync.cli.context import CliContext
from stravasync.cli.service_cmd import service
from stravasync.service.autostart import (
    ServiceError,
    SystemdUserService,
    autostart_for,
    render_systemd_unit,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH with neither systemctl nor launchctl (a container)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_sample_unit_is_the_rendered_template() -> None:
    """systemd/stravasync.service is exactly what render_systemd_unit() produces."""
    sample = (REPO / "systemd" / "stravasync.service").read_text(encoding="utf-8")
    assert render_systemd_unit() == sample
    for option in ("Type=notify", "NotifyAccess=main", "WatchdogSec=", "Restart=on-failure"):
        assert option in sample


@pytest.mark.usefixtures("no_tools")
def test_install_without_systemctl_still_writes_the_unit() -> None:
    """Without systemctl the unit is written and the commands to start it are printed."""
    outcome = autostart_for("linux").install()
    assert outcome.path.is_file()
    assert not outcome.reachable
    assert "  systemctl --user enable --now stravasync.service" in outcome.lines


@pytest.mark.usefixtures("no_tools")
def test_status_without_systemctl() -> None:
    """status without systemctl says the manager is not reachable."""
    outcome = autostart_for("linux").status()
    assert not outcome.reachable
    assert any("not reachable" in line for line in outcome.lines)


@pytest.mark.usefixtures("no_tools")
def test_launchd_without_launchctl() -> None:
    """Without launchctl the plist is written and the bootstrap command printed."""
    outcome = autostart_for("darwin").install()
    assert outcome.path.is_file()
    assert any(line.startswith("  launchctl bootstrap gui/") for line in outcome.lines)


def test_unsupported_platform() -> None:
    """Platforms without an autostart class get a clear error."""
    with pytest.raises(ServiceError, match="not win32"):
        autostart_for("win32")


def test_exec_start_quotes_specifiers(no_tools: None, tmp_path: Path) -> None:
    """Percent and dollar signs and spaces in paths are escaped for systemd."""
    service_ = SystemdUserService(program=["/opt/my app/python", "-m", "stravasync"])
    service_.install(config_path=tmp_path / "100%$HOME.toml")
    text = service_.path.read_text()
    assert (
        f'ExecStart="/opt/my app/python" -m stravasync --config {tmp_path}/100%%$$HOME.toml run'
        in (text)
    )


def test_cli_install_and_status(no_tools: None, isolated_home: Path) -> None:
    """`service install` passes the global --config path on; `status` exits 0 once installed."""
    runner = CliRunner()
    config = isolated_home / "c.toml"
    config.write_text('[strava]\nclient_id = 1\n[watch]\npaths = ["/tmp/exports"]\n')
    obj = CliContext(config_path=config)
    assert 1 == runner.invoke(service, ["status"], obj=obj).exit_code
    result = runner.invoke(service, ["install"], obj=obj)
    assert 0 == result.exit_code
    assert f"--config {config} run" in result.output
    assert "warning: not signed in yet" in result.output
    assert "private /tmp and cannot see /tmp/exports" in result.output
    assert 0 == runner.invoke(service, ["status"], obj=obj).exit_code
    assert 0 == runner.invoke(service, ["uninstall"], obj=obj).exit_code


def test_cli_install_refuses_a_broken_config(no_tools: None, isolated_home: Path) -> None:
    """`service install` with an invalid config installs nothing and lists the problems."""
    config = isolated_home / "c.toml"
    config.write_text("[strava]\nclient_id = 'abc'\n")
    result = CliRunner().invoke(service, ["install"], obj=CliContext(config_path=config))
    assert 2 == result.exception.exit_code  # type: ignore[union-attr]
    assert not (isolated_home / ".config" / "systemd" / "user" / "stravasync.service").exists()
