"""Tests for `stravasync upload`, `run --once`, `status` and `retry` (click's CliRunner), where no
Strava is needed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_rig import Setup

from stravasync.cli.retry_cmd import retry_command
from stravasync.cli.run_cmd import run_command
from stravasync.cli.status_cmd import status_command
from stravasync.cli.upload_cmd import upload_command
from stravasync.owner.attention import activity_url
from stravasync.service.once import EXIT_DEFERRED
from stravasync.state import FileFacts, State, Store
from stravasync.strava.governor import Governor
from stravasync.strava.tokens import Athlete, TokenSet, TokenStore
from stravasync.validate.result import Facts

ONE = datetime.fromtimestamp(1.0, UTC)


@pytest.mark.parametrize(("api_url", "expected"), [
    ("https://www.strava.com/api/v3", "https://www.strava.com/activities/5"),
    ("https://api-v3.strava.com", "https://www.strava.com/activities/5"),
    ("http://127.0.0.1:8723/api/v3", "http://127.0.0.1:8723/activities/5"),
])
def test_activity_url_follows_the_api_host(api_url: str, expected: str) -> None:
    """Strava's hosts map to www.strava.com; the emulator keeps its own base."""
    assert expected == activity_url(api_url, 5)


def test_run_once_exits_75_when_rate_limited(tmp_path: Path) -> None:
    """Work held back by a rate-limit pause: exit 75, nothing sent, file still queued."""
    setup = Setup(tmp_path, None)
    TokenStore(state_dir=setup.state_dir).save_initial(TokenSet(
        access_token="c" * 40, refresh_token="d" * 40, expires_at=4_000_000_000,
        scope="read,activity:write", athlete=Athlete(id=1)))
    setup.workout("a.fit")
    governor = Governor(state_file=setup.state_dir / "ratelimit.json")
    governor.pause(until=datetime.now(UTC).timestamp() + 900, reason="rate_limit_15")
    result = setup.invoke(run_command, "--once")
    assert EXIT_DEFERRED == result.exit_code, result.stderr
    files = json.loads(setup.invoke(status_command, "--json").stdout)["files"]
    assert ["queued"] == [f["state"] for f in files]


def test_run_once_exits_1_when_not_signed_in(tmp_path: Path) -> None:
    """No tokens: exit 1 before any file is read or queued (no attempts counted)."""
    setup = Setup(tmp_path, None)
    setup.workout("a.fit")
    result = setup.invoke(run_command, "--once")
    assert 1 == result.exit_code
    assert "NotSignedIn" == type(result.exception).__name__
    assert [] == json.loads(setup.invoke(status_command, "--json").stdout)["files"]


def test_upload_exits_1_when_not_signed_in(tmp_path: Path) -> None:
    """`upload` without a sign-in says so and leaves the state untouched."""
    setup = Setup(tmp_path, None)
    result = setup.invoke(upload_command, str(setup.workout("a.fit")))
    assert "NotSignedIn" == type(result.exception).__name__
    assert [] == json.loads(setup.invoke(status_command, "--json").stdout)["files"]


def test_status_works_with_no_state_at_all(tmp_path: Path) -> None:
    """A fresh install: empty files, auth null, default limits."""
    setup = Setup(tmp_path, None)
    (setup.state_dir / "state.sqlite3").unlink()
    status = json.loads(setup.invoke(status_command, "--json").stdout)
    assert ([], None, None) == (status["files"], status["auth"],
                                status["rate_limit"]["paused_until"])


