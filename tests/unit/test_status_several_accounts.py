"""``status`` over a household: every account's sign-in, counts, problems and files, by name."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from household_rig import ICU_KEY, NOW, Household, household
from strava_rig import ACCESS, REFRESH

from stravasync.cli.status_cmd import status_command
from stravasync.owner.status import gather_status, status_table
from stravasync.state.runlock import DaemonInfo, DaemonLock, write_info

RIDE_SHA = "1" * 64
BOB_SHA = "2" * 64


@pytest.fixture
def home(tmp_path: Path) -> Household:
    """jane signed in (athlete 1), bob signed out, jane-icu's key checked (i42); jane's
    ride is on Strava and retrying on intervals.icu, bob's run waits."""
    h = household(tmp_path)
    h.sign_in("jane", 1)
    h.key_checked("jane-icu", "i42")
    ride = h.jane_dir / "2026-12-05-ride.fit"
    h.uploaded("jane", ride, sha=RIDE_SHA, activity_id=123)
    h.retrying("jane-icu", ride, sha=RIDE_SHA, error="HTTP 503", at=NOW + 240)
    h.queued("bob", h.bob_dir / "run.fit", sha=BOB_SHA)
    return h


def test_each_account_shows_its_own_sign_in_counts_and_problems(home: Household) -> None:
    """bob is signed out: his entry says so and how to mend it; jane and jane-icu are fine."""
    data = gather_status(home.config, clock=lambda: NOW).data

    expected = [
        ("jane", "strava", 1, {"uploaded": 1}, []),
        ("bob", "strava", None, {"queued": 1},
         ["bob: signed out of Strava — run `stravasync auth --account bob`"]),
        ("jane-icu", "intervals", "i42", {"retrying": 1}, []),
    ]
    assert expected == [(a["name"], a["service"], (a["auth"] or {}).get("athlete_id"),
                         a["counts"], a["problems"]) for a in data["accounts"]]
    assert {"key_configured": True, "key_source": "file", "athlete_id": "i42",
            "key_refused": False} == \
        data["accounts"][2]["auth"]
    assert data["accounts"][0]["auth"] == data["auth"]
    assert [("auth", "bob")] == [(e["kind"], e["account"]) for e in data["needs_you"]]


def test_files_hold_one_entry_per_file_and_account(home: Household) -> None:
    """jane's ride is listed for jane and for jane-icu, each with its own state."""
    data = gather_status(home.config, clock=lambda: NOW).data

    ride, run = str(home.jane_dir / "2026-12-05-ride.fit"), str(home.bob_dir / "run.fit")
    assert sorted([(ride, "jane", "uploaded"), (ride, "jane-icu", "retrying"),
                   (run, "bob", "queued")]) == sorted(
        (f["path"], f["account"], f["state"]) for f in data["files"])


def test_status_account_shows_only_that_account(home: Household) -> None:
    """``status --json --account jane-icu``: its files and its entry alone."""
    result = home.invoke(status_command, "--json", "--account", "jane-icu")

    assert 0 == result.exit_code, result.output
    data = json.loads(result.stdout)
    assert ["jane-icu"] == [a["name"] for a in data["accounts"]]
    assert [("jane-icu", "retrying")] == [(f["account"], f["state"]) for f in data["files"]]
    assert [] == data["needs_you"]


def test_an_unknown_account_is_a_usage_error_naming_the_known_ones(home: Household) -> None:
    """``status --account nobody`` exits 2 and lists the configured names."""
    result = home.invoke(status_command, "--account", "nobody")

    assert 2 == result.exit_code
    assert "jane, bob, jane-icu" in result.output


def test_one_line_tells_a_ride_on_strava_but_not_yet_on_intervals(home: Household) -> None:
    """The human table's line for the ride: uploaded for jane, retrying (and why) for
    jane-icu."""
    lines = status_table(gather_status(home.config, clock=lambda: NOW))

    ride = str(home.jane_dir / "2026-12-05-ride.fit")
    expected = (f"{ride}   jane: uploaded (activity 123)   "
                "jane-icu: retrying in 4 min — HTTP 503")
    assert expected in lines


def test_the_human_table_names_the_signed_out_account_under_needs_you(
    home: Household,
) -> None:
    """bob's sign-in is a "Needs you" line naming bob and his command."""
    lines = status_table(gather_status(home.config, clock=lambda: NOW))

    needs = lines[lines.index("Needs you:") + 1]
    assert "  bob: signed out of Strava — run `stravasync auth --account bob`" == needs


def test_a_file_an_account_has_not_recorded_yet_says_so(home: Household) -> None:
    """A file in jane's folder recorded for jane only: jane-icu shows ``not seen yet``."""
    late = home.jane_dir / "late.fit"
    home.queued("jane", late, sha="3" * 64)

    lines = status_table(gather_status(home.config, clock=lambda: NOW))

    assert f"{late}   jane: queued   jane-icu: not seen yet" in lines


