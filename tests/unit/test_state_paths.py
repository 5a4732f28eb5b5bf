"""Tests for paths in the state store: names that are not UTF-8, 0.1 databases, and a
path showing its latest content only."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from store_rig import T0, Clock, add, facts

from stravasync.state import FileFacts, State, Store
from stravasync.state.schema import MIGRATIONS

#: ``Gerät`` as a FAT device or an old Windows archive writes it: Latin-1, not UTF-8.
LATIN1_DIR = os.fsdecode(b"/w/Ger\xe4t")
LATIN1 = os.fsdecode(b"/w/Ger\xe4t/Lauf \xfcber Stock.fit")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A fresh store on a settable clock."""
    return Store.open(tmp_path / "state", clock=Clock())


def test_a_latin1_name_is_stored_and_comes_back_unchanged(store: Store) -> None:
    """A name that is not UTF-8 goes through every read of the store losslessly."""
    add(store, LATIN1, facts("a" * 64))
    add(store, LATIN1_DIR + "/copy.fit", facts("a" * 64))
    record = store.path_record(LATIN1)
    workout = store.workout("a" * 64)
    assert record is not None
    assert workout is not None
    assert (LATIN1, LATIN1) == (record.path, workout.path)
    assert {LATIN1, LATIN1_DIR + "/copy.fit"} == set(store.path_index())
    assert [LATIN1, LATIN1_DIR + "/copy.fit"] == store.paths_of("a" * 64)
    assert {LATIN1, LATIN1_DIR + "/copy.fit"} == {f.path for f in store.files()}


def test_status_json_shows_a_latin1_name_with_escapes(store: Store) -> None:
    """JSON and people see ``\\xe4`` escapes; the value is valid UTF-8 JSON."""
    add(store, LATIN1, facts("a" * 64))
    entry = store.files()[0]
    text = json.dumps(entry.as_json(), ensure_ascii=False)
    assert "/w/Ger\\xe4t/Lauf \\xfcber Stock.fit" == entry.as_json()["path"]
    assert "/w/Ger\\xe4t/Lauf \\xfcber Stock.fit" == entry.shown_path
    assert text.encode("utf-8")  # would raise on a surrogate


def test_errors_that_name_a_latin1_path_are_stored_escaped(store: Store) -> None:
    """A same-workout reason naming a Latin-1 leader, and a pending reason, are kept."""
    add(store, LATIN1, facts("f" * 64))
    add(store, "/w/a.gpx", facts("g" * 64, fmt="gpx"))
    store.mark_pending("/w/b.fit", size=1, mtime_ns=1, error=f"cannot read {LATIN1}")
    errors = {f.path: f.error for f in store.files()}
    assert "same workout as /w/Ger\\xe4t/Lauf \\xfcber Stock.fit (fit), sent once" == \
        errors["/w/a.gpx"]
    assert "cannot read /w/Ger\\xe4t/Lauf \\xfcber Stock.fit" == errors["/w/b.fit"]


def test_a_latin1_file_is_archived_to_a_latin1_name(store: Store) -> None:
    """move_path renames both the path row and the workout's own path."""
    archived = os.fsdecode(b"/archive/Ger\xe4t/Lauf.fit")
    add(store, LATIN1, facts("a" * 64))
    store.move_path(LATIN1, archived, size=10, mtime_ns=2)
    workout = store.workout("a" * 64)
    assert workout is not None
    assert ([archived], archived) == (list(store.path_index()), workout.path)
    assert [archived] == store.paths_of("a" * 64)


def test_prune_sees_latin1_names_as_they_are_on_disk(tmp_path: Path, store: Store) -> None:
    """An invalid file with a Latin-1 name is kept while it exists, dropped once gone."""
    folder = os.fsencode(tmp_path) + b"/Ger\xe4t"
    os.mkdir(folder)
    name = folder + b"/kaputt.fit"
    Path(os.fsdecode(name)).write_bytes(b"x")
    add(store, os.fsdecode(name), facts("b" * 64, state=State.INVALID))
    assert 0 == store.prune_missing()
    os.unlink(name)
    assert (2, []) == (store.prune_missing(), store.files())


