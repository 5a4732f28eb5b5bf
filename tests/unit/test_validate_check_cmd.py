"""Tests for the ``stravasync check`` command."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from fitgen import time_rule_files
from fixtures import CORPUS, CORPUS_ROWS, EXPECTED, JUDGEMENTS

from stravasync.cli.check_cmd import check
from stravasync.cli.context import CliContext
from stravasync.demo.samples import sample_broken, sample_fit, sample_gpx

START = datetime(2024, 6, 2, 6, 0, tzinfo=UTC)


def invoke(args: list[str], *, config: Path | None = None) -> Result:
    """Run `check` as the CLI does, with ``config`` (default: none exists)."""
    path = config or Path("/nonexistent/stravasync/config.toml")
    return CliRunner().invoke(check, args, obj=CliContext(config_path=path))


def _files(tmp_path: Path) -> tuple[Path, Path]:
    good = tmp_path / "run.fit"
    good.write_bytes(sample_fit(start=START))
    ride = tmp_path / "ride.GPX"
    ride.write_bytes(sample_gpx(start=START, sport="ride"))
    return good, ride


def test_check_all_ok_exits_zero(tmp_path: Path) -> None:
    """Every file ok: one line each, exit 0."""
    good, ride = _files(tmp_path)
    result = invoke([str(good), str(ride)])
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
    result = invoke(args)
    assert 1 == result.exit_code
    verdicts = [line.split(": ", 1)[1].split(" ")[0] for line in result.output.splitlines()]
    assert ["ok", "invalid", "invalid", "invalid"] == verdicts


def test_check_json_prints_one_object_per_line(tmp_path: Path) -> None:
    """--json prints the documented object for each file."""
    good, _ = _files(tmp_path)
    result = invoke(["--json", str(good), str(tmp_path / "gone.tcx")])
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
    } == {k: v for k, v in first.items() if k not in ("facts", "rules", "matched_rules")}
    assert ("run", {}) == (first["facts"]["sport"], first["rules"])
    assert ("invalid", "no such file") == (second["verdict"], second["reason"])


def test_check_needs_no_config(tmp_path: Path) -> None:
    """check runs with no config file anywhere (HOME is empty)."""
    good, _ = _files(tmp_path)
    result = CliRunner(env={"STRAVASYNC_CONFIG": str(tmp_path / "missing.toml")}).invoke(
        check, [str(good)], obj=CliContext()
    )
    assert 0 == result.exit_code


@pytest.mark.corpus
@pytest.mark.skipif(not CORPUS_ROWS, reason=f"corpus not found at {CORPUS}")
def test_check_json_over_the_corpus_gives_the_manifest_verdicts() -> None:
    """check --json over every corpus file gives MANIFEST's verdicts (or our stated judgements)."""
    paths = [str(CORPUS / name) for name, _ in CORPUS_ROWS]
    result = invoke(["--json", *paths])
    got = {Path(o["path"]).name: o["verdict"] for o in map(json.loads, result.output.splitlines())}
    want = {name: (JUDGEMENTS.get(name) or EXPECTED[exp]).value for name, exp in CORPUS_ROWS}
    assert want == got
    # degenerate files may go either way; the one decided against the manifest:
    overruled = {n for n, exp in CORPUS_ROWS if exp in EXPECTED and want[n] != EXPECTED[exp]}
    assert {"gpx_gpsbabel_hike.gpx"} == overruled


@pytest.fixture
def machine_in_amsterdam(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This computer's zone is Europe/Amsterdam for the test (restored afterwards)."""
    monkeypatch.setenv("TZ", "Europe/Amsterdam")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("machine_in_amsterdam")
def test_check_shows_the_time_zone_assumption(tmp_path: Path) -> None:
    """A start known only in local time shows the assumed zone, in words and in JSON."""
    path = tmp_path / "old-watch.fit"
    path.write_bytes(time_rule_files(START)["system time + activity local"])
    human = invoke([str(path)])
    machine = json.loads(invoke(["--json", str(path)]).output)
    assert 0 == human.exit_code
    assert "2024-06-02T04:00:00Z" in human.output  # 06:00 CEST
    assert "assumed: time zone unknown" in human.output
    assert "this computer's time zone, UTC+02:00" in human.output
    assert ("2024-06-02T04:00:00Z", True) == (
        machine["start_time"],
        "UTC+02:00" in machine["assumption"],
    )


def test_check_shows_what_the_rules_would_set(tmp_path: Path) -> None:
    """A Zwift-folder rule: check names the rule and what it sets, in text and JSON."""
    zwift = tmp_path / "Zwift" / "Activities"
    zwift.mkdir(parents=True)
    ride = zwift / "ride.fit"
    ride.write_bytes(sample_fit(start=START))
    config = tmp_path / "config.toml"
    config.write_text(
        f'[strava]\nclient_id = "1"\n[watch]\npaths = ["{zwift}"]\n[state]\n'
        f'dir = "{tmp_path / "state"}"\n[[rules]]\nfolder = "{zwift}"\n[rules.set]\n'
        'name = "Zwift {sport}"\ntrainer = true\nsport_type = "VirtualRide"\n'
        "hide_from_home = true\n")
    config.chmod(0o600)
    text = invoke([str(ride)], config=config)
    assert 0 == text.exit_code, text.output
    assert "rules: rules[0]" in text.output
    assert "sport_type VirtualRide" in text.output
    data = json.loads(invoke(["--json", str(ride)], config=config).output)
    assert {"name": "Zwift Run", "trainer": True, "sport_type": "VirtualRide",
            "hide_from_home": True} == data["rules"]
    assert [0] == data["matched_rules"]
