"""Strava's rate-limit windows as values: limits, usage, headers, and "does one more call fit?".

Owns the pure arithmetic the governor (:mod:`stravasync.strava.governor`) is built on: the
window boundaries (15 minutes at :00/:15/:30/:45, and the UTC day), parsing the
``X-RateLimit-*``/``X-ReadRateLimit-*`` headers, judging announced limits absurd, and
:func:`decide_wait`. No state, no clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

__all__ = [
    "DAY",
    "DEFAULT_LIMITS",
    "QUARTER_HOUR",
    "Limits",
    "RateHeaders",
    "RequestKind",
    "Usage",
    "absurd_limits",
    "day_index",
    "decide_wait",
    "effective_limits",
    "next_quarter_hour",
    "next_utc_midnight",
    "parse_rate_headers",
    "quarter_index",
]

RequestKind = Literal["upload", "read"]

QUARTER_HOUR = 900
DAY = 86400


def next_quarter_hour(now: float) -> float:
    """Return the next :00/:15/:30/:45 UTC boundary strictly after ``now``."""
    return float((math.floor(now / QUARTER_HOUR) + 1) * QUARTER_HOUR)


def next_utc_midnight(now: float) -> float:
    """Return the next midnight UTC strictly after ``now``."""
    return float((math.floor(now / DAY) + 1) * DAY)


def quarter_index(now: float) -> int:
    """The number of the 15-minute window holding ``now``."""
    return math.floor(now / QUARTER_HOUR)


def day_index(now: float) -> int:
    """The number of the UTC day holding ``now``."""
    return math.floor(now / DAY)


@dataclass(frozen=True)
class Limits:
    """Strava's limits for one application, as last announced in the headers."""

    limit_15: int
    """Overall calls allowed per 15-minute window."""
    limit_day: int
    """Overall calls allowed per UTC day."""
    read_limit_15: int
    """Read (non-upload) calls allowed per 15-minute window."""
    read_limit_day: int
    """Read calls allowed per UTC day."""


#: Strava's documented defaults; used, minus a margin, until a response tells us better.
DEFAULT_LIMITS = Limits(limit_15=200, limit_day=2000, read_limit_15=100, read_limit_day=1000)
#: Fraction of each assumed limit we keep back while the real limits are unknown.
_UNKNOWN_MARGIN = 0.1


@dataclass(frozen=True)
class Usage:
    """Calls counted in the windows that contain ``at``."""

    usage_15: int = 0
    """Overall calls in the 15-minute window of ``at``."""
    usage_day: int = 0
    """Overall calls in the UTC day of ``at``."""
    read_usage_15: int = 0
    """Read calls in the 15-minute window of ``at``."""
    read_usage_day: int = 0
    """Read calls in the UTC day of ``at``."""
    at: float = 0.0
    """Unix time at which these counts were true."""

    def as_of(self, now: float) -> Usage:
        """Return these counts with every window that has passed since ``at`` reset to 0."""
        same_quarter = quarter_index(now) == quarter_index(self.at)
        same_day = day_index(now) == day_index(self.at)
        if same_quarter and same_day:
            return self
        return Usage(
            usage_15=self.usage_15 if same_quarter else 0,
            usage_day=self.usage_day if same_day else 0,
            read_usage_15=self.read_usage_15 if same_quarter else 0,
            read_usage_day=self.read_usage_day if same_day else 0,
            at=now,
        )

    def at_least(self, other: Usage, *, at: float) -> Usage:
        """The larger of these counts and ``other``'s (both of the windows of ``at``).

        Within one window Strava's counts only grow, so the answer to an earlier call,
        handled after a later one's (concurrent calls), must not lower what we know.
        """
        return Usage(
            usage_15=max(self.usage_15, other.usage_15),
            usage_day=max(self.usage_day, other.usage_day),
            read_usage_15=max(self.read_usage_15, other.read_usage_15),
            read_usage_day=max(self.read_usage_day, other.read_usage_day),
            at=at,
        )

    def plus(self, *, overall: int, read: int) -> Usage:
        """Return these counts with ``overall``/``read`` more calls in each window."""
        return replace(
            self,
            usage_15=self.usage_15 + overall,
            usage_day=self.usage_day + overall,
            read_usage_15=self.read_usage_15 + read,
            read_usage_day=self.read_usage_day + read,
        )


