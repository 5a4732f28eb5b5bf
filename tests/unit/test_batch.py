"""Tests for batch resolution: when to list, when to poll singly, what a list settles, the budget."""

from __future__ import annotations

import statistics

import pytest
from batchsim import T0, simulate

from stravasync.strava.governor import Limits, next_quarter_hour
from stravasync.upload.batch import (
    BatchSettings,
    InFlight,
    ListCall,
    clear_after,
    list_gap,
    plan,
    reads_needed,
    relook_delay,
    settle,
)
from stravasync.upload.polling import Pacing

NOW = T0 + 300.0  # 10:05 UTC, ten minutes left in the window
DAY = 86400
MARGIN = BatchSettings().margin_s


def flight(
    upload_id: str, *, posted: float = -4.0, start: float | None = T0 - 20 * DAY,
    polls: int = 0, due: float = -1.0, expected: float = 3.0, parked: bool = False,
) -> InFlight:
    """An upload in flight, times relative to NOW."""
    return InFlight(upload_id=upload_id, posted_at=NOW + posted, start_time=start, polls=polls,
                    due_at=NOW + due, expected_s=expected, parked=parked)


def summary(upload_id: int | None, activity_id: int, start: float | None = None) -> dict[str, object]:
    """A SummaryActivity as Strava lists it."""
    row: dict[str, object] = {"id": activity_id, "upload_id": upload_id,
                              "upload_id_str": None if upload_id is None else str(upload_id),
                              "external_id": "stravasync-abc.fit", "name": "Morning Ride"}
    if start is not None:
        row["start_date"] = _iso(start)
    return row


def _iso(t: float) -> str:
    from datetime import UTC, datetime
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- when to list -----------------------------------------------------------------------


def test_two_due_uploads_are_settled_by_one_list() -> None:
    """Two uploads due together cost one list call, not two polls."""
    decision = plan(uploads=[flight("1"), flight("2")], can_list=True, read_budget=50, now=NOW)
    assert decision.list_call is not None
    assert ("1", "2") == decision.list_call.covers
    assert () == decision.polls


def test_list_range_is_bounded_by_workout_start_times_not_upload_time() -> None:
    """after/before bracket the workouts' own start times (weeks old), widened by the margin."""
    a = flight("1", start=T0 - 30 * DAY)
    b = flight("2", start=T0 - 10 * DAY)
    decision = plan(uploads=[a, b], can_list=True, read_budget=50, now=NOW)
    assert decision.list_call is not None
    assert {"after": int(T0 - 30 * DAY - MARGIN), "before": int(T0 - 10 * DAY + MARGIN),
            "page": 1, "per_page": 200} == decision.list_call.params()


def test_without_read_all_every_upload_is_polled_singly() -> None:
    """A token without activity:read_all never lists (private activities would be missing)."""
    decision = plan(uploads=[flight("1"), flight("2")], can_list=False, read_budget=50, now=NOW)
    assert decision.list_call is None
    assert ("1", "2") == decision.polls


def test_a_single_upload_in_flight_is_polled() -> None:
    """With one upload in flight its own poll tells everything a list would, and more."""
    decision = plan(uploads=[flight("1")], can_list=True, read_budget=50, now=NOW)
    assert (None, ("1",)) == (decision.list_call, decision.polls)


def test_one_ripe_upload_beside_a_fresh_one_is_polled() -> None:
    """A list pays off only when two uploads may be done: one due beside one just posted is polled."""
    fresh = flight("2", posted=-0.5, due=2.5)
    decision = plan(uploads=[flight("1"), fresh], can_list=True, read_budget=50, now=NOW)
    assert (None, ("1",)) == (decision.list_call, decision.polls)
    assert NOW + 2.5 == decision.next_look_at


def test_a_list_also_covers_uploads_expected_done_but_not_yet_due() -> None:
    """An upload past its expected time rides along in a list sent for another one."""
    ripe_not_due = flight("2", posted=-3.5, due=0.5)
    decision = plan(uploads=[flight("1"), ripe_not_due], can_list=True, read_budget=50, now=NOW)
    assert decision.list_call is not None
    assert {"1", "2"} == set(decision.list_call.covers)


