"""``stravasync auth --account NAME`` for Strava: each athlete in their own folder, never crossed."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from click.testing import CliRunner, Result
from emulator_rig import serving

from stravasync.cli import cli
from stravasync.emulator import Emulator, HouseholdAthlete
from stravasync.state.accounts import read_record

pytestmark = pytest.mark.integration

EMMA, BOB = 1234567, 2345678


def household(tmp_path: Path, emulator: Emulator) -> Path:
    """Jane and Bob, two Strava accounts on the one app."""
    path = tmp_path / "config.toml"
    path.write_text(
        f'[strava]\nclient_id = "12345"\nclient_secret = "emulator-secret"\n'
        f'api_url = {json.dumps(emulator.api_url)}\noauth_url = {json.dumps(emulator.oauth_url)}\n'
        f'[state]\ndir = {json.dumps(str(tmp_path / "state"))}\n'
        f'[[accounts]]\nname = "jane"\npaths = [{json.dumps(str(tmp_path / "j"))}]\n'
        f'[[accounts]]\nname = "bob"\npaths = [{json.dumps(str(tmp_path / "b"))}]\n')
    path.chmod(0o600)
    return path


def redirected(emulator: Emulator, athlete: int) -> str:
    """The address Strava sends the athlete's browser back to, code and all."""
    query = urlencode({"client_id": "12345", "redirect_uri": "http://localhost/exchange",
                       "response_type": "code", "approval_prompt": "auto",
                       "scope": "read,activity:write,activity:read_all", "state": "s",
                       "athlete": str(athlete)})
    reply = httpx.get(f"{emulator.oauth_url}/authorize?{query}")
    assert 302 == reply.status_code, reply.text
    return reply.headers["location"]


def sign_in(config: Path, account: str, address: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), "auth", "--account", account,
                                    "--code", address])


def test_each_athlete_signs_in_to_their_own_folder(tmp_path: Path) -> None:
    """Bob's sign-in lands in accounts/bob, pinned to Bob; Jane's in the root folder."""
    with serving(athletes=(HouseholdAthlete(id=BOB, firstname="Bob"),)) as emulator:
        config = household(tmp_path, emulator)
        bob = sign_in(config, "bob", redirected(emulator, BOB))
        jane = sign_in(config, "jane", redirected(emulator, EMMA))

    assert 0 == bob.exit_code, bob.output
    assert 0 == jane.exit_code, jane.output
    state = tmp_path / "state"
    assert BOB == json.loads((state / "accounts" / "bob" / "tokens.json").read_text())[
        "athlete_id"]
    assert EMMA == json.loads((state / "tokens.json").read_text())["athlete_id"]
    assert (str(BOB), str(EMMA)) == (read_record(state / "accounts" / "bob").athlete_id,  # type: ignore[union-attr]
                                     read_record(state).athlete_id)  # type: ignore[union-attr]
    assert 0o600 == (state / "accounts" / "bob" / "tokens.json").stat().st_mode & 0o777


def test_an_athlete_under_a_second_account_name_is_refused(tmp_path: Path) -> None:
    """Bob signed in as jane too would send his workouts twice: refused, nothing stored."""
    with serving(athletes=(HouseholdAthlete(id=BOB, firstname="Bob"),)) as emulator:
        config = household(tmp_path, emulator)
        assert 0 == sign_in(config, "bob", redirected(emulator, BOB)).exit_code
        again = sign_in(config, "jane", redirected(emulator, BOB))

    assert "already signed in as account 'bob'" in str(again.exception)
    assert not (tmp_path / "state" / "tokens.json").exists()


def test_a_sign_in_for_another_athlete_never_replaces_the_accounts_tokens(
        tmp_path: Path) -> None:
    """Jane's account belongs to Emma: Bob signing in as jane is refused, Emma's tokens stay."""
    with serving(athletes=(HouseholdAthlete(id=BOB, firstname="Bob"),)) as emulator:
        config = household(tmp_path, emulator)
        assert 0 == sign_in(config, "jane", redirected(emulator, EMMA)).exit_code
        before = (tmp_path / "state" / "tokens.json").read_bytes()
        crossed = sign_in(config, "jane", redirected(emulator, BOB))

    assert ("the sign-in is for athlete 2345678, but account 'jane' belongs to athlete "
            "1234567") in str(crossed.exception)
    assert before == (tmp_path / "state" / "tokens.json").read_bytes()


def test_logout_of_one_account_leaves_the_others_signed_in(tmp_path: Path) -> None:
    """``logout --account bob`` revokes and deletes Bob's tokens only; Jane stays signed in."""
    with serving(athletes=(HouseholdAthlete(id=BOB, firstname="Bob"),)) as emulator:
        config = household(tmp_path, emulator)
        assert 0 == sign_in(config, "bob", redirected(emulator, BOB)).exit_code
        assert 0 == sign_in(config, "jane", redirected(emulator, EMMA)).exit_code
        out = CliRunner().invoke(cli, ["--config", str(config), "logout", "--account", "bob"])
        connected = emulator.inspect()["connected_athletes"]

    assert 0 == out.exit_code, out.output
    assert "Strava confirmed the sign-out." in out.output
    assert not (tmp_path / "state" / "accounts" / "bob" / "tokens.json").exists()
    assert (tmp_path / "state" / "tokens.json").exists()
    assert [EMMA] == connected  # Bob's grant is revoked at Strava, Jane's stands


def test_an_intervals_account_has_no_sign_in_to_end(tmp_path: Path) -> None:
    """``logout --account`` for intervals.icu says where its key is revoked instead."""
    config = tmp_path / "config.toml"
    key = tmp_path / "k.key"
    key.write_text("k")
    key.chmod(0o600)
    config.write_text(
        '[strava]\nclient_id = "1"\n[[accounts]]\nname = "jane-icu"\nservice = "intervals"\n'
        f'paths = ["/w"]\napi_key_file = {json.dumps(str(key))}\n')
    config.chmod(0o600)

    out = CliRunner().invoke(cli, ["--config", str(config), "logout", "--account", "jane-icu"])

    assert 2 == out.exit_code
    assert "revoke the key on intervals.icu" in out.output


def test_logout_without_an_account_signs_every_athlete_out(tmp_path: Path) -> None:
    """SPEC: without ``--account`` logout acts on all: both athletes are signed out, each named."""
    with serving(athletes=(HouseholdAthlete(id=BOB, firstname="Bob"),)) as emulator:
        config = household(tmp_path, emulator)
        assert 0 == sign_in(config, "bob", redirected(emulator, BOB)).exit_code
        assert 0 == sign_in(config, "jane", redirected(emulator, EMMA)).exit_code
        out = CliRunner().invoke(cli, ["--config", str(config), "logout"])
        connected = emulator.inspect()["connected_athletes"]

    assert 0 == out.exit_code, out.output
    assert ["bob: Deleted", "jane: Deleted"] == sorted(
        line[: line.index(":") + 9] for line in out.output.splitlines())
    assert [] == connected
    assert not (tmp_path / "state" / "tokens.json").exists()
    assert not (tmp_path / "state" / "accounts" / "bob" / "tokens.json").exists()
