"""Tests for the upload engine, driven on a manual clock against the emulator (MockTransport)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import httpx
import pytest
from engine_rig import World, workout_file
from structlog.testing import capture_logs

from stravasync.demo.samples import sample_broken, sample_fit
from stravasync.state import State, Store
from stravasync.upload.polling import Pacing, backoff_delay


@pytest.fixture
def world(tmp_path: Path) -> World:
    """Emulator with processing inside the default estimate."""
    return World(tmp_path, knobs={"processing_min_s": 0.5, "processing_max_s": 2.0})


def test_every_workout_becomes_one_activity_for_two_calls(world: World) -> None:
    """Five workouts: five activities, one POST and one poll each."""
    paths = [workout_file(world.watch, f"w{i}.fit", start=world.start(hours=i)) for i in range(5)]
    engine = world.engine()
    engine.scan(paths)
    world.drive(engine)
    assert dict.fromkeys((p.name for p in paths), "uploaded") == world.states()
    assert 5 == len(world.activities())
    assert 10 == world.api_calls()


def test_oldest_workout_goes_first(world: World) -> None:
    """Upload ids follow workout start times, not file names or scan order."""
    paths = [workout_file(world.watch, f"w{i}.fit", start=world.start(hours=i)) for i in range(3)]
    engine = world.engine()
    engine.scan(paths)
    world.drive(engine)
    by_name = {Path(f.path).name: int(f.upload_id or 0) for f in world.store.files()}
    assert sorted(by_name, key=by_name.__getitem__) == ["w2.fit", "w1.fit", "w0.fit"]


def test_concurrency_limits_uploads_in_flight(tmp_path: Path) -> None:
    """With concurrency 2, never more than two uploads are being processed at once."""
    world = World(tmp_path, config_overrides={"upload": {"concurrency": 2}})
    paths = [workout_file(world.watch, f"w{i}.fit", start=world.start(hours=i)) for i in range(6)]
    engine = world.engine()
    engine.scan(paths)
    most = 0
    for _ in range(200):
        due = engine.tick()
        most = max(most, world.store.in_flight())
        if due is None:
            break
        world.clock.set(max(due, world.clock()))
    assert 2 == most
    assert 6 == len(world.activities())


def test_same_content_under_another_name_is_sent_once(world: World) -> None:
    """A copy of a file elsewhere shows as duplicate with the first one's activity id."""
    first = workout_file(world.watch, "ride.fit", start=world.start())
    copy = world.watch / "backup" / "ride-copy.fit"
    copy.parent.mkdir()
    copy.write_bytes(first.read_bytes())
    engine = world.engine()
    engine.scan([first, copy])
    world.drive(engine)
    files = {Path(f.path).name: f for f in world.store.files()}
    assert 1 == len(world.activities())
    assert State.DUPLICATE == files["ride-copy.fit"].state
    assert files["ride.fit"].activity_id == files["ride-copy.fit"].activity_id


def test_one_workout_in_two_formats_is_sent_once_as_fit(world: World) -> None:
    """GPX and FIT of one workout (30 s apart): the FIT is sent, the GPX is its duplicate."""
    start = world.start()
    gpx = workout_file(world.watch, "a.gpx", start=start, fmt="gpx")
    fit = workout_file(world.watch, "a.fit", start=start.replace(second=30), fmt="fit")
    engine = world.engine()
    engine.scan([gpx, fit])
    world.drive(engine)
    uploads = world.emulator.inspect(requests=False)["uploads"]
    files = {Path(f.path).name: f for f in world.store.files()}
    assert ["fit.gz"] == [u["data_type"] for u in uploads]
    assert (State.DUPLICATE, files["a.fit"].activity_id) == (
        files["a.gpx"].state, files["a.gpx"].activity_id)


def test_bad_and_old_files_are_never_sent(world: World) -> None:
    """An invalid file is invalid, an old workout is skipped; neither reaches Strava."""
    (world.watch / "broken.fit").write_bytes(sample_broken())
    old = workout_file(world.watch, "old.fit", start=world.start(days_ago=45))
    engine = world.engine()
    engine.scan([world.watch / "broken.fit", old])
    world.drive(engine)
    assert {"broken.fit": "invalid", "old.fit": "skipped"} == world.states()
    assert 0 == world.api_calls()
    assert "watch.max_age_days = 30" in (world.store.files()[1].error or "")


