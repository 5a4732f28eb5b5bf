"""``logout --account`` over another athlete's token file never signs that athlete out."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from emulator_rig import serving
from household_rig import write_house

from stravasync.cli import cli
from stravasync.emulator import HouseholdAthlete

pytestmark = pytest.mark.integration

JANE, BOB = 1234567, 2345678


def test_logout_of_an_account_holding_another_athletes_tokens_leaves_that_athlete_signed_in(
        tmp_path: Path) -> None:
    """Jane's token file copied into Bob's folder: ``logout --account bob`` deletes it there
    and does not revoke Jane's sign-in at Strava (her own account keeps uploading)."""
    with serving(athletes=(HouseholdAthlete(id=BOB, firstname="Bob"),)) as emulator:
        house = write_house(tmp_path, emulator, {"jane": ["jane"], "bob": ["bob"]})
        house.sign_in("jane", JANE)
        house.sign_in("bob", BOB)
        folders = house.state_folders()
        (folders["bob"] / "tokens.json").write_bytes(
            (folders["jane"] / "tokens.json").read_bytes())

        out = CliRunner().invoke(cli, ["--config", str(house.config_path), "logout",
                                       "--account", "bob"])
        connected = emulator.inspect()["connected_athletes"]

    assert 0 == out.exit_code, out.output
    assert JANE in connected
    assert not (folders["bob"] / "tokens.json").exists()
    assert (folders["jane"] / "tokens.json").exists()
    assert "they were not signed out at Strava, because the sign-in is for athlete 1234567" \
        in out.output