def test_no_key_and_no_token_in_any_output(home: Household) -> None:
    """Neither the intervals.icu key nor a Strava token shows in ``status`` of any kind."""
    shown = [home.invoke(status_command, *args).output
             for args in ((), ("--json",), ("--all",), ("--account", "jane-icu"),
                          ("--json", "--account", "jane"))]

    for secret in (ICU_KEY, ACCESS, REFRESH):
        assert [] == [text for text in shown if secret in text]
    assert all(out.strip() for out in shown)


def test_the_first_line_counts_each_file_once(home: Household) -> None:
    """Two files, each waiting for some account: "2 of 2 files waiting", not a count of
    file and account pairs."""
    lines = status_table(gather_status(home.config, clock=lambda: NOW))

    assert "2 of 2 files waiting" in lines[0]


def test_a_hostile_file_name_cannot_drive_the_terminal(home: Household) -> None:
    """A name holding ESC and a newline shows escaped on its one line per account."""
    evil = home.jane_dir / "ride\x1b]0;owned\x07\nfake.fit"
    home.queued("jane", evil, sha="4" * 64)

    text = "\n".join(status_table(gather_status(home.config, clock=lambda: NOW)))

    assert "\x1b" not in text
    assert "ride\\x1b]0;owned\\x07\\nfake.fit   jane: queued   jane-icu: not seen yet" in text


def test_the_top_level_auth_stays_the_first_strava_accounts_under_a_filter(
    home: Household,
) -> None:
    """``status --json --account jane-icu``: ``auth`` is still jane's, as 0.2 scripts read."""
    data = json.loads(home.invoke(status_command, "--json", "--account", "jane-icu").stdout)

    assert 1 == data["auth"]["athlete_id"]


def test_a_configuration_mistake_is_listed_once_and_names_no_account(home: Household) -> None:
    """A config problem is the daemon's, not one account's: no ``account`` on its entry."""
    data = gather_status(home.config, clock=lambda: NOW, config_error="a typo").data

    assert {"kind": "config", "message": "a typo", "since": None} == data["needs_you"][0]
    assert ["a typo"] == [e["message"] for e in data["needs_you"] if e["kind"] == "config"]


def test_watch_lists_the_folders_every_account_reported(home: Household) -> None:
    """The running daemon reported jane's folder in hers and bob's in his daemon.json:
    ``watch`` lists both, bob's unreadable one under "Needs you" once."""
    bob = {"path": str(home.bob_dir), "state": "unreadable", "mode": "events",
           "error": "permission denied"}
    jane = {"path": str(home.jane_dir), "state": "ok", "mode": "events", "error": None}
    lock = DaemonLock(home.config.state_dir)
    lock.acquire()
    try:
        write_info(home.folders["jane"], DaemonInfo(pid=os.getpid(), since=NOW, version="x",
                                                    watch=[jane], account="jane"))
        write_info(home.folders["bob"], DaemonInfo(
            pid=os.getpid(), since=NOW, version="x", watch=[bob], account="bob",
            problems={f"folder:{home.bob_dir}": f"{home.bob_dir}: permission denied"}))
        write_info(home.folders["jane-icu"], DaemonInfo(
            pid=os.getpid(), since=NOW, version="x", watch=[jane], account="jane-icu"))
        data = gather_status(home.config, clock=lambda: NOW).data
    finally:
        lock.release()

    assert [jane, bob] == data["watch"]
    assert [("folder", str(home.bob_dir))] == [
        (e["kind"], e.get("path")) for e in data["needs_you"] if e["kind"] != "auth"]


def test_a_broken_config_still_shows_status_under_a_filter(home: Household) -> None:
    """``status --account bob`` with a typo in the file: the status of the last good state
    folder and the mistake, not a usage error about a name the broken file cannot tell."""
    home.config_path.write_text(home.config_path.read_text() + "[typo\n")

    result = home.invoke(status_command, "--account", "bob")

    assert 0 == result.exit_code, result.output
    assert "has a mistake" in result.output.splitlines()[0]


def test_an_intervals_activity_shows_by_the_id_it_has_there() -> None:
    """intervals.icu names its activities ``i`` and a number: status shows them that way."""
    from stravasync.owner.accounts_table import for_person
    from stravasync.state import FileStatus, State

    done = FileStatus(path="/d/ride.fit", sha256="a" * 64, state=State.UPLOADED,
                      upload_id=None, activity_id=999, error=None, attempts=1,
                      next_attempt_at=None)

    assert "uploaded (activity i999)" == for_person(done, due=None, now=0.0,
                                                    service="intervals")
    assert "uploaded (activity 999)" == for_person(done, due=None, now=0.0)
