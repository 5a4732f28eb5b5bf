"""Two athletes with a shared folder, SIGKILLs and 30 % faults: each workout lands once, on theirs.

The household's exactly-once proof (issue 19): a real ``stravasync run`` is killed with
SIGKILL right after a POST went out, right after Strava answered it, right after a
result was recorded, and at random moments, while the emulator fails ~30 % of calls
(5xx, and uploads created and then answered with a dropped connection). Then it runs
until everything is final, and each athlete's list on the emulator must hold exactly
the workouts of their folders, once each, and none of the other's.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from emulator_rig import serving
from household_rig import faults_met, kill_rounds, settle, starts_of, write_house

from stravasync.emulator import HouseholdAthlete, Knobs

pytestmark = pytest.mark.integration

JANE, BOB = 1234567, 2345678
FAULTS = Knobs(processing_min_s=0.2, processing_max_s=0.8, error_5xx_share=0.12,
               drop_upload_share=0.2)
"""About 30 % of calls fail: 5xx answers, and uploads created and then cut off."""


def prove(tmp_path: Path, *, seed: int, own: int, shared: int, both_posting: bool) -> None:
    """Jane (jane/ + shared/) and Bob (bob/ + shared/), ``own`` workouts in each own folder and
    ``shared`` in the shared one; kill rounds, a final run, then the per-athlete proof."""
    athletes = (HouseholdAthlete(id=BOB, firstname="Bob"),)
    with serving(athletes=athletes, knobs=FAULTS, seed=seed) as emulator:
        house = write_house(tmp_path, emulator, {"jane": ["jane", "shared"],
                                                 "bob": ["bob", "shared"]})
        house.sign_in("jane", JANE)
        house.sign_in("bob", BOB)
        house.learned()
        jane_only = [house.drop("jane", h) for h in range(0, 2 * own, 2)]
        bob_only = [house.drop("bob", h) for h in range(1, 2 * own + 1, 2)]
        both = [house.drop("shared", h) for h in range(100, 100 + shared)]

        together = frozenset({"jane", "bob"} if both_posting else ())
        met = kill_rounds(house, random.Random(seed), together=together)
        files = settle(house, {"jane": own + shared, "bob": own + shared},
                       calm={"error_5xx_share": 0.0, "drop_upload_share": 0.0})

        dropped, errors = faults_met(emulator)
        assert met >= 4, "most rounds must be killed at their moment, not after the work"
        assert dropped > 0, "an upload created and then cut off must have been met"
        assert errors > 0, "5xx answers must have been met"
        assert sorted(jane_only + both) == starts_of(emulator, JANE)
        assert sorted(bob_only + both) == starts_of(emulator, BOB)
        assert {"jane": {"uploaded"}, "bob": {"uploaded"}} == {
            name: set(states.values()) for name, states in files.items()}


@pytest.mark.timeout(180)
def test_sigkills_and_faults_still_give_each_athlete_their_workouts_once(tmp_path: Path) -> None:
    """Killed again and again under 30 % faults: each athlete holds their folders' workouts once."""
    prove(tmp_path, seed=19, own=4, shared=4, both_posting=False)


@pytest.mark.timeout(180)
def test_kills_while_both_athletes_post_still_keep_each_workout_on_its_athlete(
        tmp_path: Path) -> None:
    """Both athletes with a backlog, kills while their POSTs interleave: still once each, theirs."""
    prove(tmp_path, seed=20, own=8, shared=2, both_posting=True)
