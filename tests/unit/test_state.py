"""Tests for the SQLite state store: schema, ingest, claims, same-workout rules, retry."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from store_rig import T0, Clock, add, facts

from stravasync.errors import StateError
from stravasync.state import (
    MIGRATIONS,
    SCHEMA_VERSION,
    State,
    Store,
)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A fresh store on a settable clock."""
    return Store.open(tmp_path / "state", clock=Clock())


def test_new_database_has_the_current_schema_version(tmp_path: Path) -> None:
    """A new state file is created with user_version = the number of migrations."""
    Store.open(tmp_path)
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    assert SCHEMA_VERSION == len(MIGRATIONS)
    assert SCHEMA_VERSION == db.execute("PRAGMA user_version").fetchone()[0]
    assert "wal" == db.execute("PRAGMA journal_mode").fetchone()[0]


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database written by a newer stravasync is not touched."""
    Store.open(tmp_path)
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="newer stravasync"):
        Store.open(tmp_path)


def test_reopening_keeps_everything(tmp_path: Path) -> None:
    """Rows survive closing and reopening the store (as after a restart)."""
    first = Store.open(tmp_path)
    add(first, "/w/a.fit", facts("a" * 64))
    first.close()
    assert State.QUEUED == Store.open(tmp_path).workout("a" * 64).state  # type: ignore[union-attr]


def test_read_only_store_reads_and_refuses_a_missing_file(tmp_path: Path) -> None:
    """The status view opens read-only; without a database it says so."""
    with pytest.raises(StateError, match="No state database"):
        Store.open(tmp_path, read_only=True).files()
    add(Store.open(tmp_path), "/w/a.fit", facts("a" * 64))
    assert ["/w/a.fit"] == [f.path for f in Store.open(tmp_path, read_only=True).files()]


def test_same_content_at_a_second_path_shows_as_duplicate(store: Store) -> None:
    """One row per content; the second path reports duplicate with the first's activity."""
    add(store, "/w/a.fit", facts("a" * 64))
    add(store, "/w/copy/a-again.fit", facts("a" * 64))
    claimed = store.claim_post("a" * 64, owner="h:1", external_id="x")
    assert claimed is not None
    store.record_upload("a" * 64, owner="h:1", upload_id="9", posted_at=T0, next_attempt_at=T0)
    store.finish("a" * 64, owner="h:1", state=State.UPLOADED, activity_id=77)
    by_path = {f.path: f for f in store.files()}
    assert 1 == len(store.workouts())
    assert (State.UPLOADED, 77) == (by_path["/w/a.fit"].state, by_path["/w/a.fit"].activity_id)
    copy = by_path["/w/copy/a-again.fit"]
    assert (State.DUPLICATE, 77, None) == (copy.state, copy.activity_id, copy.upload_id)


def test_status_json_has_exactly_the_spec_keys(store: Store) -> None:
    """Each files entry carries SPEC's keys, no more, no fewer."""
    add(store, "/w/a.fit", facts("a" * 64))
    keys = ["path", "sha256", "state", "upload_id", "activity_id", "error", "attempts",
            "next_attempt_at"]
    assert keys == list(store.files()[0].as_json())


def test_only_one_of_two_processes_claims_a_row(tmp_path: Path) -> None:
    """Two stores on one file (daemon + one-shot upload): the conditional claim admits one."""
    daemon, oneshot = Store.open(tmp_path), Store.open(tmp_path)
    add(daemon, "/w/a.fit", facts("a" * 64))
    assert daemon.claim_post("a" * 64, owner="h:1", external_id="x") is not None
    assert oneshot.claim_post("a" * 64, owner="h:2", external_id="x") is None


def test_only_one_of_many_threads_claims_a_row(store: Store) -> None:
    """Threads racing for one row: exactly one claim succeeds."""
    add(store, "/w/a.fit", facts("a" * 64))
    wins: list[str] = []
    barrier = threading.Barrier(8)

    def claim(i: int) -> None:
        barrier.wait()
        if store.claim_post("a" * 64, owner=f"h:{i}", external_id="x") is not None:
            wins.append(str(i))

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 1 == len(wins)


def test_a_claim_left_by_a_crash_becomes_maybe_posted(store: Store) -> None:
    """Claimed, never answered, claimed again: the earlier POST's outcome is unknown."""
    add(store, "/w/a.fit", facts("a" * 64))
    first = store.claim_post("a" * 64, owner="h:1", external_id="x")
    again = store.claim_post("a" * 64, owner="h:1", external_id="x")
    assert first is not None
    assert again is not None
    assert (False, True, 2) == (first.maybe_posted, again.maybe_posted, again.attempts)


def test_a_refused_post_is_not_maybe_posted(store: Store) -> None:
    """A POST surely not created (rate limited) leaves no doubt behind."""
    add(store, "/w/a.fit", facts("a" * 64))
    store.claim_post("a" * 64, owner="h:1", external_id="x")
    store.release_post("a" * 64, owner="h:1", state=State.QUEUED, sent=False,
                       next_attempt_at=None, error=None)
    again = store.claim_post("a" * 64, owner="h:1", external_id="x")
    assert again is not None
    assert not again.maybe_posted
    assert 1 == again.attempts  # the refused claim did not count as an attempt


