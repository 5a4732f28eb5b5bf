"""The rate-limit governor: may this call be sent now, and if not, when?

Owns what we know of Strava's per-application limits (two windows, 15 minutes and
the UTC day, each for "overall" and "read" calls), the pauses after a 429 or a dead
end, and their persistence in ``state_dir/ratelimit.json`` so a restart does not burst.

Decisions are pure functions of usage and ``now`` (:func:`decide_wait` and the window
arithmetic live in :mod:`stravasync.strava.ratewindows`, re-exported here); the
:class:`Governor` wraps them with thread-safe state. Nothing here sleeps: a caller
that is told "not before T" reschedules itself.

Counting rules (Strava's): ``POST /uploads`` counts on the overall limits only;
every other call, ``GET /uploads/{id}`` polls and ``GET /athlete/activities`` lists
included, counts on both overall and read limits. A request over the 15-minute limit
still counts on the daily one.

Headers are distrusted when they make no sense (see :func:`absurd_limits`): a zero
limit, or one that drops below the usage already counted in its window, is logged
once per window at warning level and ignored; the last good limits (or Strava's
defaults) stay in force, so one bad answer never stops uploads beyond a quarter-hour.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

from stravasync.fsutil import atomic_write
from stravasync.logs import get_logger
from stravasync.strava.ratewindows import (
    DEFAULT_LIMITS,
    QUARTER_HOUR,
    Limits,
    RateHeaders,
    RequestKind,
    Usage,
    absurd_limits,
    decide_wait,
    effective_limits,
    next_quarter_hour,
    next_utc_midnight,
    parse_rate_headers,
    quarter_index,
)

__all__ = [
    "DEFAULT_LIMITS",
    "QUARTER_HOUR",
    "Governor",
    "Limits",
    "Pause",
    "RateHeaders",
    "RequestKind",
    "Usage",
    "absurd_limits",
    "decide_wait",
    "effective_limits",
    "next_quarter_hour",
    "next_utc_midnight",
    "parse_rate_headers",
]

log = get_logger(__name__)

_STATE_VERSION = 1
#: How long further calls wait while the first call of a window learns the real usage.
PROBE_WAIT_S = 0.5


@dataclass(frozen=True)
class Pause:
    """A stop on calls, from a 429 or a dead end."""

    until: float
    """Unix time before which no call in scope may be sent."""
    scope: Literal["all", "read"]
    """``all`` stops every call; ``read`` stops reads (polls) only."""
    reason: str
    """Why, for ``status`` and logs: ``rate_limit_15``, ``rate_limit_day``, ``app_inactive`` ..."""


@dataclass
class _State:
    limits: Limits | None = None
    usage: Usage = field(default_factory=Usage)
    pauses: list[Pause] = field(default_factory=list)
    held: Pause | None = None
    """Uploads held back by the engine: a window's budget is spent once reads are kept."""


def _state_to_json(state: _State) -> bytes:
    data = {
        "version": _STATE_VERSION,
        "limits": asdict(state.limits) if state.limits else None,
        "usage": asdict(state.usage),
        "pauses": [asdict(p) for p in state.pauses],
        "held": asdict(state.held) if state.held is not None else None,
    }
    return json.dumps(data, indent=1, sort_keys=True).encode()


def _state_from_json(raw: bytes) -> _State:
    data = json.loads(raw)
    if not isinstance(data, dict) or data.get("version") != _STATE_VERSION:
        raise ValueError("unknown rate-limit state version")
    limits = Limits(**data["limits"]) if data.get("limits") else None
    usage = Usage(**data.get("usage") or {})
    pauses = [Pause(**p) for p in data.get("pauses") or []]
    held = Pause(**data["held"]) if data.get("held") else None
    return _State(limits=limits, usage=usage, pauses=pauses, held=held)


