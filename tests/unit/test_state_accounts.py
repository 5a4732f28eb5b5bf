"""Account folders: who owns the root state folder, and no athlete acts for another."""

from __future__ import annotations

from pathlib import Path

import pytest

from stravasync.config.accounts import Account
from stravasync.errors import StateError
from stravasync.state.accounts import (
    AccountRecord,
    account_folders,
    athlete_problem,
    read_record,
    write_record,
)

JANE = Account(name="jane", paths=(Path("/w/jane"),))
BOB = Account(name="bob", paths=(Path("/w/bob"),))
ICU = Account(name="jane-icu", service="intervals", paths=(Path("/w/jane"),))


def test_a_02_folder_belongs_to_me(tmp_path: Path) -> None:
    """Without a record, ``me`` keeps the root folder: a 0.2 state folder is its own."""
    me = Account(name="me", paths=(Path("/w"),))

    assert {"me": tmp_path, "bob": tmp_path / "accounts" / "bob"} \
        == account_folders(tmp_path, [BOB, me])


def test_without_me_the_first_strava_account_takes_the_root(tmp_path: Path) -> None:
    """An intervals.icu account listed first does not inherit Strava tokens."""
    assert {"jane-icu": tmp_path / "accounts" / "jane-icu", "jane": tmp_path,
            "bob": tmp_path / "accounts" / "bob"} == account_folders(tmp_path, [ICU, JANE, BOB])


def test_the_root_stays_with_its_recorded_account_when_the_order_changes(
        tmp_path: Path) -> None:
    """Reordering ``[[accounts]]`` never hands jane's root folder to bob."""
    write_record(tmp_path, AccountRecord(name="jane", service="strava", athlete_id="111"))

    assert tmp_path == account_folders(tmp_path, [BOB, JANE])["jane"]
    assert tmp_path / "accounts" / "bob" == account_folders(tmp_path, [BOB, JANE])["bob"]
    assert 0o600 == (tmp_path / "account.json").stat().st_mode & 0o777


def test_a_recorded_owner_that_is_gone_is_refused(tmp_path: Path) -> None:
    """A renamed account is refused with the way out, not silently given a new folder."""
    write_record(tmp_path, AccountRecord(name="jane", service="strava", athlete_id="111"))

    with pytest.raises(StateError, match="belongs to the account 'jane', which the "
                                         "configuration no longer names"):
        account_folders(tmp_path, [BOB, Account(name="janet", paths=(Path("/w/j"),))])


def test_a_damaged_record_says_what_to_do(tmp_path: Path) -> None:
    """An unreadable record is a StateError telling the owner to move it aside."""
    (tmp_path / "account.json").write_text("{not json")

    with pytest.raises(StateError, match="move it aside"):
        read_record(tmp_path)


def test_a_sign_in_for_another_athlete_is_refused() -> None:
    """A token for athlete 222 never acts for jane, whose folder is pinned to 111."""
    records = {"jane": AccountRecord("jane", "strava", "111"), "bob": None}

    assert athlete_problem(account="jane", service="strava", athlete_id="222",
                           records=records) == (
        "the sign-in is for athlete 222, but account 'jane' belongs to athlete 111: sign in "
        "as that athlete, or give this athlete an account of their own")
    assert None is athlete_problem(account="jane", service="strava", athlete_id="111",
                                   records=records)


def test_one_athlete_under_two_account_names_is_refused() -> None:
    """Jane signed in as bob too would send every shared workout twice: refused."""
    records = {"jane": AccountRecord("jane", "strava", "111"), "bob": None,
               "jane-icu": AccountRecord("jane-icu", "intervals", "111")}

    assert "already signed in as account 'jane'" in (athlete_problem(
        account="bob", service="strava", athlete_id="111", records=records) or "")
    assert None is athlete_problem(account="bob", service="strava", athlete_id="333",
                                   records=records)


def test_every_folder_made_for_an_account_is_private(tmp_path: Path) -> None:
    """The state folder, ``accounts/`` and the account's folder are all 0700 when made."""
    write_record(tmp_path / "state" / "accounts" / "bob",
                 AccountRecord(name="bob", service="strava", athlete_id="2"))

    modes = [(tmp_path / sub).stat().st_mode & 0o777
             for sub in ("state", "state/accounts", "state/accounts/bob")]
    assert [0o700, 0o700, 0o700] == modes
