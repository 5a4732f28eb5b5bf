"""Settling many uploads with one list call: what to send now, and what an answer settles.

Owns the choice between ``GET /athlete/activities`` (one read that settles every
upload in flight that has become an activity) and single polls (``GET /uploads/{id}``,
the only way to learn errors, duplicates and deletions), as pure functions of what is
in flight, the read budget and ``now``. The transfer sends what :func:`plan` says and
hands each list answer to :func:`settle`; nothing here sends, sleeps or reads a clock.

What the list can and cannot tell (``strava-api.md``, "Listing activities"):

- ``after``/``before`` filter on the activity's *start* time, the workout's own
  start, which for a backlog can be weeks old, not on when it was uploaded. So a list
  is bounded by the start times of the workouts it is meant to settle (known from
  validation), widened by :attr:`BatchSettings.margin_s` on each side because our
  start time and Strava's ``start_date`` need not agree (relative FIT times placed
  by ``local_timestamp`` have an unknown time zone). With ``after`` the list runs
  oldest first, ``per_page`` up to 200; a further page is asked for only when a page
  came back full and could still hold an upload we look for.
- Uploads are matched on ``upload_id`` (``upload_id_str`` first), never on the name
  nor on ``external_id``, which Strava may echo altered.
- Private activities are listed only with ``activity:read_all``: without it the
  caller passes ``can_list=False`` and every upload is polled singly, as before.
- Errors, duplicates and deleted activities never appear. An upload missing from a
  list well after its expected processing time (:func:`clear_after`) is *overdue*
  and gets its own poll. One overdue upload is probed at a time: if the probe finds it
  still processing the day is slow (the caller raises its estimates, which moves the
  others' time out); if the probe settles it (an error, a duplicate, or "ready" that
  the list could not see), the caller passes ``probe_settled=True`` and every overdue
  upload is polled.

Cost: one list per look instead of one poll per upload in flight, paced so that the
window's reads last (see :func:`list_gap`). Keep :func:`reads_needed` reads back when
deciding whether a POST may go (the governor's ``reserve``), not one per upload.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from stravasync.strava.ratewindows import next_quarter_hour
from stravasync.upload.polling import Pacing, next_poll_delay

__all__ = [
    "BatchSettings",
    "InFlight",
    "ListCall",
    "Plan",
    "Settlement",
    "clear_after",
    "list_gap",
    "plan",
    "reads_needed",
    "relook_delay",
    "settle",
    "waiting_for_list",
]


@dataclass(frozen=True)
class BatchSettings:
    """The tunable parts of batch resolution (defaults suit the real Strava)."""

    min_batch: int = 2
    """A list is used only when at least this many uploads in flight can be listed."""
    per_page: int = 200
    """Activities per list page (Strava's maximum)."""
    margin_s: float = 86400.0
    """Start-time slack on each side of a list's range (our start time vs Strava's)."""
    min_list_gap_s: float = 1.0
    """Never list more often than this (Strava: one second or longer between polls)."""
    pace_share: float = 0.15
    """Lists may spend the window's reads left this much faster than evenly (1 = evenly)."""
    clear_factor: float = 2.0
    """An upload missing from a list is overdue this many expected times after its POST..."""
    clear_slack_s: float = 4.0
    """... and at least this long past its expected time."""
    relook_share: float = 0.3
    """An upload missing from a list is looked for again after this share of its expected
    time (a list is shared, so looks can be closer than single polls' growing steps)."""
    backlog_batch: int = 16
    """In a backlog, a list waits until this many uploads are past their expected time
    (one list then settles them all), and so many hold no POST slot meanwhile
    (:func:`waiting_for_list`)..."""
    backlog_wait_s: float = 60.0
    """... or until the first of them has waited this long."""
    gather_wait_s: float = 1.5
    """Outside a backlog a list waits at most this long after the first upload it covers
    was expected done, for the others in flight to be expected done too (latency barely
    moves, and the list settles more of them). With no POSTs waiting it waits only while
    another upload in flight will be expected done within this time."""
    likely_share: float = 0.5
    """An upload posted this share of its expected time ago is likely done already: beside
    one ripe upload it makes a list worth more than that upload's own poll (a list
    settles every upload that is done, ripe or not)."""


@dataclass(frozen=True)
class InFlight:
    """One upload posted and not yet settled, as the store knows it."""

    upload_id: str
    """Strava's upload id (``id_str``)."""
    posted_at: float
    """When the POST was answered (Unix seconds)."""
    start_time: float | None
    """The workout's start (Unix seconds) from validation; None: it can only be polled."""
    polls: int
    """Looks so far that did not settle it (polls that saw it processing, lists without it)."""
    due_at: float
    """When its next look is due (the store's ``next_attempt_at``)."""
    expected_s: float
    """Its expected processing time (``Estimates.for_file``)."""
    parked: bool = False
    """Processing took minutes: looked at rarely, always with its own poll."""


@dataclass(frozen=True)
class ListCall:
    """One ``GET /athlete/activities`` call, and which uploads it is meant to settle."""

    after: int
    """Epoch seconds: only activities that *start* after this."""
    before: int
    """Epoch seconds: only activities that *start* before this."""
    covers: tuple[str, ...]
    """Upload ids whose absence from the complete answer counts as a look."""
    page: int = 1
    """Page number, from 1."""
    per_page: int = 200
    """Activities per page."""
    margin_s: float = 86400.0
    """The start-time slack used for the range (also decides when paging can stop)."""

    def params(self) -> dict[str, int]:
        """The query parameters to send."""
        return {"after": self.after, "before": self.before, "page": self.page,
                "per_page": self.per_page}


@dataclass(frozen=True)
class Plan:
    """What to send now, and when to ask again."""

    list_call: ListCall | None
    """The one list call to send now, if any."""
    polls: tuple[str, ...]
    """Upload ids to poll singly now (overdue ones first). Send them after the list:
    one the list settled needs no poll."""
    probes: tuple[str, ...]
    """The overdue uploads among :attr:`polls`: a final answer to one of them (ready,
    error, duplicate, deleted) means ``probe_settled=True`` for the next plan; "still
    processing" means ``False`` (and raise the estimates: ``Estimates.slower``)."""
    next_look_at: float | None
    """When to call :func:`plan` again if nothing else happens (answers recorded, a new
    POST): the next due time of an upload not acted on now; None when there is none."""


@dataclass(frozen=True)
class Settlement:
    """What one list answer (one page) settled."""

    found: dict[str, int]
    """Upload id -> activity id, for every upload in flight the page holds."""
    absent: tuple[str, ...]
    """Covered uploads the complete list does not hold: each had a look (empty while
    another page is needed)."""
    next_page: ListCall | None
    """Send this next (the page was full and may not have reached every upload)."""


def clear_after(expected_s: float, settings: BatchSettings) -> float:
    """Seconds after its POST when an upload missing from a list is overdue."""
    return max(settings.clear_factor * expected_s, expected_s + settings.clear_slack_s)


def relook_delay(
    *, elapsed: float, polls: int, expected_s: float, timing: Pacing,
    settings: BatchSettings | None = None,
) -> tuple[float, bool]:
    """Seconds until an upload missing from a list is due again, and whether it is parked.

    ``elapsed``: seconds since its POST; ``polls``: looks so far, this one included.
    The first three looks come :attr:`BatchSettings.relook_share` of the expected
    time apart; later ones grow like single polls' steps (``poll_growth``), so
    an upload that is slow, or ended in an error that no list will ever show, costs
    few lists before its own poll. Parking is
    :func:`~stravasync.upload.polling.next_poll_delay`'s (minutes of processing).
    """
    s = settings or BatchSettings()
    single, parked = next_poll_delay(elapsed=elapsed, polls=polls, estimate=expected_s,
                                     timing=timing)
    if parked:
        return single, True
    step = s.relook_share * expected_s * timing.poll_growth ** max(0, polls - 3)
    return min(single, max(timing.min_poll_s, step)), False


def list_gap(*, now: float, read_budget: int, settings: BatchSettings) -> float:
    """The least time between two lists, so that the window's reads last.

    Evenly spread, ``read_budget`` reads over the rest of the quarter-hour would be one
    per ``left / read_budget`` seconds; lists may go ``1 / pace_share`` times faster
    than that, never faster than ``min_list_gap_s``.
    """
    left = next_quarter_hour(now) - now
    return max(settings.min_list_gap_s, left * settings.pace_share / max(1, read_budget))


def _listable(
    uploads: Sequence[InFlight], *, can_list: bool, settings: BatchSettings
) -> list[InFlight]:
    if not can_list:
        return []
    listable = [u for u in uploads if u.start_time is not None and not u.parked]
    return listable if len(listable) >= settings.min_batch else []


def reads_needed(
    uploads: Sequence[InFlight], *, can_list: bool, settings: BatchSettings | None = None
) -> int:
    """Reads to keep back for settling ``uploads`` (the POST's ``reserve``).

    One per upload that can only be polled; for the listable ones, the pages of one
    list plus one overdue probe.
    """
    s = settings or BatchSettings()
    listable = _listable(uploads, can_list=can_list, settings=s)
    pages = math.ceil(len(listable) / s.per_page) + 1 if listable else 0
    return len(uploads) - len(listable) + pages


def plan(
    *, uploads: Sequence[InFlight], can_list: bool, read_budget: int, now: float,
    last_list_at: float | None = None, probe_settled: bool = False,
    posts_waiting: int = 0, settings: BatchSettings | None = None,
) -> Plan:
    """Which list call and which single polls to send now, and when to look next.

    ``can_list``: the token has ``activity:read_all`` (else private activities are
    missing from lists, so none is sent). ``read_budget``: reads left in the window
    (``Governor.reads_left``). ``last_list_at``: when the last list was sent.
    ``probe_settled``: the last overdue upload polled singly was settled by that poll.
    ``posts_waiting``: workouts due to be POSTed and held back. When they are more
    than ``read_budget`` (a backlog: the window's calls run out before the queue
    does), every read saved is one more activity this window, and time is not what
    is short: a list then waits until it can settle
    :attr:`BatchSettings.backlog_batch` uploads at once (at most
    :attr:`BatchSettings.backlog_wait_s`), while their slots take further POSTs. With
    fewer POSTs waiting (but some), a due list waits at most
    :attr:`BatchSettings.gather_wait_s` past the first upload's expected time, so that
    it finds the slightly slower ones done too. With none waiting (the last uploads of
    a run), it waits only for uploads in flight expected done within that time, so they
    share the list instead of costing a look each; a wait that would add none to the
    list is not made.
    """
    s = settings or BatchSettings()
    if not uploads:
        return Plan(list_call=None, polls=(), probes=(), next_look_at=None)
    earliest = min(u.due_at for u in uploads)
    if read_budget <= 0:
        return Plan(list_call=None, polls=(), probes=(),
                    next_look_at=max(earliest, next_quarter_hour(now)))
    listable = _listable(uploads, can_list=can_list, settings=s)
    listed = {u.upload_id for u in listable}
    due_single = [u for u in uploads if u.upload_id not in listed and u.due_at <= now]
    backlog = posts_waiting > read_budget
    # Missed by lists until its time was clearly up: only its own poll can tell more. In
    # a backlog the next list goes anyway: one missed once is looked for in it first.
    aged = [u for u in listable if u.polls >= (2 if backlog else 1)
            and now - u.posted_at >= clear_after(u.expected_s, s)]
    overdue = sorted((u for u in aged if u.due_at <= now), key=lambda u: u.posted_at)
    probes = overdue if probe_settled else overdue[:1]
    probed = {u.upload_id for u in probes}
    # One not due yet is left out of lists sent for others: each would count as a look
    # and push its own poll out again, for ever (an error is never listed).
    left_out = probed | {u.upload_id for u in aged if u.due_at > now}
    ripe = [u for u in listable if u.upload_id not in left_out
            and now >= min(u.due_at, u.posted_at + u.expected_s)]
    due_list = [u for u in ripe if u.due_at <= now]
    likely = [u for u in listable if u.upload_id not in left_out and u not in ripe
              and now - u.posted_at >= s.likely_share * u.expected_s]

    polls = [*probes]
    list_call: ListCall | None = None
    wait_until: float | None = None
    gather_until = _gather_until(
        listable, ripe, left_out, now=now, settings=s, backlog=backlog,
        queued=posts_waiting > 0) if due_list else None
    if gather_until is not None:
        wait_until = gather_until  # one list for more of the uploads in flight
    elif due_list and len(ripe) + len(likely) < 2:
        polls.extend(due_list)  # one upload to look at: its own poll tells it all
    elif due_list:
        gap = list_gap(now=now, read_budget=read_budget, settings=s)
        if last_list_at is not None and now < last_list_at + gap:
            wait_until = last_list_at + gap
        else:
            list_call = _list_call(ripe, settings=s)
    polls.extend(sorted(due_single, key=lambda u: u.due_at))

    budget = read_budget - (list_call is not None)
    sent = polls[:max(0, budget)]
    acted = {u.upload_id for u in sent} | set(list_call.covers if list_call else ())
    later = [u.due_at for u in uploads if u.upload_id not in acted and u.due_at > now]
    if wait_until is not None:
        later.append(wait_until)
    if len(sent) < len(polls):
        later.append(next_quarter_hour(now))
    return Plan(list_call=list_call, polls=tuple(u.upload_id for u in sent),
                probes=tuple(u.upload_id for u in sent if u.upload_id in probed),
                next_look_at=min(later) if later else None)


def _gather_until(
    listable: Sequence[InFlight], ripe: Sequence[InFlight], left_out: set[str], *,
    now: float, settings: BatchSettings, backlog: bool, queued: bool,
) -> float | None:
    """When to list, if not now, so that one list settles many uploads.

    A list goes once :attr:`BatchSettings.backlog_batch` uploads are ripe (their slots
    were handed to further POSTs meanwhile, :func:`waiting_for_list`), or once the
    first ripe one has waited :attr:`BatchSettings.backlog_wait_s` (outside a backlog,
    ``backlog`` False: :attr:`BatchSettings.gather_wait_s`, so that uploads a little
    slower than expected are done when the list goes, while the ripe uploads' slots take
    the POSTs waiting). With no POSTs waiting (``queued`` False) nothing is gained by
    waiting but the uploads that ripen meanwhile: the list waits only while one in
    flight will ripen before that deadline. Until then the plan is made again when the
    next upload in flight ripens (or after the shortest expected time, for uploads
    posted meanwhile).
    """
    if not ripe or len(ripe) >= settings.backlog_batch:
        return None
    ripe_ids = {u.upload_id for u in ripe}
    wait = settings.backlog_wait_s if backlog else settings.gather_wait_s
    deadline = min(u.posted_at + u.expected_s for u in ripe) + wait
    ripening = [min(u.due_at, u.posted_at + u.expected_s) for u in listable
                if u.upload_id not in left_out and u.upload_id not in ripe_ids]
    if not queued and not any(at <= deadline for at in ripening):
        return None  # the last uploads of a run: none more would share this list
    until = min([deadline, *ripening, now + min(u.expected_s for u in ripe)])
    return until if now < until else None


def waiting_for_list(
    uploads: Sequence[InFlight], *, can_list: bool, now: float, queued: bool,
    settings: BatchSettings | None = None,
) -> int:
    """How many uploads in flight hold no POST slot now (``upload.concurrency``).

    While POSTs wait (``queued``), a listable upload past its expected time waits only
    for the next list, which :func:`plan` holds back a little (in a backlog: until it
    can settle many): its slot goes to the next POST meanwhile, at most
    :attr:`BatchSettings.backlog_batch` of them. Otherwise every upload holds one.
    """
    s = settings or BatchSettings()
    if not queued:
        return 0
    listable = _listable(uploads, can_list=can_list, settings=s)
    ripe = [u for u in listable if now >= u.posted_at + u.expected_s]
    return min(len(ripe), s.backlog_batch)


def _list_call(covered: Sequence[InFlight], *, settings: BatchSettings) -> ListCall:
    starts = [u.start_time for u in covered if u.start_time is not None]
    return ListCall(
        after=math.floor(min(starts) - settings.margin_s),
        before=math.ceil(max(starts) + settings.margin_s),
        covers=tuple(u.upload_id for u in covered), per_page=settings.per_page,
        margin_s=settings.margin_s)


def settle(
    *, call: ListCall, summaries: Sequence[Mapping[str, object]], uploads: Sequence[InFlight]
) -> Settlement:
    """What one page of a list answer settles, and whether another page is needed.

    ``summaries``: the SummaryActivity objects of the answer, in order. A summary
    whose upload id is in flight settles that upload, covered or not.
    """
    in_flight = {u.upload_id: u for u in uploads}
    found: dict[str, int] = {}
    for summary in summaries:
        upload_id = _upload_id(summary)
        activity_id = summary.get("id")
        if (upload_id in in_flight and isinstance(activity_id, int)
                and not isinstance(activity_id, bool) and activity_id > 0):
            found[upload_id] = activity_id
    remaining = tuple(u for u in call.covers if u in in_flight and u not in found)
    full = len(summaries) >= call.per_page
    if full and remaining and not _passed(remaining, summaries, in_flight, call.margin_s):
        return Settlement(found=found, absent=(),
                          next_page=replace(call, page=call.page + 1, covers=remaining))
    return Settlement(found=found, absent=remaining, next_page=None)


def _upload_id(summary: Mapping[str, object]) -> str | None:
    text = summary.get("upload_id_str")
    if isinstance(text, str) and text.isdigit():
        return text
    number = summary.get("upload_id")
    if isinstance(number, int) and not isinstance(number, bool):
        return str(number)
    return None


def _passed(
    remaining: Sequence[str], summaries: Sequence[Mapping[str, object]],
    in_flight: Mapping[str, InFlight], margin_s: float,
) -> bool:
    """Whether the list, oldest first, is already past every remaining upload's start."""
    last = _start(summaries[-1]) if summaries else None
    if last is None:
        return False
    for upload_id in remaining:
        start = in_flight[upload_id].start_time
        if start is None or start + margin_s >= last:
            return False
    return True


def _start(summary: Mapping[str, object]) -> float | None:
    value = summary.get("start_date")
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo is not None else when.replace(tzinfo=UTC)).timestamp()