@dataclass(frozen=True)
class RateHeaders:
    """The four ``X-*RateLimit-*`` headers of one response, parsed."""

    limits: Limits
    """Limits announced by the response."""
    usage: Usage
    """Usage announced by the response (``at`` is 0: the caller stamps it)."""


def _pair(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != 2:
        return None
    try:
        first, second = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    if first < 0 or second < 0:
        return None
    return first, second


def parse_rate_headers(headers: Mapping[str, str]) -> RateHeaders | None:
    """Parse Strava's rate-limit headers; None if the overall ones are absent or garbled.

    Read headers are optional (older deployments did not send them): when absent, the
    read limits are taken as half the overall ones (Strava's defaults, 100/1,000 of
    200/2,000, have that ratio) and read usage to be unknown (0).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    limit = _pair(lowered.get("x-ratelimit-limit"))
    usage = _pair(lowered.get("x-ratelimit-usage"))
    if limit is None or usage is None:
        return None
    read_limit = _pair(lowered.get("x-readratelimit-limit")) or (limit[0] // 2, limit[1] // 2)
    read_usage = _pair(lowered.get("x-readratelimit-usage")) or (0, 0)
    return RateHeaders(
        limits=Limits(
            limit_15=limit[0], limit_day=limit[1],
            read_limit_15=read_limit[0], read_limit_day=read_limit[1],
        ),
        usage=Usage(
            usage_15=usage[0], usage_day=usage[1],
            read_usage_15=read_usage[0], read_usage_day=read_usage[1],
        ),
    )


def absurd_limits(
    limits: Limits, *, recorded: Usage | None = None, previous: Limits | None = None
) -> str | None:
    """Why announced ``limits`` make no sense (None when they do).

    A zero limit is never information. Nor is a limit that drops (below ``previous``,
    the last good limits) under ``recorded``, the usage already counted in the same
    window (``recorded`` must be as of the answer's time). A limit equal to or above
    its last good value is trusted even when usage exceeds it: calls over a limit are
    still counted, so usage 201 of 200 is normal after a 429.
    """
    pairs = (
        ("limit_15", limits.limit_15, "usage_15"),
        ("limit_day", limits.limit_day, "usage_day"),
        ("read_limit_15", limits.read_limit_15, "read_usage_15"),
        ("read_limit_day", limits.read_limit_day, "read_usage_day"),
    )
    for name, value, usage_name in pairs:
        if value <= 0:
            return f"{name} is {value}"
        if recorded is None:
            continue
        used = int(getattr(recorded, usage_name))
        before = None if previous is None else int(getattr(previous, name))
        if value < used and (before is None or value < before):
            return f"{name} {value} is below the {used} calls already counted"
    return None


def effective_limits(limits: Limits | None) -> Limits:
    """The limits to plan with: the announced ones, else the defaults minus a margin."""
    if limits is not None:
        return limits

    def cut(n: int) -> int:
        return max(1, math.floor(n * (1 - _UNKNOWN_MARGIN)))

    d = DEFAULT_LIMITS
    return Limits(
        limit_15=cut(d.limit_15), limit_day=cut(d.limit_day),
        read_limit_15=cut(d.read_limit_15), read_limit_day=cut(d.read_limit_day),
    )


def decide_wait(
    *, kind: RequestKind, usage: Usage, limits: Limits, now: float, reserve: int = 0
) -> float | None:
    """Return None if one more ``kind`` call fits now, else the time before which not to send.

    ``usage`` must already be as of ``now`` (see :meth:`Usage.as_of`). ``reserve`` is a
    number of read calls (polls) that must stay available after this call; it is capped
    so that an empty window always admits a call.
    """
    read_cost = 1 if kind == "read" else 0
    quarter, midnight = next_quarter_hour(now), next_utc_midnight(now)
    checks = (
        (usage.usage_15, 1, limits.limit_15, quarter),
        (usage.read_usage_15, read_cost, limits.read_limit_15, quarter),
        (usage.usage_day, 1, limits.limit_day, midnight),
        (usage.read_usage_day, read_cost, limits.read_limit_day, midnight),
    )
    waits = []
    for used, cost, limit, boundary in checks:
        # Reserved polls count on every window (they are reads), capped so that an
        # empty window always admits one call.
        keep = max(0, min(reserve, limit - cost))
        if used + cost + keep > limit:
            waits.append(boundary)
    return max(waits) if waits else None
