"""The slot arbiter's rule: fresh before backlog, then round-robin; never a deadlock."""

from __future__ import annotations

import threading
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from stravasync.state.model import FRESH_S
from stravasync.upload.slots import STALE_S, Demand, Seat, SlotArbiter, first_in_line, turn

T = 1_800_000_000.0


def live(*, fresh: bool = False) -> Demand:
    """A demand that counts from long before ``T`` until after it."""
    return Demand(fresh=fresh, until=T + 1.0)


class Workout:
    """What a seat reads of a workout: its start."""

    def __init__(self, start_time: float | None) -> None:
        self.start_time = start_time


FRESH = Workout(T - 3600)
OLD = Workout(T - FRESH_S - 3600)


def test_nobody_in_line_means_nobody_first() -> None:
    """An empty line, or one of stale demands only, has no first."""
    stale = {"a": Demand(fresh=True, until=T), "b": Demand(fresh=False, until=T - 5)}
    assert (None, None) == (first_in_line({}, {}, now=T), first_in_line(stale, {}, now=T))


def test_a_fresh_workout_goes_before_any_backlog() -> None:
    """However recently its account was served, a fresh workout is first."""
    line = {"a": live(), "b": live(fresh=True), "c": live()}
    assert "b" == first_in_line(line, {"a": 1, "b": 9, "c": 2}, now=T)


def test_among_equals_the_least_recently_served_goes_first() -> None:
    """Backlog against backlog (and fresh against fresh): the account served longest ago."""
    backlog = {"a": live(), "b": live(), "c": live()}
    fresh = {name: live(fresh=True) for name in backlog}
    served = {"a": 3, "b": 1, "c": 2}
    assert ("b", "b") == (first_in_line(backlog, served, now=T),
                          first_in_line(fresh, served, now=T))


def test_never_served_goes_before_served_and_ties_go_by_name() -> None:
    """An account never served is first; two never served go in name order."""
    line = {"jane": live(), "bob": live(), "emma": live()}
    assert "emma" == first_in_line(line, {"bob": 1}, now=T)
    assert "bob" == first_in_line(line, {}, now=T)


def test_a_waiting_demand_counts_only_from_its_time() -> None:
    """An account waiting for its gate is out of line until then, and in line from then."""
    line = {"a": Demand(fresh=True, since=T + 10, until=T + 10 + STALE_S), "b": live()}
    line["b"] = Demand(fresh=False, until=T + 20)
    assert ("b", "a") == (first_in_line(line, {}, now=T), first_in_line(line, {}, now=T + 10))


def test_turn_says_go_to_the_first_and_when_to_look_again_to_the_others() -> None:
    """The others look again when the first one's demand stops counting."""
    line = {"a": Demand(fresh=True, until=T + 2), "b": live()}
    assert (None, T + 2, None) == (turn("a", line, {}, now=T), turn("b", line, {}, now=T),
                                   turn("b", {}, {}, now=T))


@given(st.dictionaries(
    st.sampled_from("abcde"),
    st.tuples(st.booleans(), st.floats(-3, 3), st.floats(-3, 3), st.integers(-1, 5)),
))
def test_the_first_is_in_line_and_no_one_in_line_comes_before_it(
    drawn: dict[str, tuple[bool, float, float, int]],
) -> None:
    """Whoever is first counts now; no counting demand is fresher, or as fresh and served earlier."""
    line = {name: Demand(fresh=f, since=T + since, until=T + since + span)
            for name, (f, since, span, _served) in drawn.items()}
    served = {name: s for name, (_f, _since, _span, s) in drawn.items() if s >= 0}
    first = first_in_line(line, served, now=T)
    counting = [name for name, d in line.items() if d.since <= T < d.until]
    if first is None:
        assert [] == counting
        return
    assert first in counting

    def rank(name: str) -> tuple[bool, int, str]:
        return (not line[name].fresh, served.get(name, -1), name)

    assert [] == [name for name in counting if rank(name) < rank(first)]


# -- the arbiter ------------------------------------------------------------------------


class Wakes:
    """Wake callbacks that count their calls."""

    def __init__(self) -> None:
        self.count: Counter[str] = Counter()

    def of(self, name: str) -> object:
        return lambda: self.count.update([name])


