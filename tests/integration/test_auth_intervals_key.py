"""``stravasync auth --account`` for an intervals.icu account: one call, whose key it is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from emulator_rig import serving

from stravasync.cli import cli
from stravasync.emulator import HouseholdAthlete
from stravasync.state.accounts import read_record

pytestmark = pytest.mark.integration

BOB = 2345678


def household(tmp_path: Path, url: str, *, jane_key: str, bob_key: str) -> Path:
    """Jane on Strava and intervals.icu, Bob on intervals.icu, keys in 0600 files."""
    keys = {}
    for name, key in (("jane", jane_key), ("bob", bob_key)):
        keys[name] = tmp_path / f"{name}.key"
        keys[name].write_text(key)
        keys[name].chmod(0o600)
    path = tmp_path / "config.toml"
    path.write_text(
        '[strava]\nclient_id = "12345"\n'
        f'[state]\ndir = {json.dumps(str(tmp_path / "state"))}\n'
        f'[[accounts]]\nname = "jane"\npaths = [{json.dumps(str(tmp_path / "j"))}]\n'
        f'[[accounts]]\nname = "jane-icu"\nservice = "intervals"\n'
        f'paths = [{json.dumps(str(tmp_path / "j"))}]\napi_url = {json.dumps(url)}\n'
        f'api_key_file = {json.dumps(str(keys["jane"]))}\n'
        f'[[accounts]]\nname = "bob-icu"\nservice = "intervals"\n'
        f'paths = [{json.dumps(str(tmp_path / "b"))}]\napi_url = {json.dumps(url)}\n'
        f'api_key_file = {json.dumps(str(keys["bob"]))}\n')
    path.chmod(0o600)
    return path


def test_a_working_key_names_its_athlete_and_is_pinned(tmp_path: Path) -> None:
    """One call says whose key it is; the athlete is recorded for the account."""
    with serving(athletes=(HouseholdAthlete(id=BOB, firstname="Bob"),)) as emulator:
        config = household(tmp_path, emulator.intervals_url,
                           jane_key=emulator.intervals_key() or "", bob_key="x")
        result = CliRunner().invoke(cli, ["--config", str(config), "auth",
                                          "--account", "jane-icu"])
        calls = [r for r in emulator.inspect()["requests"] if "/intervals/" in r["path"]]

    assert 0 == result.exit_code, result.output
    assert result.output.startswith("The intervals.icu key of account jane-icu works: it "
                                    "belongs to Emma Ulator (i1234567).")
    assert 1 == len(calls)
    record = read_record(tmp_path / "state" / "accounts" / "jane-icu")
    assert record is not None
    assert ("jane-icu", "intervals", "i1234567") == (record.name, record.service,
                                                      record.athlete_id)


def test_a_wrong_key_says_where_to_make_one_and_never_shows(tmp_path: Path) -> None:
    """A refused key stops with the key page named, and the key in no line."""
    with serving() as emulator:
        config = household(tmp_path, emulator.intervals_url, jane_key="not-the-key",
                           bob_key="x")
        result = CliRunner().invoke(cli, ["--config", str(config), "auth",
                                          "--account", "jane-icu"])

    assert isinstance(result.exception, Exception)
    assert "intervals.icu/settings" in str(result.exception)
    assert "not-the-key" not in str(result.exception) + result.output


def test_one_athletes_key_under_two_accounts_is_refused(tmp_path: Path) -> None:
    """Jane's key given to bob-icu too would send Jane's workouts twice: refused."""
    with serving() as emulator:
        key = emulator.intervals_key() or ""
        config = household(tmp_path, emulator.intervals_url, jane_key=key, bob_key=key)
        first = CliRunner().invoke(cli, ["--config", str(config), "auth", "--account",
                                         "jane-icu"])
        second = CliRunner().invoke(cli, ["--config", str(config), "auth", "--account",
                                          "bob-icu"])

    assert 0 == first.exit_code, first.output
    assert "already signed in as account 'jane-icu'" in str(second.exception)
    assert read_record(tmp_path / "state" / "accounts" / "bob-icu") is None


def test_an_unknown_account_is_a_usage_error(tmp_path: Path) -> None:
    """``--account`` must name one of the accounts."""
    config = household(tmp_path, "http://127.0.0.1:9/intervals/api/v1", jane_key="k",
                       bob_key="k")

    result = CliRunner().invoke(cli, ["--config", str(config), "auth", "--account", "jnae"])

    assert 2 == result.exit_code
    assert "no account is named 'jnae' (accounts: jane, jane-icu, bob-icu)" in result.output
