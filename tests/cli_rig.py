"""The rig for commands run in-process through click's CliRunner: a config, a state folder.

Shared by the unit tests of the commands (no Strava, or a MockTransport) and their
integration halves (the emulator on loopback). (No tests here.)
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from click.testing import CliRunner, Result

from stravasync.cli.context import CliContext
from stravasync.demo.samples import sample_fit
from stravasync.emulator import Emulator
from stravasync.state import Store
from stravasync.strava.tokens import Athlete, TokenSet, TokenStore

AUTH_SECRET = "auth-test-secret-123"


class Setup:
    """A config file, a state dir and a watch folder pointing at a running emulator."""

    def __init__(self, tmp: Path, emulator: Emulator | None) -> None:
        self.tmp = tmp
        self.watch = tmp / "watch"
        self.watch.mkdir()
        self.state_dir = tmp / "state"
        self.emulator = emulator
        self.made = 0
        api = emulator.api_url if emulator else "http://127.0.0.1:9/api/v3"
        oauth = emulator.oauth_url if emulator else "http://127.0.0.1:9/oauth"
        self.config = tmp / "config.toml"
        self.config.write_text(
            f'[strava]\nclient_id = "12345"\nclient_secret = "emulator-secret"\n'
            f'api_url = "{api}"\noauth_url = "{oauth}"\n'
            f'[watch]\npaths = ["{self.watch}"]\n'
            f'[state]\ndir = "{self.state_dir}"\n[log]\nformat = "json"\n')
        # Start polling after 1 s, as a daemon that has learned this emulator would.
        Store.open(self.state_dir).set_meta("processing_estimate_s", "1.0")

    def sign_in(self) -> None:
        """Store tokens the emulator issued."""
        assert self.emulator is not None
        body = self.emulator.issue_tokens()
        TokenStore(state_dir=self.state_dir).save_initial(TokenSet(
            access_token=body["access_token"], refresh_token=body["refresh_token"],
            expires_at=int(body["expires_at"]), scope="read,activity:write",
            athlete=Athlete(id=int(body["athlete"]["id"]), firstname="Emma")))

    def invoke(self, command: click.Command, *args: str) -> Result:
        """Run one command with this config."""
        return CliRunner().invoke(command, list(args), obj=CliContext(config_path=self.config))

    def workout(self, name: str, *, days_ago: float = 1.0) -> Path:
        """A generated workout in the watch folder."""
        path = self.watch / name
        self.made += 1
        start = datetime.now(UTC) - timedelta(days=days_ago, hours=self.made)
        path.write_bytes(sample_fit(start=start))
        return path

    def api_calls(self) -> int:
        """API calls the emulator answered."""
        assert self.emulator is not None
        return int(self.emulator.inspect(requests=False)["counters"]["api_calls"])


def write_auth_config(tmp_path: Path, strava: object, *, secret: str = AUTH_SECRET) -> Path:
    """A config file for client 4242 pointing at ``strava``'s URLs, with state under tmp_path."""
    path = tmp_path / "config.toml"
    path.write_text(
        "[strava]\n"
        'client_id = "4242"\n'
        f'client_secret = "{secret}"\n'
        f'api_url = "{strava.api_url}"\n'  # type: ignore[attr-defined]
        f'oauth_url = "{strava.oauth_url}"\n'  # type: ignore[attr-defined]
        f'[state]\ndir = "{tmp_path / "state"}"\n'
    )
    os.chmod(path, 0o600)
    return path


def invoke(command: object, config: Path, args: list[str], stdin: str = "") -> object:
    """Run a click command with our CLI context."""
    return CliRunner().invoke(
        command,
        args,
        obj=CliContext(config_path=config),  # type: ignore[arg-type]
        input=stdin,
        catch_exceptions=True,
    )
