"""``[[accounts]]``: reading them, refusing what would cross accounts, and routing files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from stravasync.cli import cli, main
from stravasync.config.accounts import Account, key_variable, routes_for
from stravasync.config.rules import settings_for
from stravasync.config.settings import (
    Config,
    LogConfig,
    StravaConfig,
    UploadConfig,
    WatchConfig,
    config_from_dict,
)
from stravasync.errors import ConfigError
from stravasync.logs import redact_text
from stravasync.stack import only_account

KEY = "k3y-0f-jane-1cu-s3cr3t"


def household(tmp_path: Path, **extra: object) -> dict[str, object]:
    """SPEC's household: jane and bob on Strava, jane's folder to intervals.icu too."""
    key_file = tmp_path / "jane.key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    data: dict[str, object] = {
        "strava": {"client_id": "12345"},
        "accounts": [
            {"name": "jane", "service": "strava",
             "paths": [str(tmp_path / "jane"), str(tmp_path / "zwift")]},
            {"name": "bob", "paths": [str(tmp_path / "bob")]},
            {"name": "jane-icu", "service": "intervals", "paths": [str(tmp_path / "jane")],
             "api_key_file": str(key_file)},
        ],
    }
    data.update(extra)
    return data


def problems_of(data: dict[str, object], env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config_from_dict(data, env=env or {"HOME": "/home/ann"})
    return caught.value.problems


def test_a_config_without_accounts_is_one_strava_account_named_me() -> None:
    """A 0.2 config is the one Strava account ``me`` whose folders are ``[watch] paths``."""
    config = config_from_dict({"strava": {"client_id": "1"},
                               "watch": {"paths": ["/data/garmin", "/data/zwift"]}}, env={})

    assert (Account(name="me", paths=(Path("/data/garmin"), Path("/data/zwift"))),) \
        == config.accounts
    assert (Path("/data/garmin"), Path("/data/zwift")) == config.watch.paths


def test_the_household_of_the_spec_is_read(tmp_path: Path) -> None:
    """Names, services, folders and the intervals.icu defaults come through as written."""
    config = config_from_dict(household(tmp_path), env={"HOME": str(tmp_path)})

    assert ["jane", "bob", "jane-icu"] == [a.name for a in config.accounts]
    assert ["strava", "strava", "intervals"] == [a.service for a in config.accounts]
    icu = config.accounts[2]
    assert ("0", "https://intervals.icu/api/v1", KEY, "file") == (
        icu.athlete_id, icu.api_url, icu.api_key, icu.api_key_source)
    assert [tmp_path / "jane", tmp_path / "zwift", tmp_path / "bob"] == list(config.watch.paths)


def test_watch_paths_belong_to_the_first_account(tmp_path: Path) -> None:
    """``[watch] paths`` are added to the first account, not to every account."""
    data = household(tmp_path, watch={"paths": [str(tmp_path / "usb")]})
    config = config_from_dict(data, env={"HOME": str(tmp_path)})

    assert [tmp_path / "usb", tmp_path / "jane", tmp_path / "zwift"] \
        == list(config.accounts[0].paths)
    assert [(a.name) for a in routes_for(config.accounts, tmp_path / "usb" / "x.fit")] \
        == ["jane"]


def test_bad_names_services_and_keys_are_all_reported(tmp_path: Path) -> None:
    """Every mistake in the accounts comes back at once, each with its key path."""
    data = {
        "strava": {"client_id": "1"},
        "accounts": [
            {"name": "Jane Doe", "paths": ["/data/a"]},
            {"name": "bob", "service": "garmin", "paths": ["/data/b"]},
            {"name": "bob", "paths": ["/data/c"], "api_key_file": "/k"},
            {"name": "icu", "service": "intervals", "paths": ["/data/d"],
             "athlete_id": "jane"},
            {"name": "empty", "paths": []},
        ],
    }
    problems = problems_of(data)

    assert any(p.startswith("accounts[0].name: must be 1 to 32 of a-z") for p in problems)
    assert any(p.startswith("accounts[1].service: must be one of strava, intervals")
               for p in problems)
    assert any(p.startswith("accounts[2].name: 'bob' is used by an earlier account")
               for p in problems)
    assert any(p.startswith('accounts[2].api_key_file: unknown key (only for service = '
                            '"intervals")') for p in problems)
    assert any(p.startswith("accounts[3].athlete_id: must be \"0\"") for p in problems)
    assert any(p.startswith("accounts[3]: an intervals.icu account needs its API key")
               and "$STRAVASYNC_INTERVALS_KEY_ICU" in p for p in problems)
    assert any(p.startswith("accounts[4].paths: the account holds no folder")
               for p in problems)


def test_nested_folders_of_two_accounts_are_refused() -> None:
    """A folder inside another account's folder would send its files to both athletes."""
    data = {"strava": {"client_id": "1"},
            "accounts": [{"name": "jane", "paths": ["/data/sync"]},
                         {"name": "bob", "paths": ["/data/sync/bob"]}]}

    assert ["accounts[0].paths: /data/sync (jane) holds /data/sync/bob, a folder of bob: "
            "files there would go to both accounts; give each account its own folders, or "
            "the very same folder to both"] == problems_of(data)


