"""Tests for `stravasync upload`, `run --once`, `status` and `retry` (click's CliRunner)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from stravasync.cli.context import CliContext
from stravasync.cli.run_cmd import EXIT_DEFERRED, run_command
from stravasync.cli.status_cmd import retry_command, status_command
from stravasync.cli.upload_cmd import upload_command
from stravasync.demo.samples import sample_broken, sample_fit
from stravasync.emulator import Emulator, EmulatorConfig, Knobs
from stravasync.owner.attention import activity_url
from stravasync.state import FileFacts, State, Store
from stravasync.strava.governor import Governor
from stravasync.strava.tokens import Athlete, TokenSet, TokenStore
from stravasync.validate.result import Facts

SPEC_FILE_KEYS = ["path", "sha256", "state", "upload_id", "activity_id", "error", "attempts",
                  "next_attempt_at"]
SPEC_RATE_KEYS = {"limit_15", "usage_15", "limit_day", "usage_day", "read_limit_15",
                  "read_usage_15", "read_limit_day", "read_usage_day", "paused_until"}

ONE = datetime.fromtimestamp(1.0, UTC)



@pytest.mark.parametrize(("api_url", "expected"), [
    ("https://www.strava.com/api/v3", "https://www.strava.com/activities/5"),
    ("https://api-v3.strava.com", "https://www.strava.com/activities/5"),
    ("http://127.0.0.1:8723/api/v3", "http://127.0.0.1:8723/activities/5"),
])
def test_activity_url_follows_the_api_host(api_url: str, expected: str) -> None:
    """Strava's hosts map to www.strava.com; the emulator keeps its own base."""
    assert expected == activity_url(api_url, 5)


class Setup:
    """A config file, a state dir and a watch folder pointing at a running emulator."""

    def __init__(self, tmp: Path, emulator: Emulator | None) -> None:
        self.tmp = tmp
        self.watch = tmp / "watch"
        self.watch.mkdir()
        self.state_dir = tmp / "state"
        self.emulator = emulator
        self.made = 0
        api = emulator.api_url if emulator else "http://127.0.0.1:9/api/v3"
        oauth = emulator.oauth_url if emulator else "http://127.0.0.1:9/oauth"
        self.config = tmp / "config.toml"
        self.config.write_text(
            f'[strava]\nclient_id = "12345"\nclient_secret = "emulator-secret"\n'
            f'api_url = "{api}"\noauth_url = "{oauth}"\n'
            f'[watch]\npaths = ["{self.watch}"]\n'
            f'[state]\ndir = "{self.state_dir}"\n[log]\nformat = "json"\n')
        # Start polling after 1 s, as a daemon that has learned this emulator would.
        Store.open(self.state_dir).set_meta("processing_estimate_s", "1.0")

    def sign_in(self) -> None:
        """Store tokens the emulator issued."""
        assert self.emulator is not None
        body = self.emulator.issue_tokens()
        TokenStore(state_dir=self.state_dir).save_initial(TokenSet(
            access_token=body["access_token"], refresh_token=body["refresh_token"],
            expires_at=int(body["expires_at"]), scope="read,activity:write",
            athlete=Athlete(id=int(body["athlete"]["id"]), firstname="Emma")))

    def invoke(self, command: click.Command, *args: str) -> Result:
        """Run one command with this config."""
        return CliRunner().invoke(command, list(args), obj=CliContext(config_path=self.config))

    def workout(self, name: str, *, days_ago: float = 1.0) -> Path:
        """A generated workout in the watch folder."""
        path = self.watch / name
        self.made += 1
        start = datetime.now(UTC) - timedelta(days=days_ago, hours=self.made)
        path.write_bytes(sample_fit(start=start))
        return path

    def api_calls(self) -> int:
        """API calls the emulator answered."""
        assert self.emulator is not None
        return int(self.emulator.inspect(requests=False)["counters"]["api_calls"])


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A real emulator on loopback with quick processing."""
    knobs = Knobs(processing_min_s=0.1, processing_max_s=0.5)
    with Emulator(EmulatorConfig(seed=3, knobs=knobs)) as strava:
        yield strava


@pytest.fixture
def setup(tmp_path: Path, emulator: Emulator) -> Setup:
    """Signed in, against the emulator."""
    s = Setup(tmp_path, emulator)
    s.sign_in()
    return s


def json_events(text: str) -> list[dict[str, Any]]:
    """Every stderr line parsed as a JSON event (fails on any other line)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.integration
