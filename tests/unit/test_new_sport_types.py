"""Strava's newer sport types are taken, and an unknown one is a warning, not an error."""

from __future__ import annotations

import json
from pathlib import Path, PurePath

import pytest
from click.testing import CliRunner

from stravasync.cli import cli
from stravasync.cli.context import CliContext
from stravasync.config.rules import STRAVA_SPORT_TYPES, settings_for
from stravasync.config.settings import config_from_dict
from stravasync.emulator.config import SPORT_TYPES as EMULATOR_SPORT_TYPES

MAY_2026 = ("Basketball", "Cricket", "Dance", "Padel", "PhysicalTherapy", "Volleyball")


def with_sport_type(sport_type: str) -> dict[str, object]:
    """A config whose one rule sets ``sport_type``."""
    return {"strava": {"client_id": "1"}, "rules": [{"set": {"sport_type": sport_type}}]}


@pytest.mark.parametrize("name", MAY_2026)
def test_strava_s_may_2026_types_are_taken_without_a_word(name: str) -> None:
    """Padel and the other May 2026 additions load without problem or warning."""
    config = config_from_dict(with_sport_type(name.lower()))
    assert ((), name) == (config.warnings, config.rules[0].settings.sport_type)


def test_the_emulator_takes_every_type_the_config_knows() -> None:
    """Every name the config knows, the emulator (standing for Strava) takes too."""
    assert set() == set(STRAVA_SPORT_TYPES) - EMULATOR_SPORT_TYPES


def test_an_unknown_type_is_a_warning_naming_the_closest() -> None:
    """`Padle` loads, warns with 'Padel', and is sent as written."""
    config = config_from_dict(with_sport_type("Padle"))
    assert [
        "rules[0].set.sport_type: 'Padle' is not a sport type stravasync knows (did you "
        "mean 'Padel'?): it is sent as written, and Strava refuses the update if it does "
        "not know it either"] == list(config.warnings)
    settings = settings_for(config.rules, path=PurePath("/w/a.fit"), facts=None)
    assert {"sport_type": "Padle"} == settings.update_fields()


def write_config(tmp_path: Path, sport_type: str) -> Path:
    """A private config file with one rule setting ``sport_type``."""
    path = tmp_path / "config.toml"
    path.write_text(f'[strava]\nclient_id = "1"\n[watch]\npaths = ["{tmp_path}"]\n'
                    f'[state]\ndir = "{tmp_path / "state"}"\n'
                    f'[[rules]]\n[rules.set]\nsport_type = "{sport_type}"\n')
    path.chmod(0o600)
    return path


@pytest.mark.parametrize(("command", "status"), [(["config"], 0),
                                               (["check", "config.toml"], 1)])
def test_config_and_check_show_the_warning(
    tmp_path: Path, command: list[str], status: int
) -> None:
    """`stravasync config` and `check` show the warning on stderr and go on.

    (``check`` exits 1 here only because a config file is not a workout.)
    """
    config = write_config(tmp_path, "Padle")
    args = [str(tmp_path / a) if a.endswith(".toml") else a for a in command]
    result = CliRunner().invoke(cli, ["--config", str(config), *args])
    assert status == result.exit_code, result.output
    assert ["stravasync: warning: rules[0].set.sport_type: 'Padle' is not a sport type "
            "stravasync knows (did you mean 'Padel'?): it is sent as written, and Strava "
            "refuses the update if it does not know it either"] == result.stderr.splitlines()


def test_the_daemon_logs_the_warning_and_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The daemon's config loads (no error) and logs the warning as a config_warning event."""
    config = write_config(tmp_path, "Padle")
    loaded = CliContext(config_path=config).config(human=False)
    assert "Padle" == loaded.rules[0].settings.sport_type
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [("config_warning", "warning")] == [(e["event"], e["level"]) for e in events]