def arbiter_with(*names: str) -> tuple[SlotArbiter, dict[str, Seat], Wakes]:
    arbiter = SlotArbiter()
    wakes = Wakes()
    seats = {name: arbiter.seat(name, wake=wakes.of(name)) for name in names}  # type: ignore[arg-type]
    return arbiter, seats, wakes


def test_an_account_alone_is_always_told_to_go() -> None:
    """One engine at the arbiter: every POST may go, at once, as without an arbiter."""
    _arbiter, seats, _wakes = arbiter_with("me")
    me = seats["me"]
    assert [True] * 5 == [me.may_post(OLD, now=T + i / 10) for i in range(5)]
    assert 0.0 == me.not_before


def test_no_arbiter_means_always_go() -> None:
    """``slots=None``: the seat never asks and never holds anything back."""
    seat = Seat(None, "me")
    assert (True, True, 0.0) == (seat.may_post(OLD, now=T), seat.may_post(FRESH, now=T),
                                 seat.not_before)


def test_a_fresh_workout_takes_the_slot_from_a_backlog_in_line() -> None:
    """b asks with a fresh ride while a waits with backlog: b goes, a is told when to look again."""
    _arbiter, seats, _wakes = arbiter_with("a", "b")
    seats["a"].ended(sent=True, gate=T, now=T)  # a was served last
    assert seats["b"].may_post(OLD, now=T)
    seats["b"].ended(sent=True, gate=T, now=T)
    assert seats["a"].may_post(OLD, now=T + 1)
    seats["a"].ended(sent=False, gate=T + 60, now=T + 1)  # the window is spent until T+60
    assert seats["b"].may_post(FRESH, now=T + 2)
    seats["b"].ended(sent=False, gate=T + 60, now=T + 2)
    assert not seats["a"].may_post(OLD, now=T + 60)
    assert seats["b"].may_post(FRESH, now=T + 60)


def test_whoever_asks_first_when_the_window_opens_the_line_decides() -> None:
    """Both waited for the window: the least recently served goes, even if it asks second."""
    arbiter, seats, wakes = arbiter_with("a", "b")
    seats["b"].ended(sent=True, gate=T + 60, now=T)
    seats["a"].ended(sent=False, gate=T + 60, now=T + 1)
    assert ["a", "b"] == arbiter.line(now=T + 60)
    assert not seats["b"].may_post(OLD, now=T + 60)
    assert T + 60 + STALE_S == seats["b"].not_before
    assert seats["a"].may_post(OLD, now=T + 60.1)
    before = wakes.count["b"]
    seats["a"].ended(sent=True, gate=T + 60.1, now=T + 60.2)
    assert (1, True) == (wakes.count["b"] - before, seats["b"].may_post(OLD, now=T + 60.2))


def test_the_one_told_to_go_keeps_its_place_until_its_post_ended() -> None:
    """Between a's go and the end of its POST, b (behind a) is refused; then b goes."""
    _arbiter, seats, wakes = arbiter_with("a", "b")
    seats["b"].ended(sent=True, gate=T, now=T)
    assert seats["a"].may_post(OLD, now=T + 1)
    seats["a"].settle(now=T + 1)
    seats["a"].settle(now=T + 1.1)  # the dispatcher looks again while the POST runs
    assert not seats["b"].may_post(OLD, now=T + 1.2)
    seats["a"].ended(sent=True, gate=T + 1.3, now=T + 1.3)
    assert 1 <= wakes.count["b"]
    assert seats["b"].may_post(OLD, now=T + 1.3)


def test_one_slot_per_turn_whatever_the_concurrency() -> None:
    """a may send four at once, but with b in line its second POST waits for b's turn."""
    _arbiter, seats, _wakes = arbiter_with("a", "b")
    seats["a"].ended(sent=True, gate=T, now=T)
    seats["b"].ended(sent=True, gate=T, now=T)  # a was served longer ago: a goes first
    assert seats["a"].may_post(OLD, now=T + 1)
    assert not seats["b"].may_post(OLD, now=T + 1)  # b waits in line behind a
    assert not seats["a"].may_post(OLD, now=T + 1)  # a's second POST: b's turn first
    seats["a"].ended(sent=True, gate=T + 1, now=T + 1.1)
    assert not seats["a"].may_post(OLD, now=T + 1.1)
    assert [True, False] == [seats["b"].may_post(OLD, now=T + 1.1),
                             seats["b"].may_post(OLD, now=T + 1.1)]


