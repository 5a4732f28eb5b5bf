"""Owns the order in which the Strava accounts of one app take upload slots.

Every Strava account of the app spends the same rate limits (one
:class:`~stravasync.strava.governor.Governor`), so when they are tight, whose POST
goes next is a choice. The rule (SPEC "Several accounts": fair and fresh):

- a *fresh* workout (:func:`~stravasync.state.model.is_fresh`) of any account goes
  before any backlog file;
- among equals, the account served least recently goes first (round-robin), so one
  account's backfill holds another's new workout back by at most one upload slot.

Each engine asks (:meth:`Seat.may_post`) before each POST it would send, saying
whether that workout is fresh. Asking puts its account in line (a :class:`Demand`):
the first in line is told to go, the others when to look again, and they are woken
(their engine's ``wake``) as soon as the line moves: a POST went out, or a demand
ended. A demand counts for :data:`STALE_S` after its last ask, so an account that
stopped asking (halted, stopped, its file gone) never blocks the others for longer.
The one told to go keeps its place until its POST has ended (at most :data:`STALE_S`),
so nobody behind it spends the slot first; the slot it holds counts as served, so its
next POST goes behind the others in line (one slot per turn, whatever its concurrency).
An account whose POST had to wait (its upload gate is closed until T: a spent window)
is out of line until T and back in it at T: when the window opens, the line, not the
race between engines, decides.

The decisions are pure functions of the line and ``now`` (:func:`first_in_line`,
:func:`turn`); :class:`SlotArbiter` keeps the line, thread-safe. Nothing here sleeps
or calls Strava. An account alone in line is always told to go, so one engine works
as it does without an arbiter (and with ``slots=None``, :func:`seat_for`, it never asks).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stravasync.logs import get_logger
from stravasync.state.model import is_fresh

if TYPE_CHECKING:
    from stravasync.state import Workout

__all__ = ["STALE_S", "Demand", "Seat", "SlotArbiter", "first_in_line", "seat_for", "turn"]

log = get_logger(__name__)

STALE_S = 1.5
"""Seconds a demand counts after its last ask (or after its wait ended)."""


@dataclass(frozen=True)
class Demand:
    """One account's place in line for the next upload slot."""

    fresh: bool
    """Its next workout started within the last 48 hours."""
    until: float
    """It stops counting at this time (stale: its account stopped asking)."""
    since: float = float("-inf")
    """It counts from this time on (an account waiting for its gate is out of line)."""
    granted: bool = False
    """Its account was told to go and its POST has not ended yet."""

    def counts(self, now: float) -> bool:
        """Whether this demand holds a place in line at ``now``."""
        return self.since <= now < self.until


def first_in_line(
    line: Mapping[str, Demand], served: Mapping[str, int], *, now: float
) -> str | None:
    """The account whose POST goes next at ``now``, or None when nobody is in line.

    Fresh before backlog; then the account served least recently (``served`` holds
    each account's last serial, higher = later; never served goes first); then by name.
    """
    waiting = [name for name, demand in line.items() if demand.counts(now)]
    if not waiting:
        return None
    return min(waiting, key=lambda name: (not line[name].fresh, served.get(name, -1), name))


def turn(
    account: str, line: Mapping[str, Demand], served: Mapping[str, int], *, now: float
) -> float | None:
    """None when ``account`` may take the next slot at ``now``; else when to ask again.

    The time to ask again is when the first in line stops counting (it is woken
    sooner when that one's POST goes out or its demand ends).
    """
    first = first_in_line(line, served, now=now)
    if first is None or first == account:
        return None
    return line[first].until