def test_uploads_without_start_time_are_polled_beside_a_list() -> None:
    """An upload whose start is unknown cannot be bounded in a list: it is polled on its own."""
    uploads = [flight("1"), flight("2"), flight("3", start=None)]
    decision = plan(uploads=uploads, can_list=True, read_budget=50, now=NOW)
    assert decision.list_call is not None
    assert (("1", "2"), ("3",)) == (decision.list_call.covers, decision.polls)


def test_parked_uploads_are_polled_singly() -> None:
    """A parked upload (minutes of processing) is looked at on its own, rarely."""
    uploads = [flight("1"), flight("2", parked=True, posted=-400, polls=6)]
    decision = plan(uploads=uploads, can_list=True, read_budget=50, now=NOW)
    assert (None, ("1", "2")) == (decision.list_call, decision.polls)


def test_nothing_due_means_look_at_the_earliest_due_time() -> None:
    """Before any upload is due nothing is sent, and the next look is the earliest due time."""
    uploads = [flight("1", posted=-1, due=2.0), flight("2", posted=-0.5, due=2.5)]
    decision = plan(uploads=uploads, can_list=True, read_budget=50, now=NOW)
    assert (None, (), NOW + 2.0) == (decision.list_call, decision.polls, decision.next_look_at)


def test_nothing_in_flight_needs_no_look() -> None:
    """No upload in flight: no call and no next look."""
    assert (None, (), (), None) == tuple(vars(plan(uploads=[], can_list=True, read_budget=9,
                                                   now=NOW)).values())


def test_lists_are_spaced_by_the_gap() -> None:
    """A second list right after the first waits for the gap instead of spending a read."""
    gap = list_gap(now=NOW, read_budget=50, settings=BatchSettings())
    decision = plan(uploads=[flight("1"), flight("2")], can_list=True, read_budget=50,
                    now=NOW, last_list_at=NOW - 0.2)
    assert (None, (), NOW - 0.2 + gap) == (decision.list_call, decision.polls,
                                           decision.next_look_at)


# -- when to poll singly ----------------------------------------------------------------


def overdue(upload_id: str, posted: float) -> InFlight:
    """An upload missing from earlier lists, long past its expected 3 s."""
    return flight(upload_id, posted=posted, polls=3)


def test_an_upload_missing_long_after_its_time_gets_its_own_poll() -> None:
    """An upload absent from lists well past its expected time is polled: errors and duplicates are learned that way."""
    late = overdue("9", posted=-(clear_after(3.0, BatchSettings()) + 1))
    decision = plan(uploads=[late, flight("1"), flight("2")], can_list=True, read_budget=50,
                    now=NOW)
    assert (("9",), ("9",)) == (decision.polls, decision.probes)
    assert decision.list_call is not None
    assert "9" not in decision.list_call.covers


def test_overdue_uploads_are_probed_one_at_a_time() -> None:
    """Several overdue uploads (maybe just a slow day): one probe, the rest stay in the list."""
    uploads = [overdue("7", -20), overdue("8", -30), overdue("9", -25)]
    decision = plan(uploads=uploads, can_list=True, read_budget=50, now=NOW)
    assert ("8",) == decision.polls  # the oldest
    assert decision.list_call is not None
    assert {"7", "9"} == set(decision.list_call.covers)


def test_after_a_probe_settled_every_overdue_upload_is_polled() -> None:
    """Once a probe found an error or duplicate, the other overdue uploads get their polls too."""
    uploads = [overdue("7", -20), overdue("8", -30), overdue("9", -25), flight("1")]
    decision = plan(uploads=uploads, can_list=True, read_budget=50, now=NOW, probe_settled=True)
    assert ("8", "9", "7", "1") == decision.polls  # "1" alone is ripe: no list for it
    assert ("8", "9", "7") == decision.probes
    assert decision.list_call is None


def test_overdue_moves_out_with_the_expected_time() -> None:
    """An upload whose estimate was raised (a slow day) is no longer overdue at the same age."""
    slow = InFlight(upload_id="8", posted_at=NOW - 20, start_time=T0 - DAY, polls=3,
                    due_at=NOW - 1, expected_s=15.0)
    decision = plan(uploads=[slow, flight("1")], can_list=True, read_budget=50, now=NOW)
    assert () == decision.polls
    assert decision.list_call is not None