def test_old_workout_is_sent_when_asked_by_hand(world: World) -> None:
    """`stravasync upload` of an old workout sends it, even after the daemon skipped it."""
    old = workout_file(world.watch, "old.fit", start=world.start(days_ago=45))
    engine = world.engine()
    assert State.SKIPPED == engine.submit(old).state
    assert State.QUEUED == engine.submit(old, ignore_age=True).state
    world.drive(engine)
    assert {"old.fit": "uploaded"} == world.states()


@pytest.mark.parametrize("html", [0.0, 1.0])
def test_a_duplicate_at_poll_records_the_existing_activity(tmp_path: Path, html: float) -> None:
    """Strava already has it (plain or HTML text): duplicate, with that activity's id."""
    world = World(tmp_path, knobs={"duplicate_html_share": html})
    path = workout_file(world.watch, "a.fit", start=world.start())
    existing = world.emulator.add_activity(path.read_bytes())
    engine = world.engine()
    engine.submit(path)
    world.drive(engine)
    entry = world.store.files()[0]
    assert (State.DUPLICATE, existing) == (entry.state, entry.activity_id)
    assert "duplicate of" in (entry.error or "")


def test_a_duplicate_at_post_records_the_existing_activity(tmp_path: Path) -> None:
    """A duplicate refused at POST time ends the same way, without a poll."""
    world = World(tmp_path, knobs={"duplicate_at_post": True})
    path = workout_file(world.watch, "a.fit", start=world.start())
    existing = world.emulator.add_activity(path.read_bytes())
    engine = world.engine()
    engine.submit(path)
    world.drive(engine)
    entry = world.store.files()[0]
    assert (State.DUPLICATE, existing, 1) == (entry.state, entry.activity_id, world.api_calls())


def test_a_deleted_activity_is_rejected_with_stravas_words(tmp_path: Path) -> None:
    """'The created activity has been deleted.' is a rejection, kept verbatim."""
    world = World(tmp_path, knobs={"deleted_share": 1.0})
    path = workout_file(world.watch, "a.fit", start=world.start())
    engine = world.engine()
    engine.submit(path)
    world.drive(engine)
    entry = world.store.files()[0]
    assert (State.REJECTED, "The created activity has been deleted.") == (entry.state, entry.error)


def test_a_dropped_connection_after_create_ends_as_uploaded(tmp_path: Path) -> None:
    """The POST went through but its answer was lost: the re-POST's duplicate is ours."""
    world = World(tmp_path, knobs={"drop_upload_share": 1.0})
    path = workout_file(world.watch, "a.fit", start=world.start())
    engine = world.engine()
    engine.submit(path)
    engine.tick()
    assert State.RETRYING == world.store.files()[0].state
    world.emulator.set_knobs(drop_upload_share=0.0)
    world.drive(engine)
    entry = world.store.files()[0]
    assert (State.UPLOADED, 1) == (entry.state, len(world.activities()))
    assert world.activities()[0]["id"] == entry.activity_id


def test_server_errors_are_retried_with_growing_backoff(tmp_path: Path) -> None:
    """5xx answers: retrying with next_attempt_at, later attempts further apart, then done."""
    world = World(tmp_path, knobs={"error_5xx_share": 1.0})
    path = workout_file(world.watch, "a.fit", start=world.start())
    engine = world.engine()
    engine.submit(path)
    gaps = []
    for _ in range(4):
        due = engine.tick()
        entry = world.store.files()[0]
        assert State.RETRYING == entry.state
        assert due is not None
        assert entry.next_attempt_at == due
        gaps.append(due - world.clock())
        world.clock.set(due)
    assert gaps[-1] > gaps[0]
    world.emulator.set_knobs(error_5xx_share=0.0)
    world.drive(engine)
    assert {"a.fit": "uploaded"} == world.states()


