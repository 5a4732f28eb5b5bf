"""Tests for ``retry`` requests in the store: the row flag a running daemon takes, and a
known content judged again when it is read for a retry."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from store_rig import Clock, add, facts

from stravasync.state import FileFacts, State, Store
from stravasync.validate.result import Facts

TOO_OLD = FileFacts(sha256="s" * 64, state=State.SKIPPED, reason_code="too_old",
                    error="older than 30 days", format="fit",
                    facts=Facts(start_time=datetime.fromtimestamp(1.0, UTC), sport="run"))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A fresh store on a settable clock."""
    return Store.open(tmp_path / "state", clock=Clock())


def rejected(store: Store, path: str = "/w/a.fit", sha: str = "a" * 64) -> None:
    """One workout Strava refused."""
    add(store, path, facts(sha))
    store.claim_post(sha, owner="h:1", external_id="x")
    store.finish(sha, owner="h:1", state=State.REJECTED, error="Improper file")


def test_a_retried_skipped_file_is_taken_by_the_daemon_once(store: Store) -> None:
    """The request is a flag on the path: taken (and cleared) by the next look."""
    add(store, "/w/old.fit", TOO_OLD)
    assert ["/w/old.fit"] == store.request_retry(["/w/old.fit"])
    assert ["/w/old.fit"] == store.take_retry_requests()
    assert [] == store.take_retry_requests()


def test_a_retried_file_read_again_is_judged_again(store: Store) -> None:
    """Skipped for a reason other than age: with retry=True the new reading counts."""
    add(store, "/w/x.fit", FileFacts(sha256="s" * 64, state=State.SKIPPED,
                                     reason_code="not_activity", error="no samples"))
    again = facts("s" * 64)
    plain = store.record_file("/w/x.fit", size=10, mtime_ns=1, facts=again)
    retried = store.record_file("/w/x.fit", size=10, mtime_ns=1, facts=again, retry=True)
    assert (State.SKIPPED, False) == (plain.workout.state, plain.revived)
    assert (State.QUEUED, True, "run") == (
        retried.workout.state, retried.revived, retried.workout.sport)


@pytest.mark.parametrize("verdict", [State.INVALID, State.REJECTED, State.RETRYING])
def test_retry_judges_again_every_content_not_on_strava(store: Store, verdict: State) -> None:
    """Invalid, rejected and retrying content read for a retry is queued again in place."""
    add(store, "/w/a.fit", facts("a" * 64, state=verdict))
    ingested = store.record_file("/w/a.fit", size=10, mtime_ns=2, facts=facts("a" * 64),
                                 retry=True)
    assert (State.QUEUED, None) == (ingested.workout.state, ingested.workout.error)


def test_reading_a_retried_path_clears_its_request(store: Store) -> None:
    """A path read with retry=True is not handed out again."""
    add(store, "/w/old.fit", TOO_OLD)
    store.request_retry(["/w/old.fit"])
    store.record_file("/w/old.fit", size=10, mtime_ns=1, facts=TOO_OLD, retry=True)
    assert [] == store.take_retry_requests()


def test_retry_all_requeues_refused_files_and_asks_for_them(store: Store) -> None:
    """With no paths: every rejected file is queued now, and its path is flagged."""
    rejected(store)
    add(store, "/w/bad.fit", facts("b" * 64, state=State.INVALID))
    assert ["/w/a.fit"] == store.request_retry(None)
    assert State.QUEUED == store.workout("a" * 64).state  # type: ignore[union-attr]
    assert ["/w/a.fit"] == store.take_retry_requests()


@pytest.mark.parametrize("where", ["uploaded", "uploading", "updating", "copy"])
def test_files_on_strava_or_on_their_way_are_not_retried(store: Store, where: str) -> None:
    """Named uploaded, uploading, updating and duplicate files are left as they are."""
    add(store, "/w/a.fit", facts("a" * 64))
    add(store, "/w/copy/a.fit", facts("a" * 64))
    store.claim_post("a" * 64, owner="h:1", external_id="x")
    if where != "uploading":
        store.finish("a" * 64, owner="h:1", state=State.UPLOADED, activity_id=3,
                     update_fields={"gear_id": "b1"} if where == "updating" else None)
    named = "/w/copy/a.fit" if where == "copy" else "/w/a.fit"
    assert ([], []) == (store.request_retry([named]), store.take_retry_requests())


def test_unknown_paths_are_not_retried_and_pending_ones_are(store: Store) -> None:
    """A path never seen is left out; a pending one is read again."""
    store.mark_pending("/w/locked.fit", size=5, mtime_ns=1, error="Permission denied")
    assert ["/w/locked.fit"] == store.request_retry(["/w/never.fit", "/w/locked.fit"])


def test_no_request_means_no_write(tmp_path: Path) -> None:
    """Polled every two seconds: with nothing asked, a read-only store can answer."""
    writer = Store.open(tmp_path)
    add(writer, "/w/a.fit", facts("a" * 64))
    assert [] == Store.open(tmp_path, read_only=True).take_retry_requests()


def test_looking_for_requests_uses_the_index(store: Store) -> None:
    """The daemon's poll reads the partial index, not every path."""
    add(store, "/w/a.fit", facts("a" * 64))
    plan = store._rows("EXPLAIN QUERY PLAN SELECT 1 FROM paths WHERE retry_requested != 0")
    assert "paths_retry_requested" in " ".join(str(r["detail"]) for r in plan)


def test_the_old_retry_still_works(store: Store) -> None:
    """Store.retry (today's CLI) keeps queueing rejected files."""
    rejected(store)
    assert ["/w/a.fit"] == store.retry()
    assert State.QUEUED == store.workout("a" * 64).state  # type: ignore[union-attr]