# -- the budget -------------------------------------------------------------------------


def test_no_read_left_sends_nothing_until_the_quarter_hour() -> None:
    """With the read budget spent, nothing is sent and the next look is the next window."""
    decision = plan(uploads=[flight("1"), flight("2")], can_list=True, read_budget=0, now=NOW)
    assert (None, (), next_quarter_hour(NOW)) == (decision.list_call, decision.polls,
                                                  decision.next_look_at)


def test_the_list_goes_before_single_polls_when_reads_are_short() -> None:
    """One read left buys the list (it may settle many), and the poll waits for the window."""
    uploads = [flight("1"), flight("2"), flight("3", start=None)]
    decision = plan(uploads=uploads, can_list=True, read_budget=1, now=NOW)
    assert decision.list_call is not None
    assert () == decision.polls
    assert next_quarter_hour(NOW) == decision.next_look_at


def test_lists_slow_down_as_the_window_runs_out_of_reads() -> None:
    """The gap between lists grows as reads left shrink, so the window's reads last."""
    settings = BatchSettings()
    gaps = [list_gap(now=NOW, read_budget=b, settings=settings) for b in (90, 10, 1)]
    assert settings.min_list_gap_s == gaps[0]
    assert gaps[0] < gaps[1] < gaps[2]
    assert gaps[2] <= next_quarter_hour(NOW) - NOW


def test_reads_needed_is_one_list_not_one_per_upload() -> None:
    """A POST keeps back the reads of one list (plus a probe), not one poll per upload in flight."""
    uploads = [flight(str(i)) for i in range(150)]
    assert 2 == reads_needed(uploads, can_list=True)
    assert 150 == reads_needed(uploads, can_list=False)
    assert 3 == reads_needed([*uploads, flight("x", start=None)], can_list=True)


def test_relook_after_a_miss_is_a_share_of_the_expected_time() -> None:
    """An upload missing from a list is looked for again soon (lists are shared), and parked after minutes."""
    timing = Pacing()
    assert (3.0, False) == relook_delay(elapsed=12.0, polls=2, expected_s=10.0, timing=timing)
    assert (timing.min_poll_s, False) == relook_delay(elapsed=2.0, polls=1, expected_s=1.0,
                                                      timing=timing)
    assert relook_delay(elapsed=200.0, polls=9, expected_s=3.0, timing=timing)[1]


# -- what a list answer settles ---------------------------------------------------------


def call(*covers: str, per_page: int = 200) -> ListCall:
    """A list call covering ``covers`` around T0 - 20 days."""
    return ListCall(after=int(T0 - 21 * DAY), before=int(T0 - 19 * DAY), covers=covers,
                    per_page=per_page, margin_s=MARGIN)


def test_settle_matches_on_upload_id() -> None:
    """Uploads in the list become their activities; the others covered had a look."""
    uploads = [flight("101"), flight("102"), flight("103")]
    answer = settle(call=call("101", "102", "103"), uploads=uploads,
                    summaries=[summary(555, 1), summary(101, 7001), summary(103, 7003)])
    assert {"101": 7001, "103": 7003} == answer.found
    assert ("102",) == answer.absent
    assert answer.next_page is None


def test_settle_never_matches_on_name_or_external_id() -> None:
    """An activity with our name or external_id but another upload id (a duplicate's original) settles nothing."""
    row = summary(999, 42)
    row["external_id"] = "stravasync-101"
    answer = settle(call=call("101"), uploads=[flight("101")], summaries=[row])
    assert ({}, ("101",)) == (answer.found, answer.absent)


def test_settle_reads_upload_id_str_before_the_number() -> None:
    """64-bit ids: upload_id_str wins over a number that lost precision; manual activities have none."""
    row = summary(None, 7001)
    row["upload_id_str"] = "18446744073709551"
    row["upload_id"] = 18446744073709552
    answer = settle(call=call("18446744073709551"), uploads=[flight("18446744073709551")],
                    summaries=[row, summary(None, 7002)])
    assert {"18446744073709551": 7001} == answer.found


