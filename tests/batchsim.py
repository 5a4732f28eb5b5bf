"""A pure simulation of the poller using batch.plan/settle, for tests (no threads, no clock).

Models one transfer worker against a Strava whose uploads take a drawn processing time:
POSTs go one at a time (each takes ``post_s``) whenever the rate-limit windows admit
them with the batch's reserve kept back; looks follow :func:`stravasync.upload.batch.plan`;
list answers hold every activity (ours, settled or not, and the athlete's others)
whose start lies in the call's range, oldest first, paged; estimates are learned as
the transfer would learn them. Counts every call.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime

from stravasync.strava.governor import DEFAULT_LIMITS, Limits, Usage, decide_wait
from stravasync.upload.batch import (
    BatchSettings,
    InFlight,
    plan,
    reads_needed,
    relook_delay,
    settle,
)
from stravasync.upload.polling import Estimates, Pacing, first_poll_delay, next_poll_delay

DAY = 86400.0
T0 = 1_772_445_600.0  # 2026-03-02 10:00:00 UTC, a window boundary


@dataclass
class Upload:
    """One file's upload in the simulated world."""

    upload_id: str
    start_time: float
    processing_s: float
    outcome: str = "ready"  # or "error": never listed, learned by a poll
    posted_at: float | None = None
    polls: int = 0
    due_at: float = 0.0
    last_processing_s: float | None = None
    known_at: float | None = None


@dataclass
class Result:
    """What a simulated run cost and achieved."""

    posts: int = 0
    lists: int = 0
    polls: int = 0
    known: list[float] = field(default_factory=list)
    created: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    poller: list[float] = field(default_factory=list)
    over_limit: int = 0

    @property
    def latency_ratio(self) -> float:
        """Median POST-to-known time over that of a client polling every second."""
        return statistics.median(self.latencies) / statistics.median(self.poller)

    @property
    def calls_per_activity(self) -> float:
        """API calls per activity settled."""
        return (self.posts + self.lists + self.polls) / max(1, len(self.known))

    def created_in_window(self, index: int) -> int:
        """Activities Strava created in the ``index``-th 15-minute window from T0."""
        start = T0 + 900 * index
        return sum(1 for t in self.created if start <= t < start + 900)


