"""Tests for stravasync.config.rules: which rules match a file, what they set, how names render."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from stravasync.config.rules import (
    SPORTS,
    STRAVA_SPORT_TYPES,
    Rule,
    RuleSettings,
    rules_from_toml,
    settings_for,
)
from stravasync.validate.result import Facts

ZWIFT = Path("/home/ann/Documents/Zwift/Activities")
GARMIN = Path("/home/ann/Garmin/Activity")
BERLIN_SUMMER = timezone(timedelta(hours=2))
RIDE = Facts(
    start_time=datetime(2024, 5, 6, 5, 30, tzinfo=UTC),  # a Monday, 07:30 in Berlin
    sport="ride",
    distance_m=42195.0,
    device="garmin edge_530",
)
ZWIFT_RUN = Facts(start_time=datetime(2024, 5, 7, 17, 0, tzinfo=UTC), sport="run",
                  distance_m=5012.0, device="zwift 0")


def rules_of(*tables: dict[str, Any]) -> tuple[Rule, ...]:
    rules, problems = rules_from_toml(list(tables), folder_path=Path)
    assert [] == problems
    return rules


def problems_of(*tables: dict[str, Any]) -> list[str]:
    return rules_from_toml(list(tables), folder_path=Path)[1]


def applied(rules: tuple[Rule, ...], path: Path, facts: Facts | None = RIDE) -> RuleSettings:
    return settings_for(rules, path=path, facts=facts, tz=BERLIN_SUMMER)


@pytest.mark.parametrize(
    ("condition", "path", "facts", "expected"),
    [
        ({"folder": str(ZWIFT)}, ZWIFT / "2024-05-07.fit", ZWIFT_RUN, True),
        ({"folder": str(ZWIFT)}, ZWIFT / "deep" / "x.fit", ZWIFT_RUN, True),
        ({"folder": str(ZWIFT)}, GARMIN / "x.fit", RIDE, False),
        ({"folder": str(ZWIFT)}, Path("/home/ann/Documents/Zwift/ActivitiesOld/x.fit"),
         RIDE, False),
        ({"folder": str(ZWIFT)}, ZWIFT / ".." / "Other" / "x.fit", RIDE, False),
        ({"device": "Edge 530"}, GARMIN / "x.fit", RIDE, True),
        ({"device": "EDGE_530"}, GARMIN / "x.fit", RIDE, True),
        ({"device": "garmin"}, GARMIN / "x.fit", RIDE, True),
        ({"device": "Edge 830"}, GARMIN / "x.fit", RIDE, False),
        ({"device": "Edge 530"}, GARMIN / "x.fit", Facts(sport="ride"), False),
        ({"device": "Edge 530"}, GARMIN / "x.fit", None, False),
        ({"sport": "ride"}, GARMIN / "x.fit", RIDE, True),
        ({"sport": "Ride"}, GARMIN / "x.fit", RIDE, True),
        ({"sport": "run"}, GARMIN / "x.fit", RIDE, False),
        ({"sport": "ride"}, GARMIN / "x.fit", Facts(), False),
        ({"glob": "*.fit"}, GARMIN / "x.fit", RIDE, True),
        ({"glob": "*.fit"}, GARMIN / "X.FIT", RIDE, True),
        ({"glob": "*.fit"}, GARMIN / "x.fit.gz", RIDE, False),
        ({"glob": "2024-*"}, GARMIN / "2024-05-06.gpx", RIDE, True),
        ({"folder": str(GARMIN), "device": "edge", "sport": "ride", "glob": "*.fit"},
         GARMIN / "x.fit", RIDE, True),
        ({"folder": str(GARMIN), "device": "edge", "sport": "run", "glob": "*.fit"},
         GARMIN / "x.fit", RIDE, False),
        ({"device": "", "sport": "", "glob": ""}, GARMIN / "x.fit", None, True),
    ],
)
def test_conditions(
    condition: dict[str, str], path: Path, facts: Facts | None, expected: bool
) -> None:
    """Each condition (folder, device, sport, glob) must hold; empty ones match anything."""
    rules = rules_of({**condition, "set": {"commute": True}})
    assert expected == (applied(rules, path, facts).commute is True)


def test_every_matching_rule_applies_and_later_keys_win() -> None:
    """Rules apply top to bottom: a later rule overrides only the keys it sets."""
    rules = rules_of(
        {"folder": str(ZWIFT), "set": {"sport_type": "VirtualRide", "trainer": True,
                                       "hide_from_home": True, "name": "Zwift {sport}"}},
        {"sport": "ride", "set": {"gear_id": "b111"}},
        {"folder": str(ZWIFT), "sport": "run", "set": {"sport_type": "VirtualRun"}},
    )
    run = applied(rules, ZWIFT / "run.fit", ZWIFT_RUN)
    assert ((0, 2), "VirtualRun", True, True, None, "Zwift Run") == (
        run.matched, run.sport_type, run.trainer, run.hide_from_home, run.gear_id, run.name
    )
    ride = applied(rules, ZWIFT / "ride.fit", RIDE)
    assert ((0, 1), "VirtualRide", "b111") == (ride.matched, ride.sport_type, ride.gear_id)


def test_no_rule_sets_nothing() -> None:
    """A file no rule matches gets no settings: no POST fields, no update."""
    settings = applied(rules_of({"sport": "swim", "set": {"name": "Swim"}}), GARMIN / "x.fit")
    assert ((), {}, {}, "no rule matched") == (
        settings.matched, settings.post_fields(), settings.update_fields(), settings.describe()
    )


def test_post_and_update_fields_split_what_goes_where() -> None:
    """name, description, trainer and commute go with the POST; the rest needs the PUT."""
    rules = rules_of({"set": {"name": "Ride", "description": "by {device}", "trainer": True,
                              "commute": False, "sport_type": "gravelride",
                              "gear_id": "none", "hide_from_home": False}})
    settings = applied(rules, GARMIN / "x.fit")
    assert {"name": "Ride", "description": "by Garmin Edge 530", "trainer": True,
            "commute": False} == settings.post_fields()
    assert {"sport_type": "GravelRide", "gear_id": "none", "hide_from_home": False} == (
        settings.update_fields()
    )
    assert {**settings.post_fields(), **settings.update_fields()} == settings.as_json()


def test_settings_without_update_fields_need_no_put() -> None:
    """Rules that only name or flag an activity ask for no update after the upload."""
    settings = applied(rules_of({"set": {"name": "x", "commute": True}}), GARMIN / "x.fit")
    assert {} == settings.update_fields()


def test_templates_render_every_field_in_local_time() -> None:
    """Every template field renders from the file and its facts; {start} is local time."""
    rules = rules_of({"set": {
        "name": "{sport} on {device}, {start:%A %H:%M}: {distance_km} km",
        "description": "{file} in {folder} at {start}",
    }})
    settings = applied(rules, GARMIN / "2024-05-06-07-30-00.fit.gz")
    assert "Ride on Garmin Edge 530, Monday 07:30: 42.2 km" == settings.name
    assert "2024-05-06-07-30-00 in Activity at 2024-05-06 07:30" == settings.description


def test_start_follows_the_zone_given() -> None:
    """The same instant renders in the zone the machine (here: the test) is in."""
    rules = rules_of({"set": {"name": "{start:%H:%M}"}})
    tokyo = settings_for(rules, path=GARMIN / "x.fit", facts=RIDE,
                         tz=timezone(timedelta(hours=9)))
    assert ("07:30", "14:30") == (applied(rules, GARMIN / "x.fit").name, tokyo.name)


@pytest.mark.parametrize(
    ("template", "facts", "expected"),
    [
        ("{sport} on {device}, {start:%A %H:%M}", Facts(sport="ride"), "Ride on"),
        ("{sport} on {device}, {start:%A %H:%M}", Facts(device="zwift 0"), "on Zwift 0"),
        ("{device} - {sport} - {distance_km} km", Facts(sport="run"), "Run - km"),
        ("{sport} ({device})", Facts(sport="swim"), "Swim"),
        ("{sport}, {device}, {start:%a}", Facts(), ""),
        ("{device}", None, ""),
        ("{file}", None, "x"),
    ],
)
def test_missing_facts_render_empty_and_tidy(
    template: str, facts: Facts | None, expected: str
) -> None:
    """A fact a file lacks renders as nothing: never '{device}' or 'None', no dangling commas."""
    settings = applied(rules_of({"set": {"name": template}}), GARMIN / "x.fit", facts)
    rendered = settings.name or ""
    assert expected == rendered
    assert "None" not in rendered
    assert "{" not in rendered


def test_a_name_that_renders_empty_is_not_sent() -> None:
    """When nothing is left of the name, the upload carries no name (Strava picks one)."""
    settings = applied(rules_of({"set": {"name": "{device}", "trainer": True}}),
                       GARMIN / "x.fit", Facts())
    assert {"trainer": True} == settings.post_fields()


def test_descriptions_keep_their_lines_and_bullets() -> None:
    """A description is tidied line by line; its line breaks and leading dashes stay."""
    rules = rules_of({"set": {"description": "Recorded on {device}\n- {distance_km} km\n\nDone"}})
    settings = applied(rules, GARMIN / "x.fit", Facts(distance_m=5000.0))
    assert "Recorded on\n- 5.0 km\n\nDone" == settings.description


def test_literal_braces_survive() -> None:
    """{{ and }} in a template are literal braces."""
    settings = applied(rules_of({"set": {"name": "{{{sport}}}"}}), GARMIN / "x.fit")
    assert "{Ride}" == settings.name


def test_describe_names_the_rules_and_what_they_set() -> None:
    """`check` shows which rules matched and what they would set, in one line."""
    rules = rules_of({"set": {"trainer": True}},
                     {"glob": "*.fit", "set": {"name": "Indoor", "sport_type": "VirtualRide"}})
    assert "rules[0], rules[1]: name 'Indoor', trainer, sport_type VirtualRide" == (
        applied(rules, GARMIN / "x.fit").describe()
    )


@pytest.mark.parametrize(
    ("table", "key_path"),
    [
        ({"colour": "red", "set": {"trainer": True}}, "rules[0].colour"),
        ({"set": {"trainer": True, "private": True}}, "rules[0].set.private"),
        ({"set": {"sport_type": 7}}, "rules[0].set.sport_type"),
        ({"set": {"name": "{sport} at {place}"}}, "rules[0].set.name"),
        ({"set": {"description": "{0}"}}, "rules[0].set.description"),
        ({"set": {"name": "{device:>10}"}}, "rules[0].set.name"),
        ({"set": {"name": "{sport"}}, "rules[0].set.name"),
        ({"set": {"gear_id": "1234567"}}, "rules[0].set.gear_id"),
        ({"set": {"gear_id": "bike"}}, "rules[0].set.gear_id"),
        ({"set": {"trainer": "yes"}}, "rules[0].set.trainer"),
        ({"sport": "cycling", "set": {"trainer": True}}, "rules[0].sport"),
        ({"glob": "sub/*.fit", "set": {"trainer": True}}, "rules[0].glob"),
        ({"device": 530, "set": {"trainer": True}}, "rules[0].device"),
        ({"sport": "ride"}, "rules[0].set"),
        ({"sport": "ride", "set": "VirtualRide"}, "rules[0].set"),
    ],
)
def test_each_mistake_is_reported_with_its_key_path(table: dict[str, Any], key_path: str) -> None:
    """Unknown keys, a sport type not text, template fields and gear ids name their key path."""
    assert [key_path] == [p.split(":")[0] for p in problems_of(table)]


def test_mistakes_in_several_rules_are_all_reported() -> None:
    """Every rule is checked, each problem under its own index."""
    found = problems_of(
        {"set": {"trainer": True}},
        {"set": {"sport_type": True}},
        {"set": {"gear_id": "x1"}, "where": "here"},
    )
    assert ["rules[1].set.sport_type", "rules[2].where", "rules[2].set.gear_id"] == [
        p.split(":")[0] for p in found
    ]


def test_rules_must_be_an_array_of_tables() -> None:
    """`rules = "x"` or `[rules]` (a single table) is refused with a hint."""
    assert ["rules"] == [p.split(":")[0] for p in rules_from_toml("x", folder_path=Path)[1]]
    assert ["rules"] == [
        p.split(":")[0] for p in rules_from_toml({"set": {}}, folder_path=Path)[1]
    ]


def test_sport_type_names_are_strava_s() -> None:
    """The sport_type list holds Strava's names, so a valid one is never refused."""
    assert 56 == len(set(STRAVA_SPORT_TYPES))
    assert {"VirtualRide", "VirtualRun", "GravelRide", "EMountainBikeRide", "Run"} <= set(
        STRAVA_SPORT_TYPES
    )


def test_sport_names_are_the_validators() -> None:
    """The sport condition knows exactly the names the validator gives files."""
    from stravasync.validate import sports

    canonical = set(vars(sports)["_WORDS"].values())
    assert canonical == set(SPORTS)