def test_backoff_is_jittered_and_capped() -> None:
    """Backoff doubles from the base, stays within [half, all], and stops at the cap."""
    timing = Pacing()
    delays = [backoff_delay(n, timing) for n in range(1, 12)]
    assert 2.5 <= delays[0] <= 5.0
    assert max(delays) <= 900.0
    assert delays[-1] >= 450.0


def test_rate_limit_defers_without_calling(world: World) -> None:
    """A governor that says "not before T" holds the upload queued; no request goes out."""
    path = workout_file(world.watch, "a.fit", start=world.start())
    world.governor.pause(until=world.clock() + 600, reason="rate_limit_15")
    engine = world.engine()
    engine.submit(path)
    due = engine.tick()
    assert (State.QUEUED, 0) == (world.store.files()[0].state, world.api_calls())
    assert due is not None
    assert due >= world.clock() + 600


def test_a_429_pauses_until_the_window_ends(tmp_path: Path) -> None:
    """Over the limit at Strava: the upload waits for the next quarter hour, then goes."""
    world = World(tmp_path, knobs={"limit_15": 5})
    world.emulator.set_usage(usage_15=5)
    path = workout_file(world.watch, "a.fit", start=world.start())
    engine = world.engine()
    engine.submit(path)
    due = engine.tick()
    assert State.QUEUED == world.store.files()[0].state
    assert due is not None
    assert 0 == due % 900
    world.drive(engine)
    assert {"a.fit": "uploaded"} == world.states()


def test_missing_scope_stops_all_calls_once(tmp_path: Path) -> None:
    """No activity:write: fatal condition, files stay queued, and no call loop."""
    world = World(tmp_path)
    world.sign_in(scope="read")
    paths = [workout_file(world.watch, f"w{i}.fit", start=world.start(hours=i)) for i in range(3)]
    engine = world.engine()
    with capture_logs() as logs:
        engine.scan(paths)
        world.drive(engine)
    calls = world.api_calls()
    world.drive(engine)
    assert calls == world.api_calls() == 1
    assert engine.fatal is not None
    assert {"queued"} == set(world.states().values())
    assert 1 == sum(1 for e in logs if e["event"] == "engine_fatal")
    assert "fatal" == engine.wait_idle(timeout=1).status


def test_an_inactive_app_pauses_everything(tmp_path: Path) -> None:
    """403 Inactive: one call, then nothing until the pause ends; the file stays queued."""
    world = World(tmp_path, knobs={"inactive": True})
    path = workout_file(world.watch, "a.fit", start=world.start())
    engine = world.engine()
    engine.submit(path)
    due = engine.tick()
    assert (1, State.QUEUED) == (world.api_calls(), world.store.files()[0].state)
    assert due is not None
    assert due >= world.clock() + 3000


def test_a_stuck_upload_is_parked_not_hammered(tmp_path: Path) -> None:
    """An upload processing for 15 minutes costs a handful of polls, never one a second."""
    world = World(tmp_path, knobs={"stuck_share": 1.0, "stuck_s": 900.0})
    path = workout_file(world.watch, "a.fit", start=world.start())
    engine = world.engine()
    engine.submit(path)
    with capture_logs() as logs:
        world.drive(engine, horizon=1200)
    assert {"a.fit": "uploaded"} == world.states()
    assert world.api_calls() <= 15
    assert 1 == sum(1 for e in logs if e["event"] == "upload_parked")


def test_the_learned_processing_time_survives_a_restart(tmp_path: Path) -> None:
    """Slow processing raises the estimate; a new engine on the same store starts from it."""
    world = World(tmp_path, knobs={"processing_min_s": 8.0, "processing_max_s": 9.0})
    paths = [workout_file(world.watch, f"w{i}.fit", start=world.start(hours=i)) for i in range(4)]
    engine = world.engine()
    engine.scan(paths)
    world.drive(engine)
    assert engine.processing_estimate > 5.0
    restarted = world.engine(store=Store.open(world.state_dir, clock=world.clock))
    assert engine.processing_estimate == pytest.approx(restarted.processing_estimate, abs=1e-3)


def test_known_files_are_not_read_again(world: World) -> None:
    """A rescan trusts path + size + mtime: nothing is read or hashed."""
    paths = [workout_file(world.watch, f"w{i}.fit", start=world.start(hours=i)) for i in range(3)]
    world.engine().scan(paths)
    again = world.engine()
    report = again.scan(paths)
    assert (3, 3, 0, 0) == (report.seen, report.known, report.read, again.files_read)


