"""Tests for stravasync.state.dedupe: which copy of one workout is sent, and how others show."""

from __future__ import annotations

from dataclasses import dataclass

from stravasync.models import State
from stravasync.state.dedupe import (
    is_own_upload,
    next_copy,
    pick_leader,
    same_workout_window,
    shows_as_copy,
)


@dataclass(frozen=True)
class Copy:
    """A stored recording, as the rules see it."""

    sha256: str
    state: State
    format: str | None
    path: str
    first_seen_at: float


GPX = Copy("g", State.QUEUED, "gpx", "/w/a.gpx", 1.0)
TCX = Copy("t", State.QUEUED, "tcx", "/w/a.tcx", 2.0)


def test_a_richer_new_file_displaces_poorer_queued_copies() -> None:
    """A FIT of a workout queued as GPX and TCX leads and displaces both."""
    assert (None, ["g", "t"]) == pick_leader("fit", [GPX, TCX])


def test_a_poorer_new_file_defers_to_the_richest_copy() -> None:
    """A GPX beside a queued TCX is that TCX's duplicate; nothing is displaced."""
    assert (TCX, []) == pick_leader("gpx", [GPX, TCX])


def test_a_copy_already_sent_always_leads() -> None:
    """Once a GPX is on its way to Strava, even a FIT defers to it (never two activities)."""
    sent = Copy("g", State.UPLOADED, "gpx", "/w/a.gpx", 1.0)
    assert (sent, []) == pick_leader("fit", [sent, TCX])


def test_after_a_refusal_the_richest_copy_goes_next() -> None:
    """The next copy to send is the richest format, the earliest among equals."""
    later_tcx = Copy("t2", State.DUPLICATE, "tcx", "/w/b.tcx", 5.0)
    assert TCX == next_copy([GPX, later_tcx, TCX])
    assert next_copy([]) is None


def test_window_and_how_copies_show() -> None:
    """Starts within 2 minutes are one workout; an invalid content shows its own verdict."""
    assert (880.0, 1120.0) == same_workout_window(1000.0)
    assert shows_as_copy(path="/w/b.fit", leader_path="/w/a.fit", state=State.UPLOADED)
    assert not shows_as_copy(path="/w/b.fit", leader_path="/w/a.fit", state=State.INVALID)
    assert is_own_upload(maybe_posted=True, activity_id=5)
    assert not is_own_upload(maybe_posted=False, activity_id=5)