def test_status_table_shows_counts_problems_auth_and_pause(tmp_path: Path) -> None:
    """The human table: counts per state, recent problems, sign-in, usage, the pause."""
    setup = Setup(tmp_path, None)
    store = Store.open(setup.state_dir)
    store.record_file("/w/a.fit", size=1, mtime_ns=1, facts=FileFacts(
        sha256="a" * 64, state=State.INVALID, error="FIT CRC check failed"))
    store.record_file("/w/b.fit", size=1, mtime_ns=1, facts=FileFacts(
        sha256="b" * 64, state=State.QUEUED, format="fit", facts=Facts(start_time=ONE)))
    store.record_file("/w/old.fit", size=1, mtime_ns=1, facts=FileFacts(
        sha256="c" * 64, state=State.SKIPPED, error="started 400 days ago"))
    Governor(state_file=setup.state_dir / "ratelimit.json").pause(
        until=datetime.now(UTC).timestamp() + 600, reason="app_inactive")
    out = setup.invoke(status_command).stdout
    assert "Files: 3 (1 queued, 1 invalid, 1 skipped)" in out
    assert "invalid: /w/a.fit: FIT CRC check failed" in out
    assert "  /w/old.fit: started 400 days ago" in out
    assert "Sign-in: not signed in" in out
    assert "(app_inactive)" in out


def test_retry_requeues_rejected_files(tmp_path: Path) -> None:
    """retry --all puts a rejected file back; retry with nothing named is a usage error."""
    setup = Setup(tmp_path, None)
    store = Store.open(setup.state_dir)
    store.record_file("/w/a.fit", size=1, mtime_ns=1, facts=FileFacts(
        sha256="a" * 64, state=State.QUEUED, format="fit", facts=Facts(start_time=ONE)))
    store.claim_post("a" * 64, owner="h:1", external_id="x")
    store.finish("a" * 64, owner="h:1", state=State.REJECTED, error="Improperly formatted data.")
    assert 2 == setup.invoke(retry_command).exit_code
    result = setup.invoke(retry_command, "--all")
    assert "queued again: /w/a.fit" in result.stdout
    assert State.QUEUED == store.workout("a" * 64).state  # type: ignore[union-attr]
    unknown = setup.invoke(retry_command, "/w/never-seen.fit")
    assert 1 == unknown.exit_code
    assert "not found, check the path: /w/never-seen.fit" in unknown.stdout


def test_upload_of_a_missing_file_says_not_found_and_records_nothing(tmp_path: Path) -> None:
    """A path that does not exist: `PATH: not found`, exit 1, no state row for it."""
    setup = Setup(tmp_path, None)
    TokenStore(state_dir=setup.state_dir).save_initial(TokenSet(
        access_token="c" * 40, refresh_token="d" * 40, expires_at=4_000_000_000,
        scope="read,activity:write", athlete=Athlete(id=1)))
    missing = tmp_path / "nonexistent.fit"
    result = setup.invoke(upload_command, str(missing))
    assert (1, f"{missing}: not found\n") == (result.exit_code, result.stdout)
    assert [] == json.loads(setup.invoke(status_command, "--json").stdout)["files"]


@pytest.mark.parametrize(("reason", "words"), [
    ("refresh_token_invalid", "revoked or has expired"),
    ("scope_missing", "permission to upload"),
])
def test_status_says_in_words_why_the_sign_in_is_unusable(
    tmp_path: Path, reason: str, words: str
) -> None:
    """The table explains a dead sign-in in a sentence; --json keeps the machine code."""
    setup = Setup(tmp_path, None)
    tokens = TokenStore(state_dir=setup.state_dir)
    tokens.save_initial(TokenSet(
        access_token="c" * 40, refresh_token="d" * 40, expires_at=4_000_000_000,
        scope="read,activity:write", athlete=Athlete(id=1)))
    tokens.mark_dead(reason)  # type: ignore[arg-type]
    out = setup.invoke(status_command).stdout
    assert words in out
    assert "stravasync auth" in out
    assert reason not in out
    assert reason == json.loads(setup.invoke(status_command, "--json").stdout)["auth"]["problem"]


def test_status_shows_a_damaged_token_file_and_still_works(tmp_path: Path) -> None:
    """A damaged tokens.json: status exits 0 and says to sign in again, naming the file."""
    setup = Setup(tmp_path, None)
    (setup.state_dir / "tokens.json").write_text("{damaged")
    result = setup.invoke(status_command)
    assert 0 == result.exit_code, result.output
    assert "tokens.json is damaged" in result.stdout
    assert "stravasync auth" in result.stdout
    problem = json.loads(setup.invoke(status_command, "--json").stdout)["auth"]["problem"]
    assert "is damaged" in problem