def test_a_post_of_unknown_outcome_counts_as_an_attempt(store: Store) -> None:
    """A POST that may have gone out (connection dropped) is an attempt."""
    add(store, "/w/a.fit", facts("a" * 64))
    store.claim_post("a" * 64, owner="h:1", external_id="x")
    store.release_post("a" * 64, owner="h:1", state=State.RETRYING, sent=None,
                       next_attempt_at=T0 + 60, error="dropped")
    assert 1 == store.workout("a" * 64).attempts  # type: ignore[union-attr]


def test_a_row_with_an_upload_id_is_never_claimed_for_a_post(store: Store) -> None:
    """Once the upload id is stored the row is only polled."""
    add(store, "/w/a.fit", facts("a" * 64))
    store.claim_post("a" * 64, owner="h:1", external_id="x")
    store.record_upload("a" * 64, owner="h:1", upload_id="9", posted_at=T0, next_attempt_at=T0)
    assert store.claim_post("a" * 64, owner="h:1", external_id="x") is None
    assert [] == store.due_posts(now=T0 + 10, owner="h:1", limit=5)
    assert ["a" * 64] == [w.sha256 for w in store.due_polls(now=T0 + 10, owner="h:1")]


def test_rows_of_a_dead_owner_are_freed(store: Store) -> None:
    """A crashed process's rows become claimable by others."""
    add(store, "/w/a.fit", facts("a" * 64))
    store.claim_post("a" * 64, owner="h:dead", external_id="x")
    assert [] == store.due_posts(now=T0, owner="h:me", limit=5)
    assert ["h:dead"] == store.release_dead_owners(lambda owner: owner != "h:dead")
    assert ["a" * 64] == [w.sha256 for w in store.due_posts(now=T0, owner="h:me", limit=5)]


def test_the_richer_format_displaces_a_queued_copy(store: Store) -> None:
    """GPX queued, then the FIT of the same workout arrives: FIT is sent, GPX is duplicate."""
    add(store, "/w/a.gpx", facts("g" * 64, fmt="gpx"))
    add(store, "/w/a.fit", facts("f" * 64, fmt="fit", start=T0 - 86400 + 60))
    assert State.QUEUED == store.workout("f" * 64).state  # type: ignore[union-attr]
    gpx = store.workout("g" * 64)
    assert gpx is not None
    assert (State.DUPLICATE, "f" * 64) == (gpx.state, gpx.duplicate_of)


def test_a_poorer_format_defers_to_a_queued_richer_one(store: Store) -> None:
    """FIT queued, then the TCX arrives: the TCX is marked duplicate of the FIT."""
    add(store, "/w/a.fit", facts("f" * 64, fmt="fit"))
    add(store, "/w/a.tcx", facts("t" * 64, fmt="tcx", start=T0 - 86400 - 100))
    tcx = store.workout("t" * 64)
    assert tcx is not None
    assert (State.DUPLICATE, "f" * 64) == (tcx.state, tcx.duplicate_of)


def test_a_richer_format_after_sending_is_a_duplicate(store: Store) -> None:
    """The GPX was already sent: a late FIT of the same workout is not sent again."""
    add(store, "/w/a.gpx", facts("g" * 64, fmt="gpx"))
    store.claim_post("g" * 64, owner="h:1", external_id="x")
    add(store, "/w/a.fit", facts("f" * 64, fmt="fit"))
    fit = store.workout("f" * 64)
    assert fit is not None
    assert (State.DUPLICATE, "g" * 64) == (fit.state, fit.duplicate_of)


@pytest.mark.parametrize(("offset", "sport"), [(121.0, "run"), (0.0, "ride")])
def test_other_start_or_sport_is_another_workout(store: Store, offset: float, sport: str) -> None:
    """More than two minutes apart, or another sport: both are sent."""
    add(store, "/w/a.fit", facts("f" * 64))
    add(store, "/w/b.gpx", facts("g" * 64, fmt="gpx", start=T0 - 86400 + offset, sport=sport))
    assert State.QUEUED == store.workout("g" * 64).state  # type: ignore[union-attr]


def test_activity_id_reaches_same_workout_copies(store: Store) -> None:
    """When the FIT becomes activity N, its GPX copy shows N too."""
    add(store, "/w/a.fit", facts("f" * 64))
    add(store, "/w/a.gpx", facts("g" * 64, fmt="gpx"))
    store.claim_post("f" * 64, owner="h:1", external_id="x")
    store.finish("f" * 64, owner="h:1", state=State.UPLOADED, activity_id=5)
    assert 5 == store.workout("g" * 64).activity_id  # type: ignore[union-attr]


