"""An intervals.icu account's engine: claim before the POST, one POST per workout, each answer."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from engine_rig import Crash
from icu_rig import IcuWorld
from structlog.testing import capture_logs

from stravasync.errors import KeyRefused
from stravasync.state import State, Workout


def only_row(world: IcuWorld) -> Workout:
    """The one workout of the intervals.icu account's store."""
    rows = world.store.workouts()
    assert 1 == len(rows)
    return rows[0]


def test_a_workout_is_claimed_before_its_post_and_recorded_with_the_activity(
        tmp_path: Path) -> None:
    """The row is uploading with its external id when the POST goes out; then uploaded, once."""
    seen: list[tuple[str, str | None]] = []

    def before(request: httpx.Request) -> None:
        w = only_row(world)
        seen.append((w.state.value, w.external_id))

    world = IcuWorld(tmp_path, before=before)
    engine = world.engine()
    engine.scan([world.workout()])
    world.drive(engine)

    w = only_row(world)
    assert [("uploading", f"stravasync-{w.sha256[:20]}")] == seen
    activities = world.activities()
    assert 1 == len(activities)
    assert (State.UPLOADED, int(activities[0]["id"].removeprefix("i")), None) \
        == (w.state, w.activity_id, w.upload_id)
    assert [w.external_id] == [a["external_id"] for a in activities]
    assert all(r.url.path.startswith("/intervals/api/v1/") for r in world.requests)


def test_a_claim_whose_post_went_through_is_found_by_its_day_and_never_sent_again(
        tmp_path: Path) -> None:
    """A crash after intervals.icu made the activity: the next engine lists, finds it, POSTs nothing."""
    def after(request: httpx.Request, response: httpx.Response) -> None:
        if request.method == "POST":
            raise Crash

    world = IcuWorld(tmp_path, after=after)
    engine = world.engine()
    engine.scan([world.workout(hours_ago=30.0)])
    with pytest.raises(Crash):
        engine.tick()
    assert State.UPLOADING == only_row(world).state
    world.after = None
    sent = len(world.requests)

    world.drive(world.engine())

    later = world.requests[sent:]
    assert [("GET", {"oldest": "2026-02-28", "newest": "2026-03-02"})] \
        == [(r.method, dict(r.url.params)) for r in later]
    assert 1 == len(world.activities())
    w = only_row(world)
    assert (State.UPLOADED, int(world.activities()[0]["id"].removeprefix("i"))) \
        == (w.state, w.activity_id)


def test_a_claim_whose_post_never_arrived_is_looked_for_then_sent_exactly_once(
        tmp_path: Path) -> None:
    """A crash before the POST reached intervals.icu: one list finds nothing, one POST follows."""
    world = IcuWorld(tmp_path, script=[Crash()])
    engine = world.engine()
    engine.scan([world.workout()])
    with pytest.raises(Crash):
        engine.tick()
    sent = len(world.requests)

    world.drive(world.engine())

    assert ["GET", "POST"] == [r.method for r in world.requests[sent:]]
    assert 1 == len(world.activities())
    assert State.UPLOADED == only_row(world).state


def too_many(retry_after: int) -> httpx.Response:
    return httpx.Response(429, headers={"Retry-After": str(retry_after)},
                          json={"status": 429, "error": "Too Many Requests"})


def test_429s_in_a_row_wait_from_retry_after_and_longer_each_time(tmp_path: Path) -> None:
    """Three 429s saying 30 s: the row and the upload gate wait 30, 60, then 120 s."""
    world = IcuWorld(tmp_path, script=[too_many(30), too_many(30), too_many(30)])
    engine = world.engine()
    engine.scan([world.workout()])
    waits: list[tuple[float, float]] = []
    for _ in range(3):
        now = world.clock()
        engine.tick()
        w = only_row(world)
        assert w.next_attempt_at is not None
        due = engine.next_due()
        assert due is not None
        waits.append((w.next_attempt_at - now, due - now))
        world.clock.set(w.next_attempt_at)
    world.drive(engine)

    assert [(30.0, 30.0), (60.0, 60.0), (120.0, 120.0)] == waits
    assert (State.UPLOADED, 4, 1) \
        == (only_row(world).state, len(world.posts()), len(world.activities()))


def test_a_429_is_not_answered_before_its_wait(tmp_path: Path) -> None:
    """While the gate is closed no request goes: the next one waits for Retry-After."""
    world = IcuWorld(tmp_path, script=[too_many(45)])
    engine = world.engine()
    engine.scan([world.workout()])
    engine.tick()
    world.clock.advance(44.0)
    engine.tick()
    assert 1 == len(world.requests)
    world.clock.advance(1.0)
    engine.tick()
    assert (2, State.UPLOADED) == (len(world.requests), only_row(world).state)


