"""The daemon with a wrong athlete's tokens in one account's folder: that account alone halts.

``run --once`` is covered in test_household.py; here the long-running daemon keeps
serving Jane while Bob's folder holds Jane's tokens, sends nothing for Bob, and takes
Bob's files up as soon as ``stravasync auth --account bob`` signs the right athlete
in: no restart.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from daemon_rig import FINAL, child_env, running, wait_until
from emulator_rig import serving
from household_rig import House, starts_of, write_house

from stravasync.emulator import Emulator, HouseholdAthlete
from stravasync.errors import AccountCrossed

pytestmark = pytest.mark.integration

JANE, BOB = 1234567, 2345678


def redirected(emulator: Emulator, athlete: int) -> str:
    """The address Strava sends the athlete's browser back to after approving, code and all."""
    query = urlencode({"client_id": emulator.config.client_id,
                       "redirect_uri": "http://localhost/exchange", "response_type": "code",
                       "approval_prompt": "auto", "scope": "read,activity:write",
                       "state": "s", "athlete": str(athlete)})
    reply = httpx.get(f"{emulator.oauth_url}/authorize?{query}")
    assert 302 == reply.status_code, reply.text
    return reply.headers["location"]


def auth(house: House, account: str, athlete: int) -> subprocess.CompletedProcess[str]:
    """``stravasync auth --account ACCOUNT --code …`` for ``athlete``, as a person runs it."""
    return subprocess.run(
        [sys.executable, "-m", "stravasync", "--config", str(house.config_path), "auth",
         "--account", account, "--code", redirected(house.emulator, athlete)],
        capture_output=True, text=True, env=child_env(house.root), timeout=60, check=False)


@pytest.mark.timeout(90)
def test_a_wrong_athletes_tokens_halt_only_that_account_until_auth_signs_the_right_one(
        tmp_path: Path) -> None:
    """Bob's folder with Jane's tokens: Jane's files go, Bob's wait; ``auth`` resumes Bob."""
    with serving(athletes=(HouseholdAthlete(id=BOB, firstname="Bob"),)) as emulator:
        house = write_house(tmp_path, emulator, {"jane": ["jane"], "bob": ["bob"]})
        house.sign_in("jane", JANE)
        house.sign_in("bob", JANE)  # copied by hand: the wrong athlete
        house.learned()
        jane_start = house.drop("jane", 1)
        bob_start = house.drop("bob", 2)

        with running(house.config()) as daemon:
            household = daemon.household
            assert household is not None
            jane, bob = (household.router.lane(name).engine for name in ("jane", "bob"))
            house.wait_final({"jane": 1}, timeout=30)
            halted_while_wrong = (jane.fatal, type(bob.fatal))
            lists_while_wrong = (starts_of(emulator, JANE), starts_of(emulator, BOB))

            signed_in = auth(house, "bob", BOB)
            daemon._resume()  # the daemon's resume job (every minute), run now
            house.wait_final({"jane": 1, "bob": 1}, timeout=30)
            wait_until(lambda: [bob_start] == starts_of(emulator, BOB), 10,
                       "Bob's workout on Bob's list")
            resumed = (jane.fatal, bob.fatal)

        assert (None, AccountCrossed) == halted_while_wrong
        assert ([jane_start], []) == lists_while_wrong
        assert 0 == signed_in.returncode, signed_in.stderr
        assert (None, None) == resumed
        assert [jane_start] == starts_of(emulator, JANE)
        assert [bob_start] == starts_of(emulator, BOB)


@pytest.mark.timeout(90)
def test_a_wrong_athletes_tokens_put_in_while_the_daemon_runs_send_nothing_for_that_account(
        tmp_path: Path) -> None:
    """Jane's token file copied over Bob's while the daemon runs: Bob's new file goes nowhere."""
    with serving(athletes=(HouseholdAthlete(id=BOB, firstname="Bob"),)) as emulator:
        house = write_house(tmp_path, emulator, {"jane": ["jane"], "bob": ["bob"]})
        house.sign_in("jane", JANE)
        house.sign_in("bob", BOB)
        house.learned()
        bob_first = house.drop("bob", 1)
        folders = house.state_folders()

        with running(house.config()) as daemon:
            household = daemon.household
            assert household is not None
            bob = household.router.lane("bob").engine
            house.wait_final({"bob": 1}, timeout=30)
            # A restored backup, a copy by hand: Bob's folder now holds Jane's sign-in.
            (folders["bob"] / "tokens.json").write_bytes(
                (folders["jane"] / "tokens.json").read_bytes())
            house.drop("bob", 2)
            jane_second = house.drop("jane", 3)
            house.wait_final({"jane": 1}, timeout=30)
            # Bob's engine halts, or (the bug this guards against) sends the file.
            wait_until(lambda: bob.fatal is not None or 2 == len(
                [s for s in house.files()["bob"].values() if s in FINAL]), 30,
                "Bob's second file: halted or sent")
            halted = type(bob.fatal)

        assert [jane_second] == starts_of(emulator, JANE)
        assert [bob_first] == starts_of(emulator, BOB)
        assert AccountCrossed == halted
