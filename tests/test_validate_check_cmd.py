"""Tests for the ``stravasync check`` command."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from stravasync.cli.check_cmd import check
from stravasync.samples import sample_broken, sample_fit, sample_gpx

START = datetime(2024, 6, 2, 6, 0, tzinfo=UTC)


def _files(tmp_path: Path) -> tuple[Path, Path]:
    good = tmp_path / "run.fit"
    good.write_bytes(sample_fit(start=START))
    ride = tmp_path / "ride.GPX"
    ride.write_bytes(sample_gpx(start=START, sport="ride"))
    return good, ride


def test_check_all_ok_exits_zero(tmp_path: Path) -> None:
    """Every file ok: one line each, exit 0."""
    good, ride = _files(tmp_path)
    result = CliRunner().invoke(check, [str(good), str(ride)])
    assert 0 == result.exit_code, result.output
    lines = result.output.splitlines()
    assert 2 == len(lines)
    assert lines[0].startswith(f"{good}: ok \u2014 fit run 2024-06-02T06:00:00Z")


def test_check_bad_and_missing_exit_one(tmp_path: Path) -> None:
    """A broken file, a missing path and a directory are invalid: exit 1."""
    good, _ = _files(tmp_path)
    broken = tmp_path / "broken.fit"
    broken.write_bytes(sample_broken())
    (tmp_path / "dir.fit").mkdir()
    args = [str(good), str(broken), str(tmp_path / "gone.fit"), str(tmp_path / "dir.fit")]
    result = CliRunner().invoke(check, args)
    assert 1 == result.exit_code
    verdicts = [line.split(": ", 1)[1].split(" ")[0] for line in result.output.splitlines()]
    assert ["ok", "invalid", "invalid", "invalid"] == verdicts


def test_check_json_prints_one_object_per_line(tmp_path: Path) -> None:
    """--json prints the documented object for each file."""
    good, _ = _files(tmp_path)
    result = CliRunner().invoke(check, ["--json", str(good), str(tmp_path / "gone.tcx")])
    assert 1 == result.exit_code
    first, second = (json.loads(line) for line in result.output.splitlines())
    assert {
        "path": str(good),
        "format": "fit",
        "verdict": "ok",
        "reason": None,
        "repaired": [],
        "start_time": "2024-06-02T06:00:00Z",
        "sport": "run",
        "duration_s": 590.0,
        "distance_m": first["distance_m"],
        "points": 60,
        "device": "development 1",
        "assumption": None,
    } == first
    assert ("invalid", "no such file") == (second["verdict"], second["reason"])


def test_check_needs_no_config(tmp_path: Path) -> None:
    """check runs with no config file anywhere (HOME is empty)."""
    good, _ = _files(tmp_path)
    result = CliRunner(env={"STRAVASYNC_CONFIG": str(tmp_path / "missing.toml")}).invoke(
        check, [str(good)]
    )
    assert 0 == result.exit_code
