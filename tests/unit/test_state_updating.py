"""Tests for the ``updating`` state: the activity's ``[[rules]]`` update, written before
its PUT, retried, finished, and freed when its process dies."""

from __future__ import annotations

from pathlib import Path

import pytest
from store_rig import T0, Clock, add, facts

from stravasync.state import ACTIVE_STATES, State, Store

FIELDS = {"sport_type": "VirtualRide", "hide_from_home": True}


@pytest.fixture
def clock() -> Clock:
    """A settable clock."""
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Store:
    """A fresh store on the settable clock."""
    return Store.open(tmp_path / "state", clock=clock)


def uploaded(store: Store, sha: str = "a" * 64, *, fields: dict[str, object] | None = FIELDS,
             activity_id: int | None = 7) -> None:
    """One workout through its POST; Strava made ``activity_id``."""
    add(store, f"/w/{sha[:4]}.fit", facts(sha))
    store.claim_post(sha, owner="h:1", external_id="x")
    store.record_upload(sha, owner="h:1", upload_id="9", posted_at=T0, next_attempt_at=T0)
    store.finish(sha, owner="h:1", state=State.UPLOADED, activity_id=activity_id,
                 update_fields=fields)


def test_an_upload_with_rules_to_send_is_updating_before_the_put(tmp_path: Path) -> None:
    """The fields are stored with the activity id, due now, and survive a restart."""
    first = Store.open(tmp_path, clock=Clock())
    uploaded(first)
    first.close()
    w = Store.open(tmp_path).workout("a" * 64)
    assert w is not None
    assert (State.UPDATING, 7, FIELDS, T0, False) == (
        w.state, w.activity_id, w.update_fields, w.next_attempt_at, w.final)
    assert State.UPDATING in ACTIVE_STATES


@pytest.mark.parametrize(("fields", "activity_id"), [(None, 7), ({}, 7), (FIELDS, None)])
def test_nothing_to_update_is_uploaded_at_once(
    store: Store, fields: dict[str, object] | None, activity_id: int | None
) -> None:
    """No fields, or no activity to update: the upload is final as before."""
    uploaded(store, fields=fields, activity_id=activity_id)
    w = store.workout("a" * 64)
    assert w is not None
    assert (State.UPLOADED, None) == (w.state, w.update_fields)


def test_one_process_claims_an_update(store: Store) -> None:
    """A claimed update is not handed to another owner; the claimer gets the fields."""
    uploaded(store)
    assert ["a" * 64] == [w.sha256 for w in store.due_updates(now=T0, owner="h:1")]
    claimed = store.claim_update("a" * 64, owner="h:1")
    assert claimed is not None
    assert FIELDS == claimed.update_fields
    assert store.claim_update("a" * 64, owner="h:2") is None
    assert [] == store.due_updates(now=T0, owner="h:2")


def test_a_failed_update_stays_updating_and_waits(store: Store, clock: Clock) -> None:
    """5xx: still updating with its fields; not due before the backoff ends."""
    uploaded(store)
    store.claim_update("a" * 64, owner="h:1")
    store.retry_update("a" * 64, owner="h:1", next_attempt_at=T0 + 60,
                       error="Strava unreachable", failures=1)
    w = store.workout("a" * 64)
    assert w is not None
    assert (State.UPDATING, FIELDS, 1, "Strava unreachable") == (
        w.state, w.update_fields, w.failures, w.error)
    assert [] == store.due_updates(now=T0 + 59, owner="h:2")
    assert ["a" * 64] == [w.sha256 for w in store.due_updates(now=T0 + 60, owner="h:2")]
    assert (T0 + 60, None, None) == store.next_times(owner="h:2")


def test_a_finished_update_is_uploaded(store: Store) -> None:
    """Once the PUT succeeds the file is uploaded, the fields cleared, no warning."""
    uploaded(store)
    store.claim_update("a" * 64, owner="h:1")
    store.finish_update("a" * 64, owner="h:1")
    w = store.workout("a" * 64)
    assert w is not None
    assert (State.UPLOADED, None, None, None) == (w.state, w.update_fields, w.warning, w.owner)
    assert "warning" not in store.files()[0].as_json()


def test_a_refused_update_ends_uploaded_with_its_warning(store: Store) -> None:
    """A 4xx (unknown gear) ends uploaded; status --json carries Strava's reason."""
    uploaded(store)
    store.claim_update("a" * 64, owner="h:1")
    store.finish_update("a" * 64, owner="h:1", warning="gear_id: not found")
    entry = store.files()[0].as_json()
    assert ("uploaded", 7, "gear_id: not found") == (
        entry["state"], entry["activity_id"], entry["warning"])


def test_an_update_is_work_still_to_do(store: Store) -> None:
    """run --once waits for it: unfinished, counted, and due like a poll."""
    uploaded(store)
    assert ["a" * 64] == [w.sha256 for w in store.unfinished()]
    assert 1 == store.counts()[State.UPDATING]
    assert (T0, None, None) == store.next_times(owner="h:1")


def test_an_update_held_by_a_dead_process_is_freed(store: Store) -> None:
    """A process killed during the PUT: its update goes to the next process."""
    uploaded(store)
    store.claim_update("a" * 64, owner="h:dead")
    assert (None, None, T0) == store.next_times(owner="h:me")
    assert ["h:dead"] == store.release_dead_owners(lambda owner: owner != "h:dead")
    assert store.claim_update("a" * 64, owner="h:me") is not None


def test_a_clean_stop_lets_go_of_an_update(store: Store) -> None:
    """release_owner frees an updating row too."""
    uploaded(store)
    store.claim_update("a" * 64, owner="h:1")
    store.release_owner("h:1")
    assert ["a" * 64] == [w.sha256 for w in store.due_updates(now=T0, owner="h:2")]


def test_a_late_finish_does_not_undo_the_update(store: Store) -> None:
    """A second finish (a late poll) leaves an updating row as it is."""
    uploaded(store)
    store.finish("a" * 64, owner=None, state=State.UPLOADED, activity_id=7)
    w = store.workout("a" * 64)
    assert w is not None
    assert (State.UPDATING, FIELDS) == (w.state, w.update_fields)


def test_same_workout_copies_learn_the_activity_of_an_updating_one(store: Store) -> None:
    """The GPX copy of a FIT that is being updated shows the activity id."""
    add(store, "/w/a.fit", facts("f" * 64))
    add(store, "/w/a.gpx", facts("g" * 64, fmt="gpx"))
    store.claim_post("f" * 64, owner="h:1", external_id="x")
    store.finish("f" * 64, owner="h:1", state=State.UPLOADED, activity_id=5,
                 update_fields=FIELDS)
    assert 5 == store.workout("g" * 64).activity_id  # type: ignore[union-attr]


def test_a_richer_copy_arriving_during_the_update_is_a_duplicate(store: Store) -> None:
    """The GPX is on Strava (updating): a late FIT of the same workout is not sent."""
    add(store, "/w/a.gpx", facts("g" * 64, fmt="gpx"))
    store.claim_post("g" * 64, owner="h:1", external_id="x")
    store.finish("g" * 64, owner="h:1", state=State.UPLOADED, activity_id=5,
                 update_fields=FIELDS)
    add(store, "/w/a.fit", facts("f" * 64))
    fit, gpx = store.workout("f" * 64), store.workout("g" * 64)
    assert fit is not None
    assert gpx is not None
    assert (State.DUPLICATE, "g" * 64, 5) == (fit.state, fit.duplicate_of, fit.activity_id)
    assert State.UPDATING == gpx.state
