"""Each step of a file's story is logged once, with its path and a readable time.

(Issue 18, finding 19: a Zwift file's ``activity_updated`` came twice, duplicates
said ``activity_id=None``, ``upload_deferred`` had no path and a raw float time.)
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections import Counter
from pathlib import Path

from engine_rig import World, workout_file
from pieces_rig import Pieces, SlowGovernor
from structlog.testing import capture_logs

from stravasync.config.rules import rules_from_toml

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def test_a_zwift_file_logs_each_step_once(tmp_path: Path, corpus: Path) -> None:
    """The corpus Zwift ride with a sport_type rule: started, done, updated, once each."""
    world = World(tmp_path)
    rules, _ = rules_from_toml([{"set": {"sport_type": "VirtualRide"}}],
                               folder_path=[str(world.watch)])
    world.config = dataclasses.replace(world.config, rules=rules)
    path = world.watch / "zwift.fit"
    shutil.copyfile(corpus / "fit_zwift_virtual-ride.fit", path)
    engine = world.engine()
    with capture_logs() as logs:
        engine.submit(path, ignore_age=True)
        world.drive(engine)
    counts = Counter(e["event"] for e in logs)
    steps = ("upload_started", "upload_done", "activity_updated")
    assert dict.fromkeys(steps, 1) == {step: counts[step] for step in steps}
    [updated] = [e for e in logs if e["event"] == "activity_updated"]
    assert str(path) == updated["path"]


def test_a_copy_of_a_file_in_flight_logs_no_activity_id_none(tmp_path: Path) -> None:
    """A second path of content not yet on Strava logs no ``activity_id=None``."""
    world = World(tmp_path)
    first = workout_file(world.watch, "a.fit", start=world.start())
    copy = world.watch / "copy.fit"
    shutil.copyfile(first, copy)
    engine = world.engine()
    engine.submit(first)
    with capture_logs() as logs:
        engine.submit(copy)
    [duplicate] = [e for e in logs if e["event"] == "upload_duplicate"]
    assert (str(copy), str(first)) == (duplicate["path"], duplicate["duplicate_of"])
    assert "activity_id" not in duplicate


def test_a_copy_of_a_file_on_strava_logs_its_activity(tmp_path: Path) -> None:
    """A second path of content already on Strava logs the activity the status shows."""
    world = World(tmp_path)
    first = workout_file(world.watch, "a.fit", start=world.start())
    engine = world.engine()
    engine.submit(first)
    world.drive(engine)
    copy = world.watch / "copy.fit"
    shutil.copyfile(first, copy)
    with capture_logs() as logs:
        engine.submit(copy)
    [duplicate] = [e for e in logs if e["event"] == "upload_duplicate"]
    [entry] = [f for f in world.store.files() if f.path == str(copy)]
    assert entry.activity_id is not None
    assert entry.activity_id == duplicate["activity_id"]


def test_upload_deferred_names_the_file_and_an_iso_time(tmp_path: Path) -> None:
    """A rate-limit wait is logged with the file's path and its end in ISO 8601 UTC."""
    world = World(tmp_path)
    until = world.clock() + 600
    pieces = Pieces.over(world, governor=SlowGovernor(world.governor, kind="upload",
                                                      until=until))
    [sha] = pieces.queue("run.fit")
    with capture_logs() as logs:
        pieces.transfer.post(sha)
    [deferred] = [e for e in logs if e["event"] == "upload_deferred"]
    assert pieces.row(sha).path == deferred["path"]
    assert ISO_UTC.fullmatch(deferred["until"]), deferred["until"]
