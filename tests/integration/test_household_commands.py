"""``upload`` with several accounts: each file to its accounts, or to the one named."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from daemon_rig import seed_tokens
from emulator_rig import serving
from fixtures import fit_bytes

from stravasync.cli import cli
from stravasync.emulator import Emulator, HouseholdAthlete, Knobs

pytestmark = pytest.mark.integration

JANE, BOB = 1234567, 2345678
START = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0)


def household(tmp_path: Path, emulator: Emulator) -> Path:
    """Jane (jane/ + shared/) and Bob (bob/ + shared/), both signed in."""
    for folder in ("jane", "bob", "shared", "elsewhere"):
        (tmp_path / folder).mkdir()
    path = tmp_path / "config.toml"
    path.write_text(
        f'[strava]\nclient_id = "12345"\nclient_secret = "emulator-secret"\n'
        f'api_url = {json.dumps(emulator.api_url)}\noauth_url = {json.dumps(emulator.oauth_url)}\n'
        f'[state]\ndir = {json.dumps(str(tmp_path / "state"))}\n'
        f'[[accounts]]\nname = "jane"\npaths = [{json.dumps(str(tmp_path / "jane"))}, '
        f'{json.dumps(str(tmp_path / "shared"))}]\n'
        f'[[accounts]]\nname = "bob"\npaths = [{json.dumps(str(tmp_path / "bob"))}, '
        f'{json.dumps(str(tmp_path / "shared"))}]\n')
    path.chmod(0o600)
    for folder, athlete in ((tmp_path / "state", JANE),
                            (tmp_path / "state" / "accounts" / "bob", BOB)):
        seed_tokens(emulator, folder, athlete=athlete)
    return path


def ride(folder: Path, hours: int) -> Path:
    path = folder / f"ride-{hours}.fit"
    path.write_bytes(fit_bytes(start=START + timedelta(hours=hours), points=20))
    return path


def test_upload_sends_a_shared_file_to_both_and_a_named_account_only_to_it(
        tmp_path: Path) -> None:
    """A shared file: one line per athlete; a file outside every folder: only with --account."""
    knobs = Knobs(processing_min_s=0.1, processing_max_s=0.3)
    with serving(athletes=(HouseholdAthlete(id=BOB, firstname="Bob"),), knobs=knobs) as emulator:
        config = household(tmp_path, emulator)
        shared, stray = ride(tmp_path / "shared", 1), ride(tmp_path / "elsewhere", 2)
        runner = CliRunner()

        both = runner.invoke(cli, ["--config", str(config), "upload", str(shared)])
        nobody = runner.invoke(cli, ["--config", str(config), "upload", str(stray)])
        bob = runner.invoke(cli, ["--config", str(config), "upload", "--account", "bob",
                                  str(stray)])
        jane_has, bob_has = len(emulator.activities_of(JANE)), len(emulator.activities_of(BOB))

    assert 0 == both.exit_code, both.output
    assert [f"{shared} [jane]", f"{shared} [bob]"] == [
        line.split(": ")[0] for line in both.output.splitlines()]
    assert 1 == nobody.exit_code
    assert "no account's folders hold this file: name the account with --account" in nobody.output
    assert 0 == bob.exit_code, bob.output
    assert (1, 2) == (jane_has, bob_has)