def _start_date(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def simulate(
    *, files: int, processing: tuple[float, float], seed: int, can_list: bool = True,
    limits: Limits = DEFAULT_LIMITS, post_s: float = 0.5,
    start_spread_days: float = 30.0, others_per_day: float = 1.0, errors: float = 0.0,
    horizon_s: float = 7200.0, settings: BatchSettings | None = None,
) -> Result:
    """Run ``files`` uploads from an empty state, all queued at T0; return the counts."""
    rng = random.Random(seed)
    s = settings or BatchSettings()
    timing = Pacing()
    estimates = Estimates()
    size, data_type = 60_000, "fit"
    first_start = T0 - start_spread_days * DAY
    queue = [
        Upload(upload_id=str(9_000_000 + i),
               start_time=first_start + rng.random() * start_spread_days * DAY,
               processing_s=rng.uniform(*processing),
               outcome="error" if rng.random() < errors else "ready")
        for i in range(files)
    ]
    others = [first_start + rng.random() * start_spread_days * DAY
              for _ in range(int(others_per_day * start_spread_days))]
    in_flight: list[Upload] = []
    done: list[Upload] = []
    usage = Usage(at=T0)
    result = Result()
    now, next_post_at = T0, T0
    last_list_at: float | None = None
    probe_settled = False

    def count(*, read: bool) -> None:
        nonlocal usage
        usage = usage.as_of(now).plus(overall=1, read=1 if read else 0)
        usage = Usage(usage.usage_15, usage.usage_day, usage.read_usage_15,
                      usage.read_usage_day, at=now)
        if (usage.usage_15 > limits.limit_15 or usage.read_usage_15 > limits.read_limit_15
                or usage.usage_day > limits.limit_day
                or usage.read_usage_day > limits.read_limit_day):
            result.over_limit += 1  # Strava would have answered 429

    def reads_left() -> int:
        u = usage.as_of(now)
        return max(0, min(limits.limit_15 - u.usage_15, limits.limit_day - u.usage_day,
                          limits.read_limit_15 - u.read_usage_15,
                          limits.read_limit_day - u.read_usage_day))

    def expected() -> float:
        return estimates.for_file(data_type=data_type, size=size, timing=timing)

    def view() -> list[InFlight]:
        return [InFlight(upload_id=u.upload_id, posted_at=u.posted_at or now,
                         start_time=u.start_time, polls=u.polls, due_at=u.due_at,
                         expected_s=expected()) for u in in_flight]

    def finish(u: Upload) -> None:
        nonlocal estimates
        assert u.posted_at is not None
        elapsed = now - u.posted_at
        estimates = estimates.learned(
            data_type=data_type, size=size, done_at_first_poll=u.polls == 0,
            last_processing_s=u.last_processing_s, done_s=elapsed, timing=timing)
        u.known_at = now
        in_flight.remove(u)
        done.append(u)
        if u.outcome == "ready":
            result.known.append(now)
            result.latencies.append(elapsed)
            result.poller.append(math.ceil(u.processing_s))

    def still(u: Upload, *, listed: bool) -> None:
        assert u.posted_at is not None
        elapsed = now - u.posted_at
        u.polls += 1
        u.last_processing_s = elapsed
        if listed:
            delay, _ = relook_delay(elapsed=elapsed, polls=u.polls, expected_s=expected(),
                                    timing=timing, settings=s)
        else:
            delay, _ = next_poll_delay(elapsed=elapsed, polls=u.polls, estimate=expected(),
                                       timing=timing)
        u.due_at = now + delay

    def is_done(u: Upload) -> bool:
        return u.posted_at is not None and now >= u.posted_at + u.processing_s

    while (queue or in_flight) and now < T0 + horizon_s:
        # POST when due and the windows admit it with the batch's reserve kept back.
        if queue and now >= next_post_at:
            reserve = reads_needed(view(), can_list=can_list, settings=s) + 1
            wait = decide_wait(kind="upload", usage=usage.as_of(now), limits=limits, now=now,
                               reserve=reserve)
            if wait is None:
                u = queue.pop(0)
                count(read=False)
                result.posts += 1
                now += post_s
                u.posted_at = now
                u.due_at = now + first_poll_delay(expected(), timing)
                in_flight.append(u)
                if u.outcome == "ready":
                    result.created.append(u.posted_at + u.processing_s)
                next_post_at = now
                continue
            next_post_at = wait
        decision = plan(uploads=view(), can_list=can_list, read_budget=reads_left(), now=now,
                        last_list_at=last_list_at, probe_settled=probe_settled, settings=s)
        acted = False
        call = decision.list_call
        while call is not None and reads_left() > 0:
            acted = True
            count(read=True)
            result.lists += 1
            last_list_at = now
            ours = [(u.start_time, u) for u in [*in_flight, *done]
                    if u.outcome == "ready" and (is_done(u) or u.known_at is not None)]
            rows = sorted(
                [(t, {"id": 1, "upload_id": None, "start_date": _start_date(t)}) for t in others]
                + [(t, {"id": 7_000_000 + int(u.upload_id), "upload_id": int(u.upload_id),
                        "upload_id_str": u.upload_id, "start_date": _start_date(t)})
                   for t, u in ours],
                key=lambda row: row[0])
            rows = [r for t, r in rows if call.after < t < call.before]
            page = rows[(call.page - 1) * call.per_page: call.page * call.per_page]
            answer = settle(call=call, summaries=page, uploads=view())
            by_id = {u.upload_id: u for u in in_flight}
            for upload_id in answer.found:
                finish(by_id[upload_id])
            for upload_id in answer.absent:
                still(by_id[upload_id], listed=True)
            call = answer.next_page
        for upload_id in decision.polls:
            u = next((x for x in in_flight if x.upload_id == upload_id), None)
            if u is None:  # the list just settled it
                continue
            if reads_left() <= 0:
                break
            acted = True
            count(read=True)
            result.polls += 1
            assert u.posted_at is not None
            overdue = upload_id in decision.probes
            if is_done(u):
                finish(u)
                probe_settled = overdue
            else:
                if overdue or not can_list:
                    estimates = estimates.slower(data_type=data_type, size=size,
                                                 elapsed=now - u.posted_at, timing=timing)
                    probe_settled = False
                still(u, listed=False)
        if acted:
            continue
        times = [t for t in (decision.next_look_at,
                             next_post_at if queue else None) if t is not None and t > now]
        now = min(times) if times else now + 1.0
    return result