def test_upload_prints_the_activity_and_never_sends_twice(setup: Setup) -> None:
    """One-shot upload: the URL on stdout, exit 0; again: same URL, no API call."""
    path = setup.workout("ride.fit")
    first = setup.invoke(upload_command, str(path))
    assert 0 == first.exit_code, first.output
    assert setup.emulator is not None
    url = f"{setup.emulator.base_url}/activities/"
    assert first.stdout.startswith(f"{path}: {url}")
    calls = setup.api_calls()
    again = setup.invoke(upload_command, str(path))
    assert (0, first.stdout, calls) == (again.exit_code, again.stdout, setup.api_calls())


@pytest.mark.integration
def test_upload_logs_only_json_events_with_a_summary(setup: Setup) -> None:
    """With log.format = json every stderr line is an event, ending with a summary."""
    result = setup.invoke(upload_command, str(setup.workout("a.fit")))
    events = json_events(result.stderr)
    names = [e["event"] for e in events]
    assert "upload_done" in names
    assert "upload_summary" == names[-1]


@pytest.mark.integration
def test_upload_of_a_bad_file_says_why_and_sends_nothing(setup: Setup) -> None:
    """An invalid file: its reason on stdout, exit 1, no API call."""
    bad = setup.watch / "bad.fit"
    bad.write_bytes(sample_broken())
    result = setup.invoke(upload_command, str(bad))
    assert 1 == result.exit_code
    assert f"{bad}: invalid: FIT CRC" in result.stdout
    assert 0 == setup.api_calls()


@pytest.mark.integration
def test_run_once_uploads_the_watched_folder_and_exits_0(setup: Setup) -> None:
    """run --once: every workout uploaded, exit 0; status --json shows SPEC's schema."""
    for name in ("a.fit", "b.fit"):
        setup.workout(name)
    (setup.watch / "bad.fit").write_bytes(sample_broken())
    result = setup.invoke(run_command, "--once")
    assert 0 == result.exit_code, result.stderr
    assert "run_summary" == json_events(result.stderr)[-1]["event"]
    status = json.loads(setup.invoke(status_command, "--json").stdout)
    assert ["auth", "daemon", "files", "follow_mode", "needs_you", "rate_limit",
            "watch"] == sorted(status)
    assert {"running": False, "pid": None} == {k: status["daemon"][k] for k in ("running", "pid")}
    assert all(SPEC_FILE_KEYS == list(f) for f in status["files"])
    states = sorted(f["state"] for f in status["files"])
    assert ["invalid", "uploaded", "uploaded"] == states
    assert 1234567 == status["auth"]["athlete_id"]
    assert SPEC_RATE_KEYS <= set(status["rate_limit"])


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


@pytest.mark.integration
@pytest.mark.parametrize("after", ["move", "delete"])
def test_upload_reports_success_when_the_file_is_moved_or_deleted(
    setup: Setup, after: str
) -> None:
    """With upload.after = move/delete, `upload` still prints the activity and exits 0."""
    archive = setup.tmp / "archive"
    setup.config.write_text(
        setup.config.read_text() + f'[upload]\nafter = "{after}"\narchive_dir = "{archive}"\n'
        "delete_outside_home = true\n"
    )
    path = setup.workout("ride.fit")
    result = setup.invoke(upload_command, str(path))
    assert 0 == result.exit_code, result.output
    assert "/activities/" in result.stdout
    assert not path.exists()
    assert (after == "move") == (archive / "ride.fit").exists()


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
    assert "left as it is" in unknown.stdout


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
