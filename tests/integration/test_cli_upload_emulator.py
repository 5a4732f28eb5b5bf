"""Tests for `stravasync upload` and `run --once` (click's CliRunner) against the emulator on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_rig import Setup
from emulator_rig import serving

from stravasync.cli.run_cmd import run_command
from stravasync.cli.status_cmd import status_command
from stravasync.cli.upload_cmd import upload_command
from stravasync.demo.samples import sample_broken
from stravasync.emulator import Emulator, Knobs

SPEC_FILE_KEYS = ["path", "sha256", "state", "upload_id", "activity_id", "error", "attempts",
                  "next_attempt_at", "account"]
SPEC_RATE_KEYS = {"limit_15", "usage_15", "limit_day", "usage_day", "read_limit_15",
                  "read_usage_15", "read_limit_day", "read_usage_day", "paused_until"}


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A real emulator on loopback with quick processing."""
    knobs = Knobs(processing_min_s=0.1, processing_max_s=0.5)
    with serving(seed=3, knobs=knobs) as strava:
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
    assert ["accounts", "auth", "daemon", "files", "follow_mode", "follow_reason", "needs_you",
            "rate_limit", "watch"] == sorted(status)
    assert [{"name": "me", "service": "strava", "auth": status["auth"],
             "counts": {"invalid": 1, "uploaded": 2}, "problems": []}] == status["accounts"]
    assert {"running": False, "pid": None} == {k: status["daemon"][k] for k in ("running", "pid")}
    assert all(SPEC_FILE_KEYS == list(f) for f in status["files"])
    states = sorted(f["state"] for f in status["files"])
    assert ["invalid", "uploaded", "uploaded"] == states
    assert 1234567 == status["auth"]["athlete_id"]
    assert SPEC_RATE_KEYS <= set(status["rate_limit"])


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


@pytest.mark.integration
def test_upload_prints_no_json_events_though_the_log_is_json(setup: Setup) -> None:
    """log.format = json is the daemon's: a clean upload says its result on stdout only."""
    result = setup.invoke(upload_command, str(setup.workout("a.fit")))
    assert 0 == result.exit_code, result.stderr
    assert "/activities/" in result.stdout
    # The config file here is readable by others: its warning is the one line left.
    assert [] == [line for line in result.stderr.splitlines()
                  if not line.startswith("stravasync: warning: ")]
