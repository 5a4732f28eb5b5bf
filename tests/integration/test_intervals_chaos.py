"""Strava and intervals.icu under SIGKILLs and 30 % faults: each workout once on each, never crossed.

Issue 20's proof: Jane's folder goes to her Strava account and to her intervals.icu
account, Bob's folder to his intervals.icu account only. A real ``stravasync run`` is
killed with SIGKILL right after POSTs went out (from both services), right after
answers, right after records, and at random moments, while both services fail ~30 %
of calls (Strava: 5xx and uploads cut off after creation; intervals.icu: 5xx and
uploads recorded and then cut off). Then it runs until everything is final, and each
list on the emulator must hold exactly its account's workouts, once each.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from emulator_rig import serving
from household_rig import kill_rounds, settle, starts_of, write_house

from stravasync.emulator import Emulator, HouseholdAthlete, Knobs

pytestmark = pytest.mark.integration

JANE, BOB = 1234567, 2345678
FAULTS = Knobs(processing_min_s=0.2, processing_max_s=0.8, error_5xx_share=0.12,
               drop_upload_share=0.2, intervals_5xx_share=0.15, intervals_drop_share=0.15)
"""About 30 % of each service's calls fail, half of the failures after the upload was made."""
CALM = {"error_5xx_share": 0.0, "drop_upload_share": 0.0, "intervals_5xx_share": 0.0,
        "intervals_drop_share": 0.0}


def icu_starts(emulator: Emulator, athlete: int) -> list[float]:
    """The start times of the athlete's intervals.icu activities, one per activity."""
    return sorted(float(a["start_time"]) for a in emulator.intervals_activities_of(athlete))


def icu_faults(emulator: Emulator) -> tuple[int, int]:
    """The intervals.icu faults dealt: (uploads recorded, then cut off; 5xx answers)."""
    state = emulator.inspect(requests=False)["intervals"]
    dropped = sum(1 for a in state["activities"] if a["dropped"])
    errors = sum(int(n) for status, n in state["by_status"].items() if str(status)[0] == "5")
    return dropped, errors


@pytest.mark.timeout(180)
def test_sigkills_and_faults_on_both_services_leave_each_workout_once_on_each(
        tmp_path: Path) -> None:
    """20 workouts, killed again and again under faults: once on each service, never crossed."""
    athletes = (HouseholdAthlete(id=BOB, firstname="Bob"),)
    with serving(athletes=athletes, knobs=FAULTS, seed=21) as emulator:
        house = write_house(tmp_path, emulator, {"jane": ["jane"]},
                            intervals={"jane-icu": (JANE, ["jane"]), "bob-icu": (BOB, ["bob"])})
        house.sign_in("jane", JANE)
        house.learned()
        jane = [house.drop("jane", h) for h in range(0, 28, 2)]
        bob = [house.drop("bob", h) for h in range(1, 13, 2)]

        met = kill_rounds(house, random.Random(21), together=frozenset({"strava", "intervals"}))
        files = settle(house, {"jane": 14, "jane-icu": 14, "bob-icu": 6}, calm=CALM)

        dropped, errors = icu_faults(emulator)
        assert met >= 4, "most rounds must be killed at their moment, not after the work"
        assert dropped > 0, "an intervals.icu upload recorded and then cut off must have been met"
        assert errors > 0, "intervals.icu 5xx answers must have been met"
        assert 20 == len(jane) + len(bob)
        assert sorted(jane) == starts_of(emulator, JANE)
        assert sorted(jane) == icu_starts(emulator, JANE)
        assert sorted(bob) == icu_starts(emulator, BOB)
        assert [] == starts_of(emulator, BOB)
        assert {"jane": {"uploaded"}, "jane-icu": {"uploaded"}, "bob-icu": {"uploaded"}} == {
            name: set(states.values()) for name, states in files.items()}