class SlotArbiter:
    """The line for upload slots shared by the Strava engines of one app (thread-safe)."""

    def __init__(self, *, stale_s: float = STALE_S) -> None:
        self._stale_s = stale_s
        self._lock = threading.Lock()
        self._line: dict[str, Demand] = {}
        self._served: dict[str, int] = {}
        self._serial = 0
        self._wakes: dict[str, Callable[[], None]] = {}

    def seat(self, account: str, *, wake: Callable[[], None]) -> Seat:
        """A place at the arbiter for the engine of ``account``; ``wake`` looks again.

        One engine per account: a later seat for the same account (its engine built
        again) replaces the earlier one's wake-up.
        """
        with self._lock:
            self._wakes[account] = wake
        return Seat(self, account)

    def line(self, *, now: float) -> list[str]:
        """The accounts in line at ``now``, the next to go first (for tests and logs)."""
        with self._lock:
            line, served = dict(self._line), dict(self._served)
        order: list[str] = []
        while (first := first_in_line(line, served, now=now)) is not None:
            order.append(first)
            del line[first]
        return order

    def ask(self, account: str, *, fresh: bool, now: float) -> float | None:
        """Put ``account`` in line; None = its POST may go now, else when to ask again."""
        with self._lock:
            held = self._line.get(account)
            granted = held is not None and held.granted and held.counts(now)
            until = max(now + self._stale_s, held.until if granted and held else now)
            self._line[account] = Demand(fresh=fresh, until=until, granted=granted)
            # A slot it holds counts as served: a second POST waits behind the others.
            served = {**self._served, account: self._serial + 1} if granted else self._served
            wait = turn(account, self._line, served, now=now)
            if wait is None:
                self._line[account] = Demand(fresh=fresh, until=until, granted=True)
            else:  # waiting behind another: its place lasts until it is told to look again
                self._line[account] = Demand(fresh=fresh, until=max(until, wait + self._stale_s),
                                             granted=granted)
            return wait

    def ended(self, account: str, *, sent: bool, fresh: bool, gate: float, now: float) -> None:
        """A POST of ``account`` ended: ``sent`` it took the slot; ``gate``: when its
        upload gate opens (later than ``now``: it waits, and is back in line then)."""
        with self._lock:
            self._line.pop(account, None)
            if sent:
                self._serial += 1
                self._served[account] = self._serial
            if gate > now:
                self._line[account] = Demand(fresh=fresh, since=gate, until=gate + self._stale_s)
        self._wake_others(account)

    def withdraw(self, account: str, *, now: float) -> None:
        """``account`` has nothing to POST now: out of line (not while its POST is under way)."""
        with self._lock:
            held = self._line.get(account)
            if held is None or (held.granted and held.counts(now)) or held.since > now:
                return
            del self._line[account]
        self._wake_others(account)

    def leave(self, account: str) -> None:
        """The engine of ``account`` stopped: out of line (started again, it asks again)."""
        with self._lock:
            if self._line.pop(account, None) is None:
                return
        self._wake_others(account)

    def _wake_others(self, account: str) -> None:
        with self._lock:
            wakes = [wake for name, wake in self._wakes.items() if name != account]
        for wake in wakes:
            wake()


class Seat:
    """One engine's place at a :class:`SlotArbiter` (made by :meth:`SlotArbiter.seat`).

    Used by one engine's dispatcher (:meth:`may_post`, :meth:`settle`) and its
    workers (:meth:`ended`).
    """

    def __init__(self, arbiter: SlotArbiter | None, account: str) -> None:
        self._arbiter = arbiter
        self.account = account
        self.not_before = 0.0
        """When the last refusal said to ask again (0 after a go): no POST before then."""
        self._fresh = False
        self._asked = False

    def may_post(self, workout: Workout, *, now: float) -> bool:
        """Whether this engine may send ``workout``'s POST now (asking puts it in line)."""
        if self._arbiter is None:
            return True
        self._asked = True
        self._fresh = is_fresh(workout.start_time, now=now)
        wait = self._arbiter.ask(self.account, fresh=self._fresh, now=now)
        if wait is not None and not self.not_before:  # said once per wait, not per look
            log.debug("upload_turn_waits", account=self.account, fresh=self._fresh,
                      until=wait)
        self.not_before = 0.0 if wait is None else wait
        return wait is None

    def settle(self, *, now: float) -> None:
        """End of a look at the queue: asked nothing, so out of line."""
        if self._arbiter is not None and not self._asked:
            self.not_before = 0.0
            self._arbiter.withdraw(self.account, now=now)
        self._asked = False

    def ended(self, *, sent: bool, gate: float, now: float) -> None:
        """A POST job ended; ``sent``: it reached Strava; ``gate``: when uploads open."""
        if self._arbiter is not None:
            self._arbiter.ended(self.account, sent=sent, fresh=self._fresh, gate=gate, now=now)

    def leave(self) -> None:
        """The engine stopped."""
        if self._arbiter is not None:
            self._arbiter.leave(self.account)


def seat_for(slots: SlotArbiter | None, account: str, *, wake: Callable[[], None]) -> Seat:
    """The engine's seat at ``slots``; without an arbiter, a seat that may always post."""
    return Seat(None, account) if slots is None else slots.seat(account, wake=wake)
