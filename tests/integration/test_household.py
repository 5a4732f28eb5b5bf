"""A household on one Strava app: each file reaches exactly the athletes whose folders hold it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from daemon_rig import seed_tokens
from emulator_rig import serving
from fit_tool.profile.profile_type import Sport
from fixtures import fit_bytes, gpx_text
from household_rig import starts_of

from stravasync.cli import main
from stravasync.emulator import Emulator, HouseholdAthlete, Knobs
from stravasync.state.accounts import read_record

pytestmark = pytest.mark.integration

JANE, BOB = 1234567, 2345678
DAY0 = (datetime.now(UTC) - timedelta(days=10)).replace(hour=7, minute=0, second=0, microsecond=0)
"""Ten days ago: within ``watch.max_age_days`` whatever day the suite runs."""


def household(tmp_path: Path, emulator: Emulator, *, after: str = "keep") -> Path:
    """Jane (her folder and the shared one) and Bob (his folder and the shared one)."""
    for folder in ("jane", "bob", "shared", "archive"):
        (tmp_path / folder).mkdir(exist_ok=True)
    path = tmp_path / "config.toml"
    path.write_text(
        f'[strava]\nclient_id = "12345"\nclient_secret = "emulator-secret"\n'
        f'api_url = {json.dumps(emulator.api_url)}\noauth_url = {json.dumps(emulator.oauth_url)}\n'
        f'[state]\ndir = {json.dumps(str(tmp_path / "state"))}\n'
        f'[upload]\nafter = "{after}"\narchive_dir = {json.dumps(str(tmp_path / "archive"))}\n'
        f'[[accounts]]\nname = "jane"\npaths = [{json.dumps(str(tmp_path / "jane"))}, '
        f'{json.dumps(str(tmp_path / "shared"))}]\n'
        f'[[accounts]]\nname = "bob"\npaths = [{json.dumps(str(tmp_path / "bob"))}, '
        f'{json.dumps(str(tmp_path / "shared"))}]\n')
    path.chmod(0o600)
    return path


def with_intervals(config: Path, tmp_path: Path, emulator: Emulator) -> None:
    """Add jane-icu: Jane's own folder to her intervals.icu (the key comes from the env)."""
    with config.open("a") as text:
        text.write(f'[[accounts]]\nname = "jane-icu"\nservice = "intervals"\n'
                   f'paths = [{json.dumps(str(tmp_path / "jane"))}]\n'
                   f'api_url = {json.dumps(emulator.intervals_url)}\n')


def sign_in(emulator: Emulator, folder: Path, athlete: int) -> None:
    """Store the athlete's tokens in ``folder``, as ``auth --account`` would."""
    seed_tokens(emulator, folder, athlete=athlete)


def drop(folder: Path, day: int) -> float:
    """A workout started ``day`` days after DAY0, in ``folder``; its start (Unix time)."""
    start = DAY0 + timedelta(days=day)
    (folder / f"ride-{day}.fit").write_bytes(fit_bytes(start=start, points=20))
    return start.timestamp()


def test_each_file_lands_on_exactly_the_athletes_whose_folders_hold_it(tmp_path: Path) -> None:
    """Jane's, Bob's and the shared folder's files: each athlete gets theirs, once each."""
    knobs = Knobs(processing_min_s=0.1, processing_max_s=0.3)
    with serving(athletes=(HouseholdAthlete(id=BOB, firstname="Bob"),), knobs=knobs) as emulator:
        config = household(tmp_path, emulator)
        state = tmp_path / "state"
        sign_in(emulator, state, JANE)
        sign_in(emulator, state / "accounts" / "bob", BOB)
        jane_only = [drop(tmp_path / "jane", d) for d in (1, 2)]
        bob_only = [drop(tmp_path / "bob", d) for d in (3, 4)]
        both = [drop(tmp_path / "shared", d) for d in (5, 6)]

        with pytest.raises(SystemExit) as first:
            main(["--config", str(config), "run", "--once"])
        with pytest.raises(SystemExit) as again:
            main(["--config", str(config), "run", "--once"])

        assert (0, 0) == (first.value.code, again.value.code)
        assert sorted(jane_only + both) == starts_of(emulator, JANE)
        assert sorted(bob_only + both) == starts_of(emulator, BOB)
        assert str(BOB) == getattr(read_record(state / "accounts" / "bob"), "athlete_id", None)
        assert str(JANE) == getattr(read_record(state), "athlete_id", None)