def test_the_same_folder_may_belong_to_several_accounts() -> None:
    """Two accounts on one folder is how one file goes to Strava and intervals.icu."""
    data = {"strava": {"client_id": "1"},
            "accounts": [{"name": "jane", "paths": ["/data/sync"]},
                         {"name": "jane-icu", "service": "intervals", "paths": ["/data/sync/"]}]}
    config = config_from_dict(data, env={"STRAVASYNC_INTERVALS_KEY_JANE_ICU": KEY})

    assert ["jane", "jane-icu"] == [a.name for a in routes_for(config.accounts,
                                                                "/data/sync/a/ride.fit")]
    assert (KEY, "env") == (config.accounts[1].api_key, config.accounts[1].api_key_source)


def test_a_key_file_others_can_read_is_a_warning(tmp_path: Path) -> None:
    """A world-readable key file works, with a warning that says how to fix it."""
    data = household(tmp_path)
    (tmp_path / "jane.key").chmod(0o644)
    config = config_from_dict(data, env={"HOME": str(tmp_path)})

    assert [f"{tmp_path / 'jane.key'} holds jane-icu's intervals.icu API key and is readable "
            f"by other users: run `chmod 600 {tmp_path / 'jane.key'}`"] == list(config.warnings)


def test_the_api_key_never_shows(tmp_path: Path) -> None:
    """The key is in no repr, no ``config`` output (text or JSON), and no log line."""
    config = config_from_dict(household(tmp_path), env={"HOME": str(tmp_path)})
    path = tmp_path / "config.toml"
    path.write_text(_toml(household(tmp_path)))
    path.chmod(0o600)

    text = CliRunner().invoke(cli, ["--config", str(path), "config"])
    as_json = CliRunner().invoke(cli, ["--config", str(path), "config", "--json"])

    assert 0 == text.exit_code, text.output
    assert KEY not in repr(config) + text.output + as_json.output
    assert "api_key = \"*** (from file)\"" in text.output
    assert ["jane", "bob", "jane-icu"] == [a["name"] for a in json.loads(as_json.stdout)
                                           ["accounts"]]
    assert KEY not in redact_text(f"sending with key {KEY}")


def test_the_key_variable_is_named_after_the_account() -> None:
    """``jane-icu`` reads ``$STRAVASYNC_INTERVALS_KEY_JANE_ICU``."""
    assert "STRAVASYNC_INTERVALS_KEY_JANE_ICU" == key_variable("jane-icu")


# Routing: the worst bug is a workout on another athlete's account.

def test_a_name_that_only_starts_like_a_folder_is_not_in_it() -> None:
    """``/data/jane-bike`` is not inside ``/data/jane``: routing compares whole names."""
    jane = Account(name="jane", paths=(Path("/data/jane"),))
    bob = Account(name="bob", paths=(Path("/data/jane-bike"),))

    assert [bob] == list(routes_for((jane, bob), "/data/jane-bike/ride.fit"))
    assert [jane] == list(routes_for((jane, bob), "/data/jane/../jane/ride.fit"))
    assert [] == list(routes_for((jane, bob), "/data/jane/../bob/ride.fit"))


_PART = st.sampled_from(["a", "b", "ab", "a-b", "A", "b.fit", "ä", "a b"])
_FOLDER = st.lists(_PART, min_size=1, max_size=3).map(lambda parts: "/w/" + "/".join(parts))


@settings(max_examples=300, deadline=None)
@given(folders=st.lists(st.lists(_FOLDER, min_size=1, max_size=3), min_size=1, max_size=4),
       file_parts=st.lists(_PART, min_size=1, max_size=5))
def test_a_file_goes_exactly_to_the_accounts_whose_folders_hold_it(
        folders: list[list[str]], file_parts: list[str]) -> None:
    """For any folders and any file, the routes are the accounts with a folder above it."""
    accounts = [Account(name=f"a{i}", paths=tuple(Path(f) for f in fs))
                for i, fs in enumerate(folders)]
    path = "/w/" + "/".join(file_parts)
    above = {"/w/" + "/".join(file_parts[:n]) for n in range(1, len(file_parts) + 1)}
    expected = [a.name for a, fs in zip(accounts, folders, strict=True)
                if any(f in above for f in fs)]

    assert expected == [a.name for a in routes_for(accounts, path)]


# Rules gain `account` and `service`.

def test_rules_can_name_an_account_and_a_service(tmp_path: Path) -> None:
    """A rule for jane applies to jane's upload only; one for intervals only there."""
    data = household(tmp_path, rules=[
        {"account": "jane", "set": {"name": "Jane's ride"}},
        {"service": "intervals", "set": {"description": "from stravasync"}},
    ])
    config = config_from_dict(data, env={"HOME": str(tmp_path)})
    path = tmp_path / "jane" / "ride.fit"

    def names(account: str, service: str) -> tuple[str | None, str | None]:
        s = settings_for(config.rules, path=path, facts=None, account=account, service=service)
        return s.name, s.description

    assert ("Jane's ride", None) == names("jane", "strava")
    assert (None, None) == names("bob", "strava")
    assert (None, "from stravasync") == names("jane-icu", "intervals")


