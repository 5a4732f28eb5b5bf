"""Tests for stravasync.upload.gates: when calls may go, and a halt that is said once."""

from __future__ import annotations

from structlog.testing import capture_logs

from stravasync.errors import NotSignedIn, RateLimited
from stravasync.upload.gates import Gates


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_closed_gate_opens_at_its_time_and_only_for_its_kind() -> None:
    """Closing uploads until T leaves reads open; uploads open again at T."""
    clock = Clock()
    gates = Gates(clock=clock)
    gates.close("upload", 1100.0, sha="s", why="rate_limit")
    assert (False, True) == (gates.is_open("upload", 1050.0), gates.is_open("read", 1050.0))
    assert gates.is_open("upload", 1100.0)


def test_a_gate_closes_for_at_least_the_minimum_wait_and_never_shortens() -> None:
    """A close in the past still waits min_wait_s; a shorter later close keeps the longer."""
    clock = Clock()
    gates = Gates(clock=clock, min_wait_s=2.0)
    gates.close("read", 0.0, sha="s", why="x")
    assert 1002.0 == gates.open_at("read")
    gates.close("read", 1500.0, sha="s", why="x")
    gates.close("read", 1200.0, sha="s", why="x")
    assert 1500.0 == gates.open_at("read")


def test_a_halt_is_said_once_and_resume_wakes() -> None:
    """Two halts log one engine_fatal; resume clears it and wakes the dispatcher."""
    gates = Gates(clock=Clock())
    with capture_logs() as logs:
        gates.halt(NotSignedIn("no tokens"))
        gates.halt(NotSignedIn("still none"))
    assert ["engine_fatal"] == [e["event"] for e in logs]
    assert "no tokens" == gates.halted.message  # type: ignore[union-attr]
    gates.take_wake()
    gates.resume()
    assert (None, True) == (gates.halted, gates.take_wake())


def test_met_halts_on_a_person_and_closes_on_a_rate_limit() -> None:
    """An error that needs a person halts; a 429 with a time closes that kind's gate."""
    clock = Clock()
    gates = Gates(clock=clock)
    assert gates.met(RateLimited("15-minute limit", until=1900.0), kind="upload", sha="s")
    assert (1900.0, 0.0) == (gates.open_at("upload"), gates.open_at("read"))
    assert gates.met(NotSignedIn("gone"), kind="read", sha="s")
    assert isinstance(gates.halted, NotSignedIn)
