"""A state folder as 0.2.0 left it: the new code takes it over as account ``me``, changing nothing.

The folder is written by 0.2.0's own code (its store, token store and governor, from
this repository's history; see ``legacy_rig``): 1,000 rows in mixed final states, a few
still owed, a sign-in and the rate-limit state, and no ``account.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from emulator_rig import serving
from fixtures import fit_bytes
from legacy_rig import (
    Folder02,
    Unavailable,
    build_02_folder,
    config_02,
    release_02,
    run_02,
    run_new,
)

from stravasync.emulator import Emulator, HouseholdAthlete, Knobs
from stravasync.state.accounts import read_record

pytestmark = pytest.mark.integration

BOB = 2345678
ADDED = {"accounts", "needs_you", "follow_reason"}
"""Keys ``status --json`` gained since 0.2.0 (SPEC, CHANGELOG); nothing else may differ."""


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """0.2.0's package, from this checkout's history."""
    try:
        return release_02(tmp_path_factory.mktemp("release-0.2.0"))
    except Unavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    knobs = Knobs(processing_min_s=0.1, processing_max_s=0.3)
    with serving(athletes=(HouseholdAthlete(id=BOB, firstname="Bob"),), knobs=knobs) as strava:
        yield strava


def status_json(run: Any) -> dict[str, Any]:
    assert 0 == run.returncode, run.stderr
    return json.loads(run.stdout)  # type: ignore[no-any-return]


def run_until_done(config: Path, *, limit: int = 3) -> list[int]:
    """``run --once`` until it says nothing is left (exit 0), at most ``limit`` times."""
    exits: list[int] = []
    while len(exits) < limit and 0 not in exits:
        exits.append(run_new(config, "run", "--once").returncode)
    return exits


def posted(emulator: Emulator, athlete: int | None = None) -> list[str]:
    """The sha256 of every upload the emulator received (for ``athlete``, if given)."""
    return sorted(u["sha256"] for u in emulator.inspect(requests=False)["uploads"]
                  if athlete is None or u["athlete_id"] == athlete)


def stamp(path: Path) -> tuple[bytes, int, int]:
    """A file's bytes, inode and modification time: 'untouched in place' means all equal."""
    st = path.stat()
    return path.read_bytes(), st.st_ino, st.st_mtime_ns


def test_a_02_folder_keeps_every_file_state_and_sign_in_and_sends_only_what_was_owed(
        tmp_path: Path, tree: Path, emulator: Emulator) -> None:
    """Status after the first start equals 0.2.0's, but for the owed files now sent once each."""
    folder = build_02_folder(tmp_path, emulator=emulator, tree=tree, count=1000)
    before = status_json(run_02(folder, "status", "--json"))
    human_before = run_02(folder, "status").stdout
    tokens_before = stamp(folder.state_dir / "tokens.json")

    first = run_new(folder.config, "run", "--once")
    after = status_json(run_new(folder.config, "status", "--json"))
    human_after = run_new(folder.config, "status").stdout

    assert 0 == first.returncode, first.stderr[-3000:]  # all sent: nothing left for later
    assert not (set(before) - set(after))
    assert ADDED == set(after) - set(before)
    assert before["auth"] == after["auth"]
    owed = {row["path"] for row in folder.owed()}
    kept = [f for f in before["files"] if f["path"] not in owed]
    assert kept == [{k: v for k, v in f.items() if k != "account"}
                    for f in after["files"] if f["path"] not in owed]
    assert {"me"} == {f["account"] for f in after["files"]}
    sent = {f["path"]: f for f in after["files"] if f["path"] in owed}
    assert {"uploaded"} == {f["state"] for f in sent.values()}
    assert all(f["activity_id"] is not None for f in sent.values())
    assert sorted(row["sha256"] for row in folder.owed()) == posted(emulator)
    assert ["me"] == [a["name"] for a in after["accounts"]]
    assert tokens_before == stamp(folder.state_dir / "tokens.json")
    record = read_record(folder.state_dir)
    assert ("me", "strava", str(emulator.config.athlete_id)) == (
        getattr(record, "name", None), getattr(record, "service", None),
        getattr(record, "athlete_id", None))
    assert sign_in_line(human_before) == sign_in_line(human_after)
    assert files_line(len(folder.rows), folder, sent=len(owed)) == files_line_of(human_after)