def test_an_account_halted_mid_post_blocks_nobody_after_a_short_time() -> None:
    """Told to go, then never heard of again: its place no longer counts STALE_S later."""
    _arbiter, seats, _wakes = arbiter_with("a", "b")
    seats["b"].ended(sent=True, gate=T, now=T)
    assert seats["a"].may_post(FRESH, now=T + 1)
    assert not seats["b"].may_post(OLD, now=T + 1 + STALE_S / 2)
    assert T + 1 + STALE_S == seats["b"].not_before
    assert seats["b"].may_post(OLD, now=T + 1 + STALE_S)


def test_an_account_waiting_on_its_own_gate_holds_nobody_back_meanwhile() -> None:
    """a waits until T+3600 (a dead end of its own): b posts meanwhile; a is first again after."""
    arbiter, seats, _wakes = arbiter_with("a", "b")
    seats["b"].ended(sent=True, gate=T, now=T)
    seats["a"].ended(sent=False, gate=T + 3600, now=T)
    assert seats["b"].may_post(OLD, now=T + 10)
    seats["b"].ended(sent=True, gate=T + 10, now=T + 10)
    assert ["a"] == arbiter.line(now=T + 3600)


def test_having_nothing_to_post_leaves_the_line_and_wakes_the_others() -> None:
    """a, first in line, looks and asks nothing (its file is gone): b is woken and goes."""
    _arbiter, seats, wakes = arbiter_with("a", "b")
    seats["a"].ended(sent=True, gate=T, now=T)
    assert seats["b"].may_post(OLD, now=T)
    assert not seats["a"].may_post(OLD, now=T)
    seats["a"].settle(now=T)
    seats["b"].ended(sent=True, gate=T, now=T + 0.1)
    assert not seats["b"].may_post(OLD, now=T + 0.2)
    woken = wakes.count["b"]
    seats["a"].settle(now=T + 0.2)
    assert (woken + 1, True) == (wakes.count["b"], seats["b"].may_post(OLD, now=T + 0.2))


def test_a_stopped_engine_leaves_the_line_and_the_others_go() -> None:
    """leave() (the engine stopped, even mid-POST): out of line, and the others are woken."""
    _arbiter, seats, wakes = arbiter_with("a", "b")
    seats["b"].ended(sent=True, gate=T, now=T)
    assert seats["a"].may_post(OLD, now=T)
    assert not seats["b"].may_post(OLD, now=T)
    seats["a"].leave()
    seats["a"].leave()  # stop() may run twice
    assert (1, True) == (wakes.count["b"], seats["b"].may_post(OLD, now=T))


def test_an_engine_built_again_takes_the_seat_of_its_account() -> None:
    """A second seat for one account replaces the first one's wake-up."""
    arbiter, seats, wakes = arbiter_with("a", "b")
    again = Wakes()
    arbiter.seat("a", wake=again.of("a"))  # type: ignore[arg-type]
    seats["b"].ended(sent=True, gate=T, now=T)
    assert (0, 1) == (wakes.count["a"], again.count["a"])


def test_many_threads_asking_at_once_take_turns() -> None:
    """Four engines asking from four threads at once: each gets its share, none waits forever."""
    arbiter = SlotArbiter(stale_s=1000.0)
    served: list[str] = []
    lock = threading.Lock()
    clock = [T]
    ready = threading.Barrier(4)

    def tick() -> float:
        with lock:
            clock[0] += 0.001
            return clock[0]

    def engine(name: str) -> None:
        seat = arbiter.seat(name, wake=lambda: None)
        go = seat.may_post(OLD, now=tick())
        ready.wait()
        while True:
            if go:
                with lock:
                    if len(served) >= 400:
                        return
                    served.append(name)
                seat.ended(sent=True, gate=T, now=tick())
            seat.settle(now=tick())
            with lock:
                if len(served) >= 400:
                    return
            go = seat.may_post(OLD, now=tick())

    threads = [threading.Thread(target=engine, args=(n,)) for n in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [False] * 4 == [t.is_alive() for t in threads]
    # Round-robin among those in line: one between its POST and its next ask is not.
    assert [True] * 4 == [Counter(served)[name] >= 50 for name in "abcd"]
