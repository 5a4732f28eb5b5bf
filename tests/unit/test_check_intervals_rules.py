"""``stravasync check`` for a file that also goes to intervals.icu: what applies where."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner, Result

from stravasync.cli.check_cmd import check
from stravasync.cli.context import CliContext
from stravasync.demo.samples import sample_fit

START = datetime(2024, 6, 2, 6, 0, tzinfo=UTC)


def household(tmp_path: Path) -> tuple[Path, Path]:
    """jane on Strava and jane-icu on intervals.icu share one folder; one rule sets all."""
    folder = tmp_path / "jane"
    folder.mkdir()
    ride = folder / "ride.fit"
    ride.write_bytes(sample_fit(start=START))
    key = tmp_path / "icu.key"
    key.write_text("not-a-real-key\n")
    key.chmod(0o600)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[strava]\nclient_id = "1"\n[state]\ndir = "{tmp_path / "state"}"\n'
        f'[[accounts]]\nname = "jane"\npaths = ["{folder}"]\n'
        f'[[accounts]]\nname = "jane-icu"\nservice = "intervals"\npaths = ["{folder}"]\n'
        f'api_key_file = "{key}"\n'
        '[[rules]]\n[rules.set]\nname = "Morning {sport}"\ntrainer = true\n'
        'sport_type = "VirtualRun"\nhide_from_home = true\n')
    config.chmod(0o600)
    return config, ride


def invoke(config: Path, *args: str) -> Result:
    return CliRunner().invoke(check, list(args), obj=CliContext(config_path=config))


def test_check_says_which_rules_apply_on_intervals_icu_and_which_are_ignored(
        tmp_path: Path) -> None:
    """Text: each account its own rules; for intervals.icu the Strava-only ones are ignored."""
    config, ride = household(tmp_path)
    result = invoke(config, str(ride))

    assert 0 == result.exit_code, result.output
    assert ("; rules for jane: rules[0]: name 'Morning Run', trainer, sport_type VirtualRun, "
            "hide_from_home"
            "; rules for jane-icu (intervals.icu): rules[0]: name 'Morning Run' "
            "(trainer, sport_type, hide_from_home ignored there: Strava only)") \
        in result.output


def test_check_json_lists_the_settings_per_account(tmp_path: Path) -> None:
    """JSON: ``accounts`` holds each account's settings and what its service ignores."""
    config, ride = household(tmp_path)
    data = json.loads(invoke(config, "--json", str(ride)).output)

    assert [{"account": "jane", "service": "strava",
             "rules": {"name": "Morning Run", "trainer": True, "sport_type": "VirtualRun",
                       "hide_from_home": True},
             "matched_rules": [0], "ignored": []},
            {"account": "jane-icu", "service": "intervals",
             "rules": {"name": "Morning Run"}, "matched_rules": [0],
             "ignored": ["trainer", "sport_type", "hide_from_home"]}] == data["accounts"]