def test_a_token_file_of_another_athlete_sends_nothing_for_that_account(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Bob's folder holding Jane's tokens: nothing goes out for Bob; Jane's files still go."""
    with serving(athletes=(HouseholdAthlete(id=BOB, firstname="Bob"),)) as emulator:
        config = household(tmp_path, emulator)
        state = tmp_path / "state"
        sign_in(emulator, state, JANE)
        sign_in(emulator, state / "accounts" / "bob", JANE)  # copied by hand: the wrong athlete
        jane_only = [drop(tmp_path / "jane", 1)]
        drop(tmp_path / "bob", 2)

        with pytest.raises(SystemExit) as exited:
            main(["--config", str(config), "run", "--once"])

        assert 1 == exited.value.code
        assert "already signed in as account 'jane'" in capsys.readouterr().err
        assert jane_only == starts_of(emulator, JANE)
        assert [] == starts_of(emulator, BOB)


def test_upload_after_moves_a_shared_file_only_once_both_athletes_have_it(
        tmp_path: Path) -> None:
    """``upload.after = move``: a shared file stays until the last athlete has it, then moves."""
    with serving(athletes=(HouseholdAthlete(id=BOB, firstname="Bob"),)) as emulator:
        config = household(tmp_path, emulator, after="move")
        state = tmp_path / "state"
        sign_in(emulator, state, JANE)
        drop(tmp_path / "shared", 5)

        with pytest.raises(SystemExit) as bob_signed_out:
            main(["--config", str(config), "run", "--once"])
        stayed = (tmp_path / "shared" / "ride-5.fit").exists()
        sign_in(emulator, state / "accounts" / "bob", BOB)
        with pytest.raises(SystemExit) as both_signed_in:
            main(["--config", str(config), "run", "--once"])

        assert (1, 0) == (bob_signed_out.value.code, both_signed_in.value.code)
        assert stayed
        assert not (tmp_path / "shared" / "ride-5.fit").exists()
        assert (tmp_path / "archive" / "ride-5.fit").exists()
        assert 1 == len(starts_of(emulator, JANE)) == len(starts_of(emulator, BOB))


def test_every_file_of_a_folder_reaches_strava_and_intervals_icu_once_each(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Jane's folder to her Strava and her intervals.icu: each workout once on each, Bob's on neither."""
    knobs = Knobs(processing_min_s=0.1, processing_max_s=0.3)
    with serving(athletes=(HouseholdAthlete(id=BOB, firstname="Bob"),), knobs=knobs) as emulator:
        config = household(tmp_path, emulator)
        with_intervals(config, tmp_path, emulator)
        monkeypatch.setenv("STRAVASYNC_INTERVALS_KEY_JANE_ICU", emulator.intervals_key() or "")
        state = tmp_path / "state"
        sign_in(emulator, state, JANE)
        sign_in(emulator, state / "accounts" / "bob", BOB)
        jane_only = [drop(tmp_path / "jane", d) for d in (1, 2, 3)]
        bob_only = [drop(tmp_path / "bob", 4)]

        for _run in range(2):
            with pytest.raises(SystemExit) as exited:
                main(["--config", str(config), "run", "--once"])
            assert 0 == exited.value.code

        on_icu = emulator.intervals_activities_of(JANE)
        assert jane_only == starts_of(emulator, JANE)
        assert bob_only == starts_of(emulator, BOB)
        assert 3 == len(on_icu)
        assert [] == emulator.intervals_activities_of(BOB)


def test_every_upload_line_in_the_log_names_its_account(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With several accounts, each upload's log lines say which account they are about."""
    knobs = Knobs(processing_min_s=0.1, processing_max_s=0.3)
    with serving(athletes=(HouseholdAthlete(id=BOB, firstname="Bob"),), knobs=knobs) as emulator:
        config = household(tmp_path, emulator)
        state = tmp_path / "state"
        sign_in(emulator, state, JANE)
        sign_in(emulator, state / "accounts" / "bob", BOB)
        drop(tmp_path / "shared", 1)
        capsys.readouterr()

        with pytest.raises(SystemExit):
            main(["--config", str(config), "run", "--once"])

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()
             if line.startswith("{")]
    uploads = [(e["event"], e.get("account")) for e in lines
               if e["event"] in ("upload_queued", "upload_started", "upload_done")]
    assert sorted({(event, who) for event in ("upload_queued", "upload_started", "upload_done")
                   for who in ("jane", "bob")}) == sorted(set(uploads))


def test_one_workout_in_two_formats_is_sent_once_to_each_service(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A FIT and a GPX of one ride: one activity on Strava and one on intervals.icu."""
    knobs = Knobs(processing_min_s=0.1, processing_max_s=0.3)
    with serving(athletes=(HouseholdAthlete(id=BOB, firstname="Bob"),), knobs=knobs) as emulator:
        config = household(tmp_path, emulator)
        with_intervals(config, tmp_path, emulator)
        monkeypatch.setenv("STRAVASYNC_INTERVALS_KEY_JANE_ICU", emulator.intervals_key() or "")
        sign_in(emulator, tmp_path / "state", JANE)
        sign_in(emulator, tmp_path / "state" / "accounts" / "bob", BOB)
        start = DAY0 + timedelta(days=1)
        (tmp_path / "jane" / "ride.fit").write_bytes(
            fit_bytes(start=start, points=20, sport=Sport.CYCLING))
        (tmp_path / "jane" / "ride.gpx").write_text(gpx_text(start=start, points=20))

        with pytest.raises(SystemExit) as exited:
            main(["--config", str(config), "run", "--once"])

        assert 0 == exited.value.code
        assert 1 == len(starts_of(emulator, JANE))
        assert 1 == len(emulator.intervals_activities_of(JANE))


def test_an_intervals_key_of_another_athlete_sends_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """jane-icu checked as Jane, then given Bob's key: refused before any upload, to anyone."""
    with serving(athletes=(HouseholdAthlete(id=BOB, firstname="Bob"),)) as emulator:
        config = household(tmp_path, emulator)
        with_intervals(config, tmp_path, emulator)
        sign_in(emulator, tmp_path / "state", JANE)
        sign_in(emulator, tmp_path / "state" / "accounts" / "bob", BOB)
        monkeypatch.setenv("STRAVASYNC_INTERVALS_KEY_JANE_ICU", emulator.intervals_key() or "")
        with pytest.raises(SystemExit) as checked:
            main(["--config", str(config), "auth", "--account", "jane-icu"])
        monkeypatch.setenv("STRAVASYNC_INTERVALS_KEY_JANE_ICU", emulator.intervals_key(BOB) or "")
        drop(tmp_path / "jane", 1)
        capsys.readouterr()

        with pytest.raises(SystemExit) as exited:
            main(["--config", str(config), "run", "--once"])

        assert (0, 1) == (checked.value.code, exited.value.code)
        assert "belongs to athlete i1234567" in capsys.readouterr().err
        assert [] == emulator.intervals_activities_of(BOB)
        assert [] == emulator.intervals_activities_of(JANE)
        assert 1 == len(starts_of(emulator, JANE))  # her Strava account goes on
