"""Commands a person runs print readable lines on stderr, even with ``[log] format = "json"``.

The ``[log]`` table is the daemon's: a person running ``auth`` or ``check`` sees
warnings and errors only, as plain lines, never JSON events.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from stravasync.cli import cli
from stravasync.emulator import Emulator, EmulatorConfig
from stravasync.strava.signin import authorize_url

SECRET = "human-lines-secret-1"


@pytest.fixture
def strava() -> Iterator[Emulator]:
    """A running emulator for client 4242."""
    with Emulator(EmulatorConfig(seed=5, client_id="4242", client_secret=SECRET)) as emu:
        yield emu


def json_config(tmp_path: Path, strava: Emulator, *, mode: int = 0o600) -> Path:
    """A config whose log is JSON at level info, as one might set it for journald."""
    path = tmp_path / "config.toml"
    path.write_text(
        f'[strava]\nclient_id = "4242"\nclient_secret = "{SECRET}"\n'
        f'api_url = "{strava.api_url}"\noauth_url = "{strava.oauth_url}"\n'
        f'[state]\ndir = "{tmp_path / "state"}"\n'
        '[log]\nformat = "json"\nlevel = "info"\n')
    os.chmod(path, mode)
    return path


@pytest.mark.integration
def test_auth_code_prints_no_json_events(tmp_path: Path, strava: Emulator) -> None:
    """`auth --code` says who signed in on stdout; stderr holds no JSON and no info events."""
    config = json_config(tmp_path, strava)
    url = authorize_url(oauth_url=strava.oauth_url, client_id="4242",
                        redirect_uri="http://localhost:9/callback", state="x")
    location = httpx.get(url).headers["location"]
    result = CliRunner().invoke(cli, ["--config", str(config), "auth", "--code", location])
    assert 0 == result.exit_code, result.output
    assert result.stdout.startswith("Signed in to Strava as Emma Ulator")
    assert "" == result.stderr


@pytest.mark.integration
def test_check_prints_a_config_warning_as_a_line(tmp_path: Path, strava: Emulator) -> None:
    """`check` with a world-readable config prints its warning as one readable line."""
    config = json_config(tmp_path, strava, mode=0o644)
    result = CliRunner().invoke(cli, ["--config", str(config), "check", str(config)])
    assert [f"stravasync: warning: {config} holds the client secret and is readable by "
            f"other users: run `chmod 600 {config}`"] == result.stderr.splitlines()
