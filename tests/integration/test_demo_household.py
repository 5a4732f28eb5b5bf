"""``stravasync demo --household``: each account's table holds exactly its folders' files."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def accounts_shown(stdout: str) -> dict[str, dict[str, tuple[str, str]]]:
    """Each account's table as {file name: (state, folder)}, read from the demo's output."""
    tables: dict[str, dict[str, tuple[str, str]]] = {}
    current: dict[str, tuple[str, str]] | None = None
    for line in stdout.splitlines():
        header = re.match(r"Account (\S+) \(", line)
        if header:
            current = tables.setdefault(header.group(1), {})
        elif current is not None and re.match(r"  (uploaded|invalid|duplicate|rejected|"
                                              r"skipped|queued|retrying|uploading|pending) ",
                                              line):
            state, _activity, path = line.split(maxsplit=2)
            current[Path(path).name] = (state, Path(path).parent.name)
        elif not line.strip():
            current = None
    return tables


@dataclass(frozen=True)
class DemoRun:
    proc: subprocess.CompletedProcess[str]
    elapsed: float
    tmp: Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """One run of ``stravasync demo --household`` (with its own TMPDIR), shared by the tests."""
    tmp = tmp_path_factory.mktemp("household-demo")
    env = {**os.environ, "TMPDIR": str(tmp)}
    began = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "stravasync", "demo", "--household"],
                          capture_output=True, text=True, timeout=60, check=False, env=env)
    return DemoRun(proc=proc, elapsed=time.monotonic() - began, tmp=tmp)


def test_household_demo_sends_each_athlete_exactly_their_folders_files(demo: DemoRun) -> None:
    """Jane's tables (Strava, intervals.icu): hers and the shared; Bob's: his and the shared."""
    proc, elapsed = demo.proc, demo.elapsed

    assert 0 == proc.returncode, proc.stdout + proc.stderr
    assert elapsed < 30
    shared = {"family-hike.gpx": ("uploaded", "shared"), "broken.fit": ("invalid", "shared")}
    assert {
        "jane": {"jane-morning-run.fit": ("uploaded", "jane"),
                 "jane-walk.gpx": ("uploaded", "jane"), **shared},
        "bob": {"bob-lunch-ride.fit": ("uploaded", "bob"),
                "bob-evening-run.tcx.gz": ("uploaded", "bob"), **shared},
        "jane-icu": {"jane-morning-run.fit": ("uploaded", "jane"),
                     "jane-walk.gpx": ("uploaded", "jane"), **shared},
    } == accounts_shown(proc.stdout)
    assert "Account jane (Strava athlete Jane, 1234567): 4 files, 3 activities on Strava" in (
        proc.stdout)
    assert "Account bob (Strava athlete Bob, 2345678): 4 files, 3 activities on Strava" in (
        proc.stdout)
    assert ("Account jane-icu (intervals.icu athlete Jane, 1234567): 4 files, 3 activities on "
            "intervals.icu") in proc.stdout
    assert "each account got exactly the files of its folders" in proc.stdout
    assert [] == list(demo.tmp.iterdir())  # everything cleaned up


def test_household_demo_never_prints_a_token_or_key(demo: DemoRun) -> None:
    """No Strava token (40 hex digits) nor intervals.icu key appears in the output or the log."""
    proc = demo.proc

    assert 0 == proc.returncode, proc.stdout + proc.stderr
    assert [] == re.findall(r"\b[0-9a-f]{40}\b", proc.stdout + proc.stderr)
    assert "emulator-icu-key-" not in proc.stdout + proc.stderr