def test_a_rejected_workout_promotes_its_copy(store: Store) -> None:
    """Strava refused the FIT: the GPX of the same workout is queued in its place."""
    add(store, "/w/a.fit", facts("f" * 64))
    add(store, "/w/a.gpx", facts("g" * 64, fmt="gpx"))
    store.claim_post("f" * 64, owner="h:1", external_id="x")
    promoted = store.finish("f" * 64, owner="h:1", state=State.REJECTED, error="Improper")
    assert promoted is not None
    assert ("g" * 64, State.QUEUED) == (promoted.sha256, promoted.state)


def test_retry_requeues_rejected_and_forgets_named_invalid(store: Store) -> None:
    """retry --all queues rejected files; a named invalid file is read again by the next scan."""
    add(store, "/w/a.fit", facts("a" * 64))
    add(store, "/w/bad.fit", facts("b" * 64, state=State.INVALID))
    store.claim_post("a" * 64, owner="h:1", external_id="x")
    store.finish("a" * 64, owner="h:1", state=State.REJECTED, error="nope")
    assert ["/w/a.fit"] == store.retry()
    assert State.QUEUED == store.workout("a" * 64).state  # type: ignore[union-attr]
    assert ["/w/bad.fit"] == store.retry(["/w/bad.fit"])
    assert store.path_record("/w/bad.fit") is None


def test_finish_records_the_outcome_once(store: Store) -> None:
    """A second finish (another process, a late poll) does not overwrite an upload."""
    add(store, "/w/a.fit", facts("a" * 64))
    store.claim_post("a" * 64, owner="h:1", external_id="x")
    store.finish("a" * 64, owner="h:1", state=State.UPLOADED, activity_id=5)
    store.finish("a" * 64, owner=None, state=State.REJECTED, error="late")
    w = store.workout("a" * 64)
    assert w is not None
    assert (State.UPLOADED, 5, None) == (w.state, w.activity_id, w.error)


def test_meta_values_persist(tmp_path: Path) -> None:
    """Learned values (the processing estimate) survive a reopen."""
    Store.open(tmp_path).set_meta("processing_estimate_s", "2.5")
    assert "2.5" == Store.open(tmp_path).get_meta("processing_estimate_s")


def test_prune_forgets_gone_files_that_were_never_sent(store: Store) -> None:
    """Housekeeping drops gone invalid and pending files, keeps queued and uploaded ones."""
    add(store, "/w/bad.fit", facts("b" * 64, state=State.INVALID))
    add(store, "/w/queued.fit", facts("q" * 64, start=1.0))
    add(store, "/w/done.fit", facts("d" * 64, start=2.0))
    store.mark_pending("/w/half.fit", size=1, mtime_ns=1)
    store.claim_post("d" * 64, owner="h:1", external_id="x")
    store.finish("d" * 64, owner="h:1", state=State.UPLOADED, activity_id=1)
    assert 3 == store.prune_missing(exists=lambda _path: False)
    assert ["/w/done.fit", "/w/queued.fit"] == sorted(f.path for f in store.files())


def test_the_database_is_private_even_in_an_existing_open_folder(tmp_path: Path) -> None:
    """A state folder that already exists world-readable still gets a 0600 database (and WAL)."""
    import os

    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o755)
    state_dir.chmod(0o755)
    old = os.umask(0o022)
    try:
        store = Store.open(state_dir)
        store.record_file("/w/a.fit", size=1, mtime_ns=1, facts=facts("a" * 64))
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in state_dir.iterdir()}
    store.close()
    assert {"state.sqlite3", "state.sqlite3-wal", "state.sqlite3-shm"} <= set(modes)
    assert dict.fromkeys(modes, 0o600) == modes


def test_retry_of_a_named_invalid_file_keeps_its_copies_paths(store: Store) -> None:
    """Forgetting a named invalid file leaves its copies' paths, pending, to be read again."""
    add(store, "/w/bad.fit", facts("b" * 64, state=State.INVALID))
    add(store, "/w/copy/bad.fit", facts("b" * 64, state=State.INVALID))
    assert ["/w/bad.fit"] == store.retry(["/w/bad.fit"])
    assert store.path_record("/w/bad.fit") is None
    kept = store.path_record("/w/copy/bad.fit")
    assert kept is not None
    assert (None, State.PENDING) == (kept.sha256, store.files()[0].state)


def test_finished_since_lists_what_ended_after_a_time(store: Store) -> None:
    """The daemon's notices read only the workouts that finished since their last look."""
    store.record_file("/w/a.fit", size=1, mtime_ns=1, facts=facts("a" * 64))
    store.record_file("/w/b.fit", size=1, mtime_ns=1, facts=facts("b" * 64, start=T0 - 9000))
    store.claim_post("a" * 64, owner="h:1", external_id="x")
    store.finish("a" * 64, owner="h:1", state=State.UPLOADED, activity_id=7)
    assert ["a" * 64] == [w.sha256 for w in store.finished_since(0.0)]
    last = store.workout("a" * 64)
    assert last is not None
    assert [] == store.finished_since(last.finished_at or 0.0)