def test_forget_path_of_a_latin1_name(store: Store) -> None:
    """A deleted Latin-1 file's path row goes; its uploaded workout stays listed."""
    add(store, LATIN1, facts("a" * 64))
    store.claim_post("a" * 64, owner="h:1", external_id="x")
    store.finish("a" * 64, owner="h:1", state=State.UPLOADED, activity_id=9)
    store.forget_path(LATIN1)
    assert ({}, [(LATIN1, State.UPLOADED)]) == (
        store.path_index(), [(f.path, f.state) for f in store.files()])


def _v1_database(path: Path) -> None:
    """A database as stravasync 0.1 left it: TEXT paths, one queued and one pending."""
    db = sqlite3.connect(path, isolation_level=None)
    MIGRATIONS[0](db)
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO workouts (sha256, state, path, first_seen_at, updated_at) "
               "VALUES (?, 'queued', '/w/Gerät/a.fit', 1, 1)", ("a" * 64,))
    db.execute("INSERT INTO paths (path, size, mtime_ns, sha256, seen_at) "
               "VALUES ('/w/Gerät/a.fit', 10, 1, ?, 1)", ("a" * 64,))
    db.execute("INSERT INTO paths (path, size, mtime_ns, sha256, seen_at) "
               "VALUES ('/w/half.fit', 3, 1, NULL, 1)")
    db.close()


def test_a_01_database_keeps_every_path_after_the_upgrade(tmp_path: Path) -> None:
    """The migration turns TEXT paths into bytes: each is found again by its name."""
    _v1_database(tmp_path / "state.sqlite3")
    store = Store.open(tmp_path)
    record = store.path_record("/w/Gerät/a.fit")
    workout = store.workout("a" * 64)
    assert record is not None
    assert workout is not None
    assert ("a" * 64, "/w/Gerät/a.fit") == (record.sha256, workout.path)
    assert ["/w/Gerät/a.fit", "/w/half.fit"] == sorted(store.path_index())
    assert ["/w/Gerät/a.fit"] == store.paths_of("a" * 64)


def test_a_half_written_file_read_again_shows_its_latest_content_only(store: Store) -> None:
    """A TCX read mid-copy (invalid), then whole: one entry for the path, no stale problem."""
    path = "/w/ride.tcx"
    add(store, path, FileFacts(sha256="x" * 64, state=State.INVALID, error="XML cut short"))
    store.mark_pending(path, size=20, mtime_ns=2, error="still being written")
    add(store, path, facts("y" * 64, fmt="tcx"))
    entries = [(f.path, f.sha256, f.state) for f in store.files()]
    assert [(path, "y" * 64, State.QUEUED)] == entries
    assert [] == [f for f in store.files() if f.error]
    assert store.workout("x" * 64) is not None  # still known: the same bytes are recognised


def test_a_path_still_being_written_shows_pending_not_its_old_verdict(store: Store) -> None:
    """While the copy goes on, the path is pending; the half-read verdict is gone."""
    path = "/w/ride.tcx"
    add(store, path, FileFacts(sha256="x" * 64, state=State.INVALID, error="XML cut short"))
    store.mark_pending(path, size=20, mtime_ns=2, error="still being written")
    assert [(path, State.PENDING, "still being written")] == [
        (f.path, f.state, f.error) for f in store.files()]


def test_an_uploaded_file_later_replaced_keeps_its_record(store: Store) -> None:
    """New content at an uploaded path shows; the uploaded content's row is kept."""
    path = "/w/a.fit"
    add(store, path, facts("a" * 64))
    store.claim_post("a" * 64, owner="h:1", external_id="x")
    store.finish("a" * 64, owner="h:1", state=State.UPLOADED, activity_id=3)
    add(store, path, facts("b" * 64, start=T0 - 3 * 86400))
    old = store.workout("a" * 64)
    assert old is not None
    assert [("b" * 64, State.QUEUED)] == [(f.sha256, f.state) for f in store.files()]
    assert (State.UPLOADED, 3) == (old.state, old.activity_id)
