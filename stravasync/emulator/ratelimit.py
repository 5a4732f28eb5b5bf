"""Strava's application rate limits: two windows, two budgets, lazily reset.

The 15-minute window resets at :00, :15, :30 and :45 (UTC, i.e. every 900 s of Unix
time), the daily one at midnight UTC. Every API request counts on "overall"; every
request that is not an upload POST also counts on "read". Requests refused with 429
count too, which is how requests over the short limit still use up the daily one.
Not thread-safe: the emulator state calls it under its lock.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from stravasync.emulator.config import Knobs, ServerUsage

QUARTER = 900
DAY = 86400

RequestKind = Literal["upload", "read"]


def next_quarter(now: float) -> float:
    """Unix time at which the current 15-minute window ends."""
    return (int(now) // QUARTER + 1) * QUARTER


def next_midnight(now: float) -> float:
    """Unix time at which the current UTC day ends."""
    return (int(now) // DAY + 1) * DAY


class RateCounter:
    """Usage in the current windows."""

    def __init__(self, *, usage: ServerUsage, now: float) -> None:
        self._usage = usage
        self._quarter = int(now) // QUARTER
        self._day = int(now) // DAY

    def _roll(self, now: float) -> None:
        quarter, day = int(now) // QUARTER, int(now) // DAY
        if day != self._day:
            self._usage = ServerUsage()
        elif quarter != self._quarter:
            self._usage = dataclasses.replace(self._usage, usage_15=0, read_usage_15=0)
        self._quarter, self._day = quarter, day

    def usage(self, now: float) -> ServerUsage:
        """Usage in the windows current at `now`."""
        self._roll(now)
        return self._usage

    def set_usage(self, *, now: float, **changes: int) -> ServerUsage:
        """Overwrite some counters (in the windows current at `now`)."""
        self._roll(now)
        self._usage = dataclasses.replace(self._usage, **changes)
        return self._usage

    def count(self, kind: RequestKind, *, now: float) -> ServerUsage:
        """Count one request of `kind`; return the usage including it."""
        self._roll(now)
        reads = 1 if kind == "read" else 0
        self._usage = ServerUsage(
            usage_15=self._usage.usage_15 + 1,
            usage_day=self._usage.usage_day + 1,
            read_usage_15=self._usage.read_usage_15 + reads,
            read_usage_day=self._usage.read_usage_day + reads,
        )
        return self._usage


def over_limit(usage: ServerUsage, knobs: Knobs, *, kind: RequestKind) -> bool:
    """Whether a request of `kind` that brought usage to `usage` is over a limit."""
    if usage.usage_15 > knobs.limit_15 or usage.usage_day > knobs.limit_day:
        return True
    if kind == "read":
        return usage.read_usage_15 > knobs.read_limit_15 or (
            usage.read_usage_day > knobs.read_limit_day
        )
    return False


def limit_headers(usage: ServerUsage, knobs: Knobs) -> list[tuple[str, str]]:
    """The four rate-limit headers every API response carries."""
    return [
        ("X-RateLimit-Limit", f"{knobs.limit_15},{knobs.limit_day}"),
        ("X-RateLimit-Usage", f"{usage.usage_15},{usage.usage_day}"),
        ("X-ReadRateLimit-Limit", f"{knobs.read_limit_15},{knobs.read_limit_day}"),
        ("X-ReadRateLimit-Usage", f"{usage.read_usage_15},{usage.read_usage_day}"),
    ]


def usage_snapshot(usage: ServerUsage, knobs: Knobs, *, now: float) -> dict[str, int | float]:
    """Usage and limits with the keys of SPEC's `rate_limit` object, plus window ends."""
    return {
        "limit_15": knobs.limit_15,
        "usage_15": usage.usage_15,
        "limit_day": knobs.limit_day,
        "usage_day": usage.usage_day,
        "read_limit_15": knobs.read_limit_15,
        "read_usage_15": usage.read_usage_15,
        "read_limit_day": knobs.read_limit_day,
        "read_usage_day": usage.read_usage_day,
        "window_15_ends_at": next_quarter(now),
        "window_day_ends_at": next_midnight(now),
    }