@pytest.mark.parametrize("fault", [
    httpx.Response(503, json={"status": 503, "error": "Server Error"}),
    httpx.ConnectError("connection refused"),
    httpx.ReadTimeout("timed out"),
])
def test_a_fault_is_retried_after_a_backoff_and_still_uploads_once(
        tmp_path: Path, fault: httpx.Response | Exception) -> None:
    """5xx, a refused connection, a timeout: ``retrying`` with a backoff, then one activity."""
    world = IcuWorld(tmp_path, script=[fault])
    engine = world.engine()
    engine.scan([world.workout()])
    now = world.clock()
    engine.tick()
    w = only_row(world)
    assert State.RETRYING == w.state
    assert w.next_attempt_at is not None
    assert w.next_attempt_at > now
    assert w.error

    world.drive(engine)

    assert (State.UPLOADED, 1) == (only_row(world).state, len(world.activities()))


def test_a_file_intervals_icu_cannot_read_is_rejected_with_its_message(tmp_path: Path) -> None:
    """422 with a message: ``rejected``, the message as the error, not sent again."""
    refused = httpx.Response(422, json={"status": 422, "error": "Unable to read ride.fit: no records"})
    world = IcuWorld(tmp_path, script=[refused])
    engine = world.engine()
    engine.scan([world.workout()])
    world.drive(engine)

    w = only_row(world)
    assert (State.REJECTED, "Unable to read ride.fit: no records", 1) \
        == (w.state, w.error, len(world.requests))


def test_a_refused_key_halts_the_engine_and_says_where_to_make_a_new_one(tmp_path: Path) -> None:
    """401: the engine stops for a person, names Developer Settings, and logs no key."""
    world = IcuWorld(tmp_path, script=[httpx.Response(401, json={"status": 401,
                                                               "error": "Unauthorized"})])
    engine = world.engine()
    engine.scan([world.workout()])
    with capture_logs() as logs:
        world.drive(engine)
        world.clock.advance(3600.0)
        world.drive(engine)

    fatal = engine.fatal
    assert isinstance(fatal, KeyRefused)
    assert fatal.needs_person
    assert "Developer Settings" in fatal.message
    assert world.key not in fatal.message
    assert 1 == len(world.requests)
    assert State.QUEUED == only_row(world).state
    assert "engine_fatal" in [entry["event"] for entry in logs]
    assert [] == [entry for entry in logs if world.key in repr(entry)]


def test_the_rules_name_and_description_reach_the_post_and_strava_settings_do_not(
        tmp_path: Path) -> None:
    """A rule for the account: its name and description go as query fields, nothing else."""
    rules = [{"account": "jane-icu", "set": {
        "name": "Icu {sport}", "description": "via stravasync", "commute": True,
        "trainer": True, "sport_type": "VirtualRun", "hide_from_home": True}}]
    world = IcuWorld(tmp_path, rules=rules)
    engine = world.engine()
    engine.scan([world.workout()])
    world.drive(engine)

    params = dict(world.posts()[0].url.params)
    del params["external_id"]
    assert {"name": "Icu Run", "description": "via stravasync"} == params
    assert (State.UPLOADED, 1) == (only_row(world).state, len(world.requests))
    assert ("Icu Run", "via stravasync") \
        == (world.activities()[0]["name"], world.activities()[0]["description"])


def test_upload_after_delete_is_carried_out_once_intervals_icu_has_it(tmp_path: Path) -> None:
    """``upload.after = "delete"``: the file is gone once its activity is recorded."""
    world = IcuWorld(tmp_path, upload={"after": "delete"}, strava=False)
    path = world.workout()
    engine = world.engine()
    engine.scan([path])
    world.drive(engine)

    assert (State.UPLOADED, False) == (only_row(world).state, path.exists())


def test_posts_dispatched_beside_a_429_wait_with_it(tmp_path: Path) -> None:
    """Two workouts due at once, the first POST meets 429: the second is not sent into it."""
    world = IcuWorld(tmp_path, script=[too_many(20)])
    engine = world.engine()
    engine.scan([world.workout("a.fit", hours_ago=30.0), world.workout("b.fit", hours_ago=20.0)])
    engine.tick()

    assert 1 == len(world.requests)
    assert [State.QUEUED, State.QUEUED] == [w.state for w in world.store.workouts()]
    world.drive(engine)
    assert (3, 2) == (len(world.requests), len(world.activities()))


def test_a_post_whose_answer_was_lost_is_found_by_the_retry_and_not_sent_again(
        tmp_path: Path) -> None:
    """The connection drops after intervals.icu made the activity: the retry lists and records it."""
    def after(request: httpx.Request, response: httpx.Response) -> None:
        if request.method == "POST":
            world.after = None
            raise httpx.RemoteProtocolError("server closed the connection", request=request)

    world = IcuWorld(tmp_path, after=after)
    engine = world.engine()
    engine.scan([world.workout()])
    engine.tick()
    assert State.RETRYING == only_row(world).state

    world.drive(engine)

    assert ["POST", "GET"] == [r.method for r in world.requests]
    assert (State.UPLOADED, 1) == (only_row(world).state, len(world.activities()))
