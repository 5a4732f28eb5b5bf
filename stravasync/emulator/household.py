"""Owns the household's views over the emulator's state: who holds what, on which service.

Pure functions of the `Core` (the caller holds the lock): an athlete's Strava
activities and uploads, their intervals.icu key and activities, and the mapping from
a Strava athlete id to their intervals.icu id, for inspection and tests.
"""

from __future__ import annotations

from typing import Any

from stravasync.emulator.athletes import HouseholdAthlete
from stravasync.emulator.core import Core


def full_name(athlete: HouseholdAthlete) -> str:
    """First and last name, as intervals.icu shows the athlete."""
    return f"{athlete.firstname} {athlete.lastname}".strip()


def open_account(core: Core, athlete: HouseholdAthlete) -> None:
    """Give a household member their intervals.icu account and first key."""
    core.icu.add_athlete(athlete.icu_id, name=full_name(athlete), key=athlete.icu_key)


def strava_activities(core: Core, athlete_id: int) -> list[dict[str, Any]]:
    """The athlete's live (non-deleted) Strava activities, in the order they were made."""
    activities = core.uploads.activities.values()
    return [a.snapshot() for a in activities if a.athlete_id == athlete_id and not a.deleted]


def member(core: Core, athlete: HouseholdAthlete) -> dict[str, Any]:
    """One athlete for inspection: profile, connection, both services' activities."""
    uploads = [u.id for u in core.uploads.uploads.values() if u.athlete_id == athlete.id]
    return {
        **athlete.describe(),
        "connected": athlete.id in core.tokens.connected,
        "signed_in": athlete.id == core.roster.signed_in,
        "activities": strava_activities(core, athlete.id),
        "uploads": uploads,
        "intervals_key": core.icu.key_of(athlete.icu_id),
        "intervals_activities": [a.snapshot() for a in core.icu.of_athlete(athlete.icu_id)],
    }


def icu_id_of(core: Core, athlete: int | str) -> str:
    """The intervals.icu id of `athlete`: given as ``i…``, or a household Strava id."""
    if isinstance(athlete, str) and athlete.startswith("i"):
        return athlete
    known = core.roster.get(int(athlete))
    if known is None:
        raise ValueError(f"athlete {athlete} is not in the household")
    return known.icu_id