class Governor:
    """Thread-safe keeper of rate-limit knowledge; answers "go" or "not before T".

    The API client calls :meth:`acquire` before each request (which counts it as in
    flight), then :meth:`complete` with the response headers (or None when no response
    came). :meth:`decide` is the same question without counting, for schedulers.
    """

    def __init__(
        self, *, state_file: Path | None, clock: Callable[[], float] = time.time
    ) -> None:
        self._state_file = state_file
        self._clock = clock
        self._lock = threading.Lock()
        self._state = self._load()
        # Calls sent but not yet reflected in announced usage (counted conservatively).
        self._pending_overall = 0
        self._pending_read = 0
        self._pending_quarter = quarter_index(clock())
        self._in_flight = 0
        # Quarter-hour in which Strava's headers last told us the real usage; until
        # they do in the current one, a single call at a time goes out (the probe).
        self._observed_quarter: int | None = None
        # Quarter-hour in which an absurd header was last warned about (once per window).
        self._ignored_quarter: int | None = None

    # -- persistence -------------------------------------------------------------

    def _load(self) -> _State:
        if self._state_file is None:
            return _State()
        try:
            state = _state_from_json(self._state_file.read_bytes())
        except FileNotFoundError:
            return _State()
        except (OSError, ValueError, TypeError, KeyError) as exc:
            # A damaged state file costs us only caution: start as if nothing is known.
            log.warning("ratelimit_state_unreadable", path=str(self._state_file),
                        error=str(exc))
            return _State()
        problem = absurd_limits(state.limits) if state.limits is not None else None
        if problem is not None:
            # Written by an older version that trusted any header: forget the limits,
            # and any rate-limit pause they may have stretched past the quarter-hour.
            now = self._clock()
            quarter = next_quarter_hour(now)
            log.warning("ratelimit_state_limits_discarded", path=str(self._state_file),
                        reason=problem)
            state.limits = None
            state.pauses = [
                replace(p, until=min(p.until, quarter)) if p.reason.startswith("rate_limit")
                else p
                for p in state.pauses
            ]
        return state

    def _save(self) -> None:
        if self._state_file is None:
            return
        try:
            atomic_write(self._state_file, _state_to_json(self._state))
        except OSError as exc:
            log.warning("ratelimit_state_not_saved", path=str(self._state_file),
                        error=str(exc))

    # -- estimates -----------------------------------------------------------------

    def _usage_now(self, now: float) -> Usage:
        usage = self._state.usage.as_of(now)
        if quarter_index(now) != self._pending_quarter:
            # Pending counts from a passed window: keep only what daily usage needs.
            self._pending_quarter = quarter_index(now)
            if self._in_flight == 0:
                self._pending_overall = self._pending_read = 0
        return usage.plus(overall=self._pending_overall, read=self._pending_read)

    def active_pause(self, kind: RequestKind, *, now: float | None = None) -> Pause | None:
        """The pause that stops a ``kind`` call now (the longest), if any."""
        with self._lock:
            return self._active_pause(kind, self._now(now))

    def _active_pause(self, kind: RequestKind, now: float) -> Pause | None:
        live = [p for p in self._state.pauses if p.until > now
                and (p.scope == "all" or kind == "read")]
        return max(live, key=lambda p: p.until) if live else None

    # -- decisions -------------------------------------------------------------------

    def decide(
        self, kind: RequestKind, *, now: float | None = None, reserve: int = 0
    ) -> float | None:
        """None if a ``kind`` call may go now, else the Unix time before which not to send."""
        with self._lock:
            return self._decide(kind, self._now(now), reserve)

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else now

    def _decide(self, kind: RequestKind, now: float, reserve: int) -> float | None:
        paused = self._paused_until(kind, now, reserve)
        if paused is not None:
            return paused
        if self._in_flight and self._observed_quarter != quarter_index(now):
            # Other clients of the app may have used this window already: learn the
            # real usage from one answer before sending a burst.
            return now + PROBE_WAIT_S
        return None

    def paused_until(
        self, kind: RequestKind = "upload", *, now: float | None = None, reserve: int = 0
    ) -> float | None:
        """The time before which no ``kind`` call will be sent, None when one may go now.

        A pause is a window whose budget is spent (``reserve`` reads kept back, as in
        :meth:`decide`) or a 429 / dead end; the short wait while the first call of a
        window learns the real usage is not one.
        """
        with self._lock:
            return self._paused_until(kind, self._now(now), reserve)

    def _paused_until(self, kind: RequestKind, now: float, reserve: int) -> float | None:
        pause = self._active_pause(kind, now)
        wait = decide_wait(
            kind=kind, usage=self._usage_now(now),
            limits=effective_limits(self._state.limits), now=now, reserve=reserve,
        )
        candidates = [t for t in (wait, pause.until if pause else None) if t is not None]
        return max(candidates) if candidates else None

    def reads_left(self, *, now: float | None = None) -> int:
        """How many more read calls (polls, lists) fit in every window now (0 when paused)."""
        with self._lock:
            at = self._now(now)
            if self._active_pause("read", at) is not None:
                return 0
            limits = effective_limits(self._state.limits)
            usage = self._usage_now(at)
            return max(0, min(
                limits.limit_15 - usage.usage_15,
                limits.limit_day - usage.usage_day,
                limits.read_limit_15 - usage.read_usage_15,
                limits.read_limit_day - usage.read_usage_day,
            ))

    def acquire(
        self, kind: RequestKind, *, now: float | None = None, reserve: int = 0
    ) -> float | None:
        """Like :meth:`decide`, and when the answer is "go", count the call as in flight."""
        with self._lock:
            at = self._now(now)
            wait = self._decide(kind, at, reserve)
            if wait is None:
                self._usage_now(at)  # roll pending counts into the current window
                if kind == "upload" and self._state.held is not None:
                    self._state.held = None  # uploads go again
                    self._save()
                self._in_flight += 1
                self._pending_overall += 1
                self._pending_read += 1 if kind == "read" else 0
            return wait

    def complete(
        self, headers: Mapping[str, str] | None, *, now: float | None = None
    ) -> None:
        """Close a call opened by :meth:`acquire`, learning from its headers if any."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            if headers is not None and self._observe(headers, self._now(now)):
                self._save()

    def hold_uploads(self, *, until: float, reserve: int, now: float | None = None) -> None:
        """The engine sends no upload before ``until`` (:meth:`decide` with ``reserve``).

        When that is a spent budget (:meth:`paused_until` with ``reserve`` reads kept
        for the uploads in flight; not the probe's short wait), it is kept (and saved)
        so that ``status`` shows it as ``paused_until`` even where the window alone
        would not say so, and logged at once (``uploads_paused``), once per hold.
        """
        with self._lock:
            at = self._now(now)
            if self._paused_until("upload", at, reserve) is None:
                return  # the probe's wait: routine, and over in a second or two
            held = self._state.held
            if held is not None and held.until == until:
                return
            reason = "rate_limit_day" if until >= next_utc_midnight(at) else "rate_limit_15"
            self._state.held = Pause(until=until, scope="all", reason=reason)
            usage = self._usage_now(at)
            limits = effective_limits(self._state.limits)
            self._save()
        log.info("uploads_paused", until=until, reason=reason, reserve=reserve,
                 usage_15=usage.usage_15, limit_15=limits.limit_15,
                 usage_day=usage.usage_day, limit_day=limits.limit_day)

    def observe(self, headers: Mapping[str, str], *, now: float | None = None) -> None:
        """Learn limits and usage from one response's headers (ignored if absent)."""
        with self._lock:
            if self._observe(headers, self._now(now)):
                self._save()

    def _observe(self, headers: Mapping[str, str], now: float) -> bool:
        parsed = parse_rate_headers(headers)
        if parsed is None:
            return False
        recorded = self._state.usage.as_of(now)
        problem = absurd_limits(parsed.limits, recorded=recorded, previous=self._state.limits)
        usage = parsed.usage
        if problem is None:
            self._state.limits = parsed.limits
        else:
            self._distrust(problem, parsed.limits, now)
            # Only the quarter-hour's counts are taken from such an answer: at worst they
            # hold calls back until the next quarter-hour, never until midnight.
            usage = Usage(usage_15=usage.usage_15, read_usage_15=usage.read_usage_15)
        self._state.usage = usage.at_least(recorded, at=now)
        # The server has counted everything it has answered; still-open calls may be
        # uncounted, so they stay in the estimate.
        self._pending_overall = min(self._pending_overall, self._in_flight)
        self._pending_read = min(self._pending_read, self._in_flight)
        self._pending_quarter = quarter_index(now)
        self._observed_quarter = quarter_index(now)
        return True

    def _distrust(self, problem: str, limits: Limits, now: float) -> None:
        quarter = quarter_index(now)
        if self._ignored_quarter == quarter:
            return
        self._ignored_quarter = quarter
        kept = self._state.limits
        log.warning(
            "rate_limit_header_ignored", reason=problem,
            limit=f"{limits.limit_15},{limits.limit_day}",
            read_limit=f"{limits.read_limit_15},{limits.read_limit_day}",
            kept="defaults" if kept is None else f"{kept.limit_15},{kept.limit_day}",
        )

    def observe_429(
        self, *, kind: RequestKind | None = None, now: float | None = None
    ) -> float:
        """Record a 429 and return the time until which calls are paused.

        Call :meth:`observe`/:meth:`complete` with the 429's headers first: which window
        ran out, and so how long to pause, is decided from the last known usage. Without
        any, the pause lasts until the next quarter-hour.
        """
        with self._lock:
            at = self._now(now)
            limits = self._state.limits
            usage = self._state.usage.as_of(at)
            scope: Literal["all", "read"] = "all"
            until, reason = next_quarter_hour(at), "rate_limit_15"
            if limits is not None:
                overall_day = usage.usage_day >= limits.limit_day
                overall_hit = overall_day or usage.usage_15 >= limits.limit_15
                read_day = usage.read_usage_day >= limits.read_limit_day
                read_hit = read_day or usage.read_usage_15 >= limits.read_limit_15
                if read_hit and not overall_hit and kind != "upload":
                    scope = "read"
                if (overall_day if scope == "all" else read_day):
                    until, reason = next_utc_midnight(at), "rate_limit_day"
            self._add_pause(Pause(until=until, scope=scope, reason=reason), at)
            log.warning("rate_limited", until=until, scope=scope, reason=reason)
            return until

    def pause(self, *, until: float, reason: str, now: float | None = None) -> None:
        """Stop every call until ``until`` (dead ends: inactive app, athlete cap)."""
        with self._lock:
            self._add_pause(Pause(until=until, scope="all", reason=reason), self._now(now))

    def clear_pauses(self, *, reasons: Collection[str] | None = None) -> None:
        """Forget pauses (all, or those with one of ``reasons``) once a person fixed the cause."""
        with self._lock:
            before = len(self._state.pauses)
            self._state.pauses = [
                p for p in self._state.pauses if reasons is not None and p.reason not in reasons
            ]
            if len(self._state.pauses) != before:
                self._save()

    def _add_pause(self, pause: Pause, now: float) -> None:
        kept = [p for p in self._state.pauses if p.until > now and p.scope != pause.scope]
        same = [p for p in self._state.pauses if p.until > now and p.scope == pause.scope]
        longest = max([*same, pause], key=lambda p: p.until)
        self._state.pauses = [*kept, longest]
        self._save()

    # -- reporting ---------------------------------------------------------------------

    def snapshot(self, *, now: float | None = None) -> dict[str, int | float | str | None]:
        """SPEC's ``status --json`` ``rate_limit`` object (plus two keys for humans).

        ``paused_until`` is :meth:`paused_until` for uploads: a spent window or a 429,
        None when uploads may go now. ``read_paused_until`` is the same for polls and
        lists (it is never earlier); ``pause_reason`` says why reads (so perhaps uploads)
        wait: ``rate_limit_15``, ``rate_limit_day``, or a dead end's reason.
        """
        with self._lock:
            at = self._now(now)
            limits = self._state.limits or DEFAULT_LIMITS
            usage = self._usage_now(at)
            paused_until = self._paused_until("upload", at, 0)
            held = self._state.held if (
                self._state.held is not None and self._state.held.until > at) else None
            if held is not None and held.until > (paused_until or 0.0):
                paused_until = held.until  # the engine keeps reads for uploads in flight
            read_paused_until = self._paused_until("read", at, 0)
            pause = self._active_pause("read", at)
            if pause is not None and pause.until == read_paused_until:
                reason: str | None = pause.reason
            elif read_paused_until is None:
                reason = None
            elif read_paused_until >= next_utc_midnight(at):
                reason = "rate_limit_day"
            else:
                reason = "rate_limit_15"
            if reason is None and held is not None:
                reason = held.reason
            return {
                "limit_15": limits.limit_15,
                "usage_15": usage.usage_15,
                "limit_day": limits.limit_day,
                "usage_day": usage.usage_day,
                "read_limit_15": limits.read_limit_15,
                "read_usage_15": usage.read_usage_15,
                "read_limit_day": limits.read_limit_day,
                "read_usage_day": usage.read_usage_day,
                "paused_until": paused_until,
                "read_paused_until": read_paused_until,
                "pause_reason": reason,
            }
