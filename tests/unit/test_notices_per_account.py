"""Several accounts: each notice and each "needs you" line names its account, one each."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from household_rig import ICU_KEY, NOW, Household, household

from stravasync.errors import KeyRefused, NotSignedIn
from stravasync.owner.attention import Attention
from stravasync.owner.notices import Notices
from stravasync.owner.status import gather_status, status_table
from stravasync.state.runlock import DaemonLock
from stravasync.strava.tokens import TokenStore

SETTLE = 20.0
"""Seconds a test waits at most for the notice worker: never a timing assertion."""


class Told:
    """Every notice POSTed, as (title, body)."""

    def __init__(self) -> None:
        self.notices: list[tuple[str, str]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.notices.append((request.headers["Title"], request.content.decode()))
        return httpx.Response(200)


@pytest.fixture
def told() -> Told:
    """What the notice receiver got."""
    return Told()


@pytest.fixture
def notices(tmp_path: Path, told: Told) -> Iterator[Notices]:
    """One Notices for the daemon, paced an hour per kind (a second notice of an account
    would be held until the close)."""
    n = Notices(url="https://ntfy.example/t", command=(), on=("problem", "uploaded"),
                state_path=tmp_path / "notices.json",
                transport=httpx.MockTransport(told.handler), window_s=3600.0)
    yield n
    n.close(SETTLE)


def voice(notices: Notices, folder: Path, name: str, service: str = "strava", *,
          started: float = NOW - 60) -> Attention:
    """The Attention of account ``name`` on its ``folder``, its daemon ``started`` then."""
    return Attention(notices=notices, state_dir=folder, api_url="https://www.strava.com/api/v3",
                     clock=lambda: started, account=name, service=service)


def test_two_accounts_signed_out_are_two_notices_at_once_each_naming_its_account(
    tmp_path: Path, notices: Notices, told: Told,
) -> None:
    """jane and bob both signed out: two notices, neither held back, each with its command."""
    for name in ("jane", "bob"):
        voice(notices, tmp_path / name, name).halted(NotSignedIn("Run `stravasync auth`."))

    assert notices.flush(SETTLE)  # nothing held for the end of the minute
    assert [("stravasync: jane: Strava sign-in needed",
             "jane: signed out of Strava — run `stravasync auth --account jane`"),
            ("stravasync: bob: Strava sign-in needed",
             "bob: signed out of Strava — run `stravasync auth --account bob`")] == told.notices


def test_the_athlete_cap_tells_the_app_owner_where_to_raise_it(
    tmp_path: Path, notices: Notices, told: Told,
) -> None:
    """bob beyond the app's athlete cap: the notice names bob, the settings page and 10."""
    voice(notices, tmp_path / "bob", "bob").dead_end("athlete_limit")

    assert notices.flush(SETTLE)
    assert [("stravasync: bob: Strava athlete cap reached",
             "bob: the Strava app's athlete cap is reached — the app's owner raises the cap "
             "in the app's settings on https://www.strava.com/settings/api (up to 10 "
             "athletes), then run `stravasync auth --account bob`")] == told.notices


def test_a_refused_intervals_key_says_where_to_make_a_new_one(
    tmp_path: Path, notices: Notices, told: Told,
) -> None:
    """jane-icu's key refused: one notice naming the account and intervals.icu's page."""
    icu = voice(notices, tmp_path / "jane-icu", "jane-icu", "intervals")
    icu.halted(KeyRefused("intervals.icu answered 401", account="jane-icu"))
    icu.halted(KeyRefused("intervals.icu answered 401", account="jane-icu"))

    assert notices.flush(SETTLE)
    assert [("stravasync: jane-icu: intervals.icu key refused",
             "jane-icu: intervals.icu refused the API key — make a new key at intervals.icu "
             "→ Settings → Developer Settings, then run `stravasync auth --account "
             "jane-icu`")] == told.notices


def test_status_reads_the_needs_record_of_every_account_folder(
    tmp_path: Path, notices: Notices,
) -> None:
    """The running daemon's jane-icu halted on its key: status lists it by name, beside
    bob's sign-in, and the key itself shows nowhere."""
    home: Household = household(tmp_path)
    home.sign_in("jane", 1)
    lock = DaemonLock(home.config.state_dir)
    lock.acquire()
    try:
        for name in ("jane", "jane-icu"):
            service = "intervals" if name == "jane-icu" else "strava"
            voice(notices, home.folders[name], name, service).publish()
        icu = voice(notices, home.folders["jane-icu"], "jane-icu", "intervals")
        icu.halted(KeyRefused(f"key {ICU_KEY} refused", account="jane-icu"))
        status = gather_status(home.config, clock=lambda: NOW)
    finally:
        lock.release()

    assert [("auth", "bob"), ("auth", "jane-icu")] == [
        (e["kind"], e["account"]) for e in status.data["needs_you"]]
    assert [True] == [a["auth"]["key_refused"] for a in status.data["accounts"]
                      if a["service"] == "intervals"]
    lines = status_table(status)
    needs = lines[lines.index("Needs you:") + 1:lines.index("Needs you:") + 3]
    assert ["  bob: signed out of Strava — run `stravasync auth --account bob`",
            "  jane-icu: intervals.icu refused the API key — make a new key at intervals.icu "
            "→ Settings → Developer Settings, then run `stravasync auth --account "
            "jane-icu`"] == needs
    assert "  jane-icu (intervals.icu): key from its file, athlete not checked yet (run " \
        "`stravasync auth --account jane-icu`); REFUSED by intervals.icu (see Needs you)" \
        in lines
    assert ICU_KEY not in repr(status.data) + "\n".join(lines)


def test_a_sign_in_without_upload_permission_is_that_accounts_problem(tmp_path: Path) -> None:
    """jane's sign-in lost activity:write: status names jane and the way to grant it."""
    home = household(tmp_path)
    home.sign_in("jane", 1)
    home.sign_in("bob", 2)
    TokenStore(state_dir=home.folders["jane"]).mark_dead("scope_missing")

    data = gather_status(home.config, clock=lambda: NOW).data

    assert [["jane: the Strava sign-in lacks permission to upload — run `stravasync auth "
             "--account jane` and leave 'Upload your activities' ticked"], [], []] == [
        a["problems"] for a in data["accounts"]]


def test_an_intervals_upload_notice_says_intervals_and_names_the_account(
    tmp_path: Path, notices: Notices, told: Told,
) -> None:
    """jane-icu's ride uploaded: "jane-icu: ride.fit is on intervals.icu", not Strava."""
    home = household(tmp_path)
    ride = home.jane_dir / "ride.fit"
    home.uploaded("jane-icu", ride, sha="1" * 64, activity_id=999)
    icu = voice(notices, home.folders["jane-icu"], "jane-icu", "intervals", started=NOW - 200)
    store = home.store("jane-icu")
    try:
        icu.finished(store)
    finally:
        store.close()

    assert notices.flush(SETTLE)
    assert [("stravasync: jane-icu: Uploaded",
             "jane-icu: ride.fit is on intervals.icu: activity 999")] == told.notices