def test_settle_takes_uploads_found_outside_the_covered_set() -> None:
    """An upload in flight that the list happens to hold is settled even if it was not covered."""
    answer = settle(call=call("101"), uploads=[flight("101"), flight("102")],
                    summaries=[summary(102, 7002)])
    assert ({"102": 7002}, ("101",)) == (answer.found, answer.absent)


def test_full_page_asks_for_the_next_before_judging_absence() -> None:
    """A full page may not reach our upload: no absence is counted, and page 2 is asked for."""
    rows = [summary(None, i, start=T0 - 21 * DAY + 60 * i) for i in range(1, 4)]
    answer = settle(call=call("101", per_page=3), uploads=[flight("101")], summaries=rows)
    assert () == answer.absent
    assert answer.next_page is not None
    assert (2, ("101",)) == (answer.next_page.page, answer.next_page.covers)


def test_full_page_past_every_start_needs_no_next_page() -> None:
    """Oldest first: once a full page ends past every awaited start (plus margin), absence is known."""
    ours = flight("101", start=T0 - 20 * DAY)
    late = T0 - 20 * DAY + MARGIN + 60
    rows = [summary(None, i, start=late + i) for i in range(1, 4)]
    answer = settle(call=call("101", per_page=3), uploads=[ours], summaries=rows)
    assert (None, ("101",)) == (answer.next_page, answer.absent)


def test_a_short_page_is_the_last() -> None:
    """A page with fewer than per_page activities ends the listing."""
    answer = settle(call=call("101", per_page=3), uploads=[flight("101")],
                    summaries=[summary(None, 1)])
    assert (None, ("101",)) == (answer.next_page, answer.absent)


# -- the simulation ---------------------------------------------------------------------


@pytest.mark.parametrize(("processing", "ceiling"), [((0.5, 6.0), 2.2), ((10.0, 30.0), 2.5)])
def test_cold_start_calls_per_activity(processing: tuple[float, float], ceiling: float) -> None:
    """12 workouts from an empty state cost at most 2.2 calls each at 0.5-6 s, 2.5 at 10-30 s (seeds 1-3)."""
    runs = [simulate(files=12, processing=processing, seed=seed) for seed in (1, 2, 3)]
    assert all(12 == len(r.known) for r in runs)
    assert statistics.mean(r.calls_per_activity for r in runs) <= ceiling


def test_cold_start_latency_stays_near_a_one_second_poller() -> None:
    """POST to known takes at most 1.3 times as long (median) as polling every second would."""
    runs = [simulate(files=12, processing=(0.5, 6.0), seed=seed) for seed in (1, 2, 3)]
    assert statistics.mean(r.latency_ratio for r in runs) <= 1.3


def test_backlog_creates_150_activities_per_window_without_429() -> None:
    """300 files at Strava's default limits: at least 150 activities in a full window, never over a limit."""
    result = simulate(files=300, processing=(0.5, 6.0), seed=1, horizon_s=3600)
    assert result.created_in_window(0) >= 150
    assert 300 == len(result.known)
    assert 0 == result.over_limit


def test_backlog_single_polls_stay_under_the_read_limit() -> None:
    """Without activity:read_all a backlog is bound by the read limit, as before, and still never over it."""
    result = simulate(files=300, processing=(0.5, 6.0), seed=1, horizon_s=3600, can_list=False)
    assert result.created_in_window(0) <= 100
    assert 0 == result.over_limit


def test_shrunk_limits_keep_the_ratio() -> None:
    """Limits shrunk to 40/20 (the benchmark's) give the same share of the window to POSTs."""
    result = simulate(files=120, processing=(0.5, 6.0), seed=2, horizon_s=3600,
                      limits=Limits(40, 400, 20, 200))
    assert result.created_in_window(1) >= 30
    assert 0 == result.over_limit


def test_errors_are_still_learned_by_their_own_poll() -> None:
    """Uploads that end in an error never appear in a list; each is settled by a single poll."""
    result = simulate(files=12, processing=(0.5, 6.0), seed=3, errors=0.25)
    assert 12 - len(result.known) <= result.polls
    assert result.calls_per_activity < 4