def test_a_rule_naming_no_account_is_refused(tmp_path: Path) -> None:
    """A rule for an account that does not exist would never apply: say so."""
    problems = problems_of(household(tmp_path, rules=[
        {"account": "jne", "set": {"name": "x"}}, {"service": "garmin", "set": {"name": "x"}}]),
        env={"HOME": str(tmp_path)})

    assert ["rules[0].account: no account is named 'jne' (accounts: jane, bob, jane-icu)",
            "rules[1].service: must be one of strava, intervals, got 'garmin'"] == problems


# Until the routing of several accounts is built, nothing may be sent for them.

def test_one_sign_in_commands_ask_which_account_of_several(tmp_path: Path) -> None:
    """Acting on "the" sign-in is refused with several accounts: the person names one."""
    several = config_from_dict(household(tmp_path), env={"HOME": str(tmp_path)})
    one = config_from_dict({"strava": {"client_id": "1"},
                            "accounts": [{"name": "jane", "paths": ["/data/j"]}]}, env={})

    assert "jane" == only_account(one).name
    with pytest.raises(ConfigError, match=r"several accounts \(jane \(strava\), bob \(strava\), "
                                          r"jane-icu \(intervals\)\): name one with --account"):
        only_account(several)


def test_run_once_with_nobody_signed_in_exits_1_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``run --once`` of a household nobody signed in to stops at once, before any state."""
    data = household(tmp_path, state={"dir": str(tmp_path / "state")})
    for folder in ("jane", "bob", "zwift"):
        (tmp_path / folder).mkdir()
    path = tmp_path / "config.toml"
    path.write_text(_toml(data))
    path.chmod(0o600)

    with pytest.raises(SystemExit) as exited:
        main(["--config", str(path), "run", "--once"])

    assert 1 == exited.value.code
    err = capsys.readouterr().err
    assert "stravasync auth" in err
    assert not (tmp_path / "state").exists()


def _toml(data: dict[str, object]) -> str:
    """Just enough TOML for these tables (strings, lists of strings, arrays of tables)."""
    lines: list[str] = []
    for key, value in data.items():
        rows = value if isinstance(value, list) else [value]
        for row in rows:
            assert isinstance(row, dict)
            lines.append(f"[[{key}]]" if isinstance(value, list) else f"[{key}]")
            for k, v in row.items():
                if isinstance(v, dict):
                    continue
                lines.append(f"{k} = {json.dumps(v)}")
            for k, v in row.items():
                if isinstance(v, dict):
                    lines.append(f"[{key}.{k}]")
                    lines.extend(f"{kk} = {json.dumps(vv)}" for kk, vv in v.items())
    return "\n".join(lines) + "\n"


def test_a_config_built_by_hand_has_its_one_account() -> None:
    """A Config made in code (tests, the demo) is the 0.2 shape: ``me`` on its watch paths."""
    config = Config(strava=StravaConfig(client_id="1"), watch=WatchConfig(paths=(Path("/w"),)),
                    upload=UploadConfig(), state_dir=Path("/s"), log=LogConfig())

    assert (Account(name="me", paths=(Path("/w"),)),) == config.accounts


def test_check_applies_the_rules_of_the_account_that_holds_the_file(tmp_path: Path) -> None:
    """``check`` matches a rule's ``account`` against the account whose folder holds the file."""
    from stravasync.demo.samples import sample_fit

    (tmp_path / "jane").mkdir()
    ride = tmp_path / "jane" / "ride.fit"
    ride.write_bytes(sample_fit(start=datetime.now(UTC) - timedelta(days=1)))
    path = tmp_path / "config.toml"
    path.write_text(_toml({
        "strava": {"client_id": "1"},
        "accounts": [{"name": "jane", "paths": [str(tmp_path / "jane")]}],
        "rules": [{"account": "jane", "set": {"name": "Jane's ride"}},
                  {"service": "intervals", "set": {"name": "never here"}}],
    }))
    path.chmod(0o600)

    result = CliRunner().invoke(cli, ["--config", str(path), "check", "--json", str(ride)])

    assert 0 == result.exit_code, result.output
    assert "Jane's ride" == json.loads(result.stdout)["rules"]["name"]


def test_needs_you_names_the_configured_account() -> None:
    """A problem of the account (not of a file) names the account as configured."""
    from stravasync.owner.needs import needs_you

    entries = needs_you(problems={"auth:signed_out": "sign in again"}, since={}, files=[],
                        state_dir=Path("/s"), account="jane", config_error="a typo")

    assert [("config", "jane"), ("auth", "jane")] == [(e["kind"], e["account"])
                                                     for e in entries]