def test_a_settled_02_folder_reads_the_same_after_the_first_start(
        tmp_path: Path, tree: Path, emulator: Emulator) -> None:
    """Nothing owed: ``status`` reads as 0.2.0's did, and the first start calls Strava not once."""
    folder = build_02_folder(tmp_path, emulator=emulator, tree=tree, count=1000, owed=False)
    before = status_json(run_02(folder, "status", "--json"))
    human_before = run_02(folder, "status").stdout

    first = run_new(folder.config, "run", "--once")
    after = status_json(run_new(folder.config, "status", "--json"))
    human_after = run_new(folder.config, "status").stdout

    assert 0 == first.returncode, first.stderr[-3000:]
    assert 0 == emulator.inspect(requests=False)["counters"]["api_calls"]
    assert before["files"] == [{k: v for k, v in f.items() if k != "account"}
                               for f in after["files"]]
    assert (before["auth"], before["watch"]) == (after["auth"], after["watch"])
    # The one line whose words changed since 0.2.0 (CHANGELOG), and the rate-limit usage,
    # which a quarter-hour turning between the two looks may reset.
    reworded = ("Following uploads:", "Rate limit:")
    assert [line for line in human_before.splitlines() if not line.startswith(reworded)] == [
        line for line in human_after.splitlines() if not line.startswith(reworded)]


def sign_in_line(human: str) -> str:
    return next(line for line in human.splitlines() if line.startswith("Sign-in:"))


def files_line_of(human: str) -> str:
    return next(line for line in human.splitlines() if line.startswith("Files:"))


def files_line(count: int, folder: Folder02, *, sent: int) -> str:
    """The ``Files:`` line once the owed rows are uploaded: 0.2.0's counts otherwise."""
    states = [row["state"] for row in folder.settled()]
    counts = {s: states.count(s) for s in ("uploaded", "duplicate", "invalid", "rejected")}
    counts["uploaded"] += sent
    return f"Files: {count} (" + ", ".join(f"{n} {s}" for s, n in counts.items()) + ")"


def test_the_02_config_keeps_working_when_a_second_athlete_is_added_later(
        tmp_path: Path, tree: Path, emulator: Emulator) -> None:
    """Adding Bob's ``[[accounts]]`` (and ``me``'s) later: the root stays me's, nothing resent."""
    folder = build_02_folder(tmp_path, emulator=emulator, tree=tree, count=100)
    assert 0 == run_until_done(folder.config)[-1]
    tokens_before = stamp(folder.state_dir / "tokens.json")
    sent_before = posted(emulator)
    bob_folder = tmp_path / "bob"
    bob_folder.mkdir()
    # Bob's table alone: [watch] paths would become his, but the root folder is me's.
    folder.config.write_text(config_02(tmp_path, emulator=emulator, extra=(
        f'[[accounts]]\nname = "bob"\npaths = [{json.dumps(str(bob_folder))}]\n')))
    forgot_me = run_new(folder.config, "run", "--once")
    sent_forgetting = posted(emulator)
    folder.config.write_text(config_02(tmp_path, emulator=emulator, extra=(
        '[[accounts]]\nname = "me"\n'
        f'[[accounts]]\nname = "bob"\npaths = [{json.dumps(str(bob_folder))}]\n')))
    signed = sign_in_bob(folder, emulator)
    new_mine = drop(folder.watch / "new.fit", day=1)
    bobs = drop(bob_folder / "bob.fit", day=2)

    exits = run_until_done(folder.config)

    assert 0 != forgot_me.returncode
    assert "belongs to the account 'me', which the configuration no longer names" in (
        forgot_me.stderr)
    assert sent_before == sent_forgetting
    assert 0 == signed.returncode, signed.stderr
    assert 0 == exits[-1]
    assert sorted([*sent_before, new_mine]) == posted(emulator, emulator.config.athlete_id)
    assert [bobs] == posted(emulator, BOB)
    assert tokens_before == stamp(folder.state_dir / "tokens.json")
    assert "me" == getattr(read_record(folder.state_dir), "name", None)
    assert (str(BOB), "bob") == (
        getattr(read_record(folder.state_dir / "accounts" / "bob"), "athlete_id", None),
        getattr(read_record(folder.state_dir / "accounts" / "bob"), "name", None))


def drop(path: Path, *, day: int) -> str:
    """A new workout at ``path`` (``day`` days ago); its sha256 as Strava receives it."""
    start = (datetime.now(UTC) - timedelta(days=day)).replace(microsecond=0)
    data = fit_bytes(start=start, points=20)
    path.write_bytes(data)
    os.utime(path, (start.timestamp(), start.timestamp()))
    return hashlib.sha256(data).hexdigest()


def sign_in_bob(folder: Folder02, emulator: Emulator) -> Any:
    """``auth --account bob --code …``, as Bob's browser came back from Strava."""
    query = urlencode({"client_id": emulator.config.client_id,
                       "redirect_uri": "http://localhost/exchange", "response_type": "code",
                       "approval_prompt": "auto", "scope": "read,activity:write,activity:read_all",
                       "state": "s", "athlete": str(BOB)})
    reply = httpx.get(f"{emulator.oauth_url}/authorize?{query}")
    return run_new(folder.config, "auth", "--account", "bob", "--code",
                   reply.headers["location"])