def test_a_file_that_changes_while_read_stays_pending(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Size or mtime moving during the read: pending, nothing recorded as content."""
    path = workout_file(world.watch, "a.fit", start=world.start())
    real_open = open

    def growing_open(file: object, mode: str = "r", *args: object, **kwargs: object) -> object:
        handle = real_open(file, mode, *args, **kwargs)  # type: ignore[call-overload]
        if file == path and "r" in mode:
            with real_open(path, "ab") as more:
                more.write(b"\0")
        return handle

    monkeypatch.setattr("builtins.open", growing_open)
    result = world.engine().submit(path)
    monkeypatch.undo()
    assert (State.PENDING, "still being written") == (result.state, result.error)
    assert [("pending", None)] == [(f.state.value, f.sha256) for f in world.store.files()]


def test_gzip_upload_sends_the_gz_data_type(tmp_path: Path) -> None:
    """upload.gzip = false sends the plain type; a gzipped file on disk is sent decompressed."""
    world = World(tmp_path, config_overrides={"upload": {"gzip": False}})
    path = world.watch / "a.fit.gz"
    path.write_bytes(gzip.compress(sample_fit(start=world.start())))
    engine = world.engine()
    engine.submit(path)
    world.drive(engine)
    assert ["fit"] == [u["data_type"] for u in world.emulator.inspect()["uploads"]]
    assert {"a.fit.gz": "uploaded"} == world.states()


def test_after_move_archives_keeping_the_relative_path(tmp_path: Path) -> None:
    """Once the activity id is recorded the file moves under archive_dir; never overwrites."""
    archive = tmp_path / "archive"
    world = World(tmp_path, config_overrides={"upload": {"after": "move",
                                                         "archive_dir": str(archive)}})
    path = workout_file(world.watch / "2025", "a.fit", start=world.start())
    (archive / "2025").mkdir(parents=True)
    (archive / "2025" / "a.fit").write_bytes(b"someone else's file")
    engine = world.engine()
    engine.submit(path)
    world.drive(engine)
    assert not path.exists()
    assert b"someone else's file" == (archive / "2025" / "a.fit").read_bytes()
    entry = world.store.files()[0]
    assert (str(archive / "2025" / "a-1.fit"), State.UPLOADED) == (entry.path, entry.state)


def test_after_delete_removes_the_file_but_keeps_the_record(tmp_path: Path) -> None:
    """after = delete: the file goes once uploaded; status still shows it uploaded."""
    world = World(tmp_path, config_overrides={"upload": {"after": "delete",
                                                                "delete_outside_home": True}})
    path = workout_file(world.watch, "a.fit", start=world.start())
    engine = world.engine()
    engine.submit(path)
    world.drive(engine)
    assert not path.exists()
    assert [(str(path), State.UPLOADED)] == [(f.path, f.state) for f in world.store.files()]


def test_retry_puts_a_rejected_file_back(tmp_path: Path) -> None:
    """A rejected file is queued again by retry and then sent again."""
    world = World(tmp_path, knobs={"deleted_share": 1.0})
    path = workout_file(world.watch, "a.fit", start=world.start())
    engine = world.engine()
    engine.submit(path)
    world.drive(engine)
    world.emulator.set_knobs(deleted_share=0.0)
    assert [str(path)] == engine.retry()
    world.drive(engine)
    assert {"a.fit": "uploaded"} == world.states()


def test_every_transition_is_one_log_event(world: World) -> None:
    """The life of one file reads as stable snake_case events with path and sha256."""
    path = workout_file(world.watch, "a.fit", start=world.start())
    engine = world.engine()
    with capture_logs() as logs:
        engine.submit(path)
        world.drive(engine)
    ours = [e for e in logs if e.get("path") == str(path)]
    assert ["file_seen", "upload_queued", "upload_started", "upload_created",
            "upload_done"] == [e["event"] for e in ours]
    done = ours[-1]
    assert all(done[key] for key in ("sha256", "upload_id", "activity_id"))


def test_wait_idle_reports_deferred_work(world: World) -> None:
    """A long backoff: wait_idle returns at once with the next due time."""
    path = workout_file(world.watch, "a.fit", start=world.start())
    world.governor.pause(until=world.clock() + 900, reason="rate_limit_15")
    engine = world.engine()
    engine.submit(path)
    outcome = engine.wait_idle(timeout=5)
    assert "deferred" == outcome.status
    assert outcome.next_due is not None
    assert outcome.next_due >= world.clock() + 900


def test_the_payload_is_read_again_if_not_cached(world: World) -> None:
    """A restart between ingest and upload reads the file again and checks its hash."""
    path = workout_file(world.watch, "a.fit", start=world.start())
    world.engine().submit(path)
    engine = world.engine()
    world.drive(engine)
    assert {"a.fit": "uploaded"} == world.states()


def test_a_file_gone_before_upload_is_retried_not_lost(world: World) -> None:
    """The device was unplugged: retrying, and uploaded once the file is back."""
    path = workout_file(world.watch, "a.fit", start=world.start())
    data = path.read_bytes()
    world.engine().submit(path)
    os.unlink(path)
    engine = world.engine()
    engine.tick()
    assert State.RETRYING == world.store.files()[0].state
    path.write_bytes(data)
    world.drive(engine)
    assert {"a.fit": "uploaded"} == world.states()


def test_a_transport_failure_on_poll_keeps_the_upload_id(world: World) -> None:
    """A failed poll never leads to a second POST."""
    path = workout_file(world.watch, "a.fit", start=world.start())
    engine = world.engine()
    engine.submit(path)
    engine.tick()
    flaky = Flaky(world.client)
    engine2 = world.engine(client=flaky)
    world.drive(engine2)
    uploads = world.emulator.inspect(requests=False)["uploads"]
    assert (1, 1, "uploaded") == (len(uploads), flaky.failed, world.states()["a.fit"])


class Flaky:
    """A client whose first poll fails at the transport."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.failed = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)  # everything but the first poll, as it is

    def get_upload(self, upload_id: str) -> object:
        if not self.failed:
            self.failed += 1
            from stravasync.strava.wire import translate_errors

            with translate_errors("poll"):
                raise httpx.ConnectError("down")
        return self.inner.get_upload(upload_id)  # type: ignore[attr-defined]


def test_a_fifo_or_device_with_a_workout_name_is_refused_not_read(world: World) -> None:
    """A named pipe (or a link to /dev/zero) called *.fit is refused at once, never read."""
    import threading

    fifo = world.watch / "pipe.fit"
    os.mkfifo(fifo)
    device = world.watch / "zero.fit"
    device.symlink_to("/dev/zero")
    engine = world.engine()
    results: list[object] = []
    worker = threading.Thread(
        target=lambda: results.extend(engine.submit(p) for p in (fifo, device)), daemon=True)
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "submit blocked reading a non-regular file"
    assert [(State.PENDING, "not a regular file")] * 2 == [
        (r.state, r.error) for r in results]  # type: ignore[attr-defined]
    assert {str(fifo): "not a regular file", "/dev/zero": "not a regular file"} == {
        f.path: f.error for f in world.store.files() if f.state is State.PENDING}
    assert 0 == world.api_calls()


def test_a_parked_upload_does_not_hold_back_the_queue(tmp_path: Path) -> None:
    """With every slot taken by an upload Strava keeps processing for hours, new files still go."""
    world = World(tmp_path, knobs={"stuck_share": 1.0, "stuck_s": 7200.0},
                  config_overrides={"upload": {"concurrency": 1}})
    stuck = workout_file(world.watch, "stuck.fit", start=world.start(hours=2))
    engine = world.engine()
    engine.submit(stuck)
    engine.tick()
    world.emulator.set_knobs(stuck_share=0.0)
    fresh = workout_file(world.watch, "fresh.fit", start=world.start())
    engine.submit(fresh)
    end = world.clock() + 900.0  # park_after_s (60) + first look (120) are well within
    while (due := engine.tick()) is not None and due <= end:
        world.clock.set(max(due, world.clock()))
    assert {"stuck.fit": "uploading", "fresh.fit": "uploaded"} == world.states()


def test_a_deleted_activity_does_not_send_its_other_format_copy(tmp_path: Path) -> None:
    """Strava made the FIT an activity and it was deleted: the GPX of that workout stays unsent."""
    world = World(tmp_path, knobs={"deleted_share": 1.0})
    start = world.start()
    fit = workout_file(world.watch, "a.fit", start=start, fmt="fit")
    gpx = workout_file(world.watch, "a.gpx", start=start.replace(second=30), fmt="gpx")
    engine = world.engine()
    engine.scan([fit, gpx])
    world.drive(engine)
    uploads = world.emulator.inspect(requests=False)["uploads"]
    assert ["fit.gz"] == [u["data_type"] for u in uploads]
    assert {"a.fit": "rejected", "a.gpx": "duplicate"} == world.states()


def test_an_unexpected_failure_is_retried_with_growing_backoff(world: World) -> None:
    """A bug or a broken token file on every attempt: each try waits longer than the last."""

    class Broken:
        def create_upload(self, **_kwargs: object) -> object:
            raise RuntimeError("unexpected")

        def get_upload(self, upload_id: str) -> object:
            raise AssertionError("never polled")

        def can_list(self) -> bool:
            return False

        def list_access(self) -> str:
            return "missing"

    path = workout_file(world.watch, "a.fit", start=world.start())
    engine = world.engine(client=Broken())
    engine.submit(path)
    gaps = []
    for _ in range(4):
        due = engine.tick()
        assert due is not None
        gaps.append(due - world.clock())
        world.clock.set(due)
    assert gaps[-1] > 2 * gaps[0]
    assert "internal error: RuntimeError: unexpected" == world.store.files()[0].error


def test_a_new_workout_at_an_uploaded_path_is_sent_and_a_rename_is_not(world: World) -> None:
    """Same name, new workout: a second activity; the old file renamed: no third one."""
    path = workout_file(world.watch, "current.fit", start=world.start(hours=5))
    engine = world.engine()
    engine.submit(path)
    world.drive(engine)
    old = path.read_bytes()
    workout_file(world.watch, "current.fit", start=world.start())  # the device reuses the name
    engine.submit(path)
    world.drive(engine)
    (world.watch / "renamed.fit").write_bytes(old)
    engine.submit(world.watch / "renamed.fit")
    world.drive(engine)
    assert 2 == len(world.activities())
    assert State.DUPLICATE == engine.submit(world.watch / "renamed.fit").state


def test_a_missing_client_secret_at_refresh_time_stops_calls_once(tmp_path: Path) -> None:
    """Tokens expire and no client secret is configured: fatal, said once, no loop."""
    from dataclasses import replace

    from stravasync.errors import ConfigError
    from stravasync.strava.client import StravaClient
    from stravasync.strava.oauth import OAuthClient
    from stravasync.strava.tokens import TokenStore

    world = World(tmp_path)
    no_secret = replace(world.config.strava, client_secret="")
    oauth = OAuthClient(config=no_secret, transport=world.transport)
    tokens = TokenStore(state_dir=world.state_dir, refresher=oauth, clock=world.clock)
    client = StravaClient(config=no_secret, tokens=tokens, governor=world.governor,
                          transport=world.transport, clock=world.clock)
    world.clock.advance(7 * 3600)  # the access token has expired
    path = workout_file(world.watch, "a.fit", start=world.start())
    engine = world.engine(client=client)
    with capture_logs() as logs:
        engine.submit(path)
        world.drive(engine)
        world.drive(engine)
    assert isinstance(engine.fatal, ConfigError)
    assert 0 == world.api_calls()
    assert {"queued"} == set(world.states().values())
    assert 1 == sum(1 for e in logs if e["event"] == "engine_fatal")


@pytest.mark.parametrize("at_post", [False, True])
def test_a_duplicate_in_html_is_recorded_and_logged_as_plain_text(
    tmp_path: Path, at_post: bool
) -> None:
    """Strava's HTML duplicate text reaches the store and the log without tags or entities."""
    world = World(tmp_path, knobs={"duplicate_html_share": 1.0, "duplicate_at_post": at_post})
    path = workout_file(world.watch, "a.fit", start=world.start())
    existing = world.emulator.add_activity(path.read_bytes())
    engine = world.engine()
    engine.submit(path)
    with capture_logs() as logs:
        world.drive(engine)
    entry = world.store.files()[0]
    logged = [e["error"] for e in logs if e["event"] == "upload_duplicate"]
    assert (State.DUPLICATE, existing) == (entry.state, entry.activity_id)
    assert (entry.error or "").endswith(f" duplicate of activity {existing}")
    assert "<" not in (entry.error or "")
    assert [entry.error] == logged


def test_sending_an_old_workout_by_hand_keeps_its_other_paths(world: World) -> None:
    """`upload` of a skipped old file keeps its copies' paths: the copy shows as duplicate."""
    old = workout_file(world.watch, "old.fit", start=world.start(days_ago=45))
    copy = world.watch / "backup" / "old-copy.fit"
    copy.parent.mkdir()
    copy.write_bytes(old.read_bytes())
    engine = world.engine()
    engine.scan([old, copy])
    assert {"old.fit": "skipped", "old-copy.fit": "skipped"} == world.states()
    assert State.QUEUED == engine.submit(old, ignore_age=True).state
    assert {str(old), str(copy)} == set(world.store.path_index())
    world.drive(engine)
    assert {"old.fit": "uploaded", "old-copy.fit": "duplicate"} == world.states()
    assert 0 == engine.scan([old, copy]).read


def test_rows_claimed_under_a_reused_pid_are_freed(world: World) -> None:
    """A crashed process's claim is freed even though its pid now names a live process."""
    from stravasync.state.owners import _this_host

    path = workout_file(world.watch, "a.fit", start=world.start())
    engine = world.engine()
    sha = engine.submit(path).sha256
    assert sha is not None
    ghost = f"{_this_host()}:{os.getpid()}@1"
    assert world.store.claim_post(sha, owner=ghost, external_id="x") is not None
    engine.recover()
    assert None is world.store.workout(sha).owner  # type: ignore[union-attr]
    world.drive(engine)
    assert {"a.fit": "uploaded"} == world.states()


def test_a_damaged_token_file_stops_uploads_once(tmp_path: Path) -> None:
    """A damaged tokens.json: fatal (sign in again), said once, the file stays queued."""
    from stravasync.errors import ReauthRequired

    world = World(tmp_path)
    path = workout_file(world.watch, "a.fit", start=world.start())
    (world.state_dir / "tokens.json").write_text("{damaged")
    engine = world.engine()
    engine.submit(path)
    with capture_logs() as logs:
        world.drive(engine)
    assert isinstance(engine.fatal, ReauthRequired)
    assert {"a.fit": "queued"} == world.states()
    assert 0 == world.api_calls()
    assert [] == [e for e in logs if e["event"] == "engine_job_failed"]
    assert 1 == sum(1 for e in logs if e["event"] == "engine_fatal")


def test_a_token_lock_timeout_is_retried(tmp_path: Path) -> None:
    """The refresh lock held elsewhere: retrying later (not fatal), uploaded once it is free."""
    import fcntl

    from stravasync.strava.client import StravaClient
    from stravasync.strava.tokens import TokenStore

    world = World(tmp_path)
    tokens = TokenStore(state_dir=world.state_dir, refresher=world.oauth, clock=world.clock,
                        lock_timeout=0.1)
    client = StravaClient(config=world.config.strava, tokens=tokens, governor=world.governor,
                          transport=world.transport, clock=world.clock)
    path = workout_file(world.watch, "a.fit", start=world.start())
    world.clock.set(world.clock() + 7 * 3600)  # the access token needs a refresh
    engine = world.engine(client=client)
    engine.submit(path)
    with open(world.state_dir / "tokens.lock", "w") as other, capture_logs() as logs:
        fcntl.flock(other, fcntl.LOCK_EX)
        engine.tick()
    entry = world.store.files()[0]
    assert (State.RETRYING, None) == (entry.state, engine.fatal)
    assert "tokens" in (entry.error or "")
    assert [] == [e for e in logs if e["event"] == "engine_job_failed"]
    world.drive(engine)
    assert {"a.fit": "uploaded"} == world.states()
