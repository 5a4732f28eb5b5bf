"""When to look at an upload again, and how long to back off: pure timing decisions.

Owns the engine's timing policy, as functions of the facts (elapsed time, polls so
far, failures, the learned processing time) that return delays; the engine acts on
them. Nothing here sleeps or reads a clock.

Polling is built to spend few calls. The first poll goes out after the *expected*
processing time, a running estimate of a high quantile of how long Strava takes,
learned from every upload followed to its end (and kept in the state store). An
upload found done at its first poll nudges the estimate down a little; one still
processing pushes it up to about when it finished. Later polls come at growing
intervals (never under one second). After a few minutes of "still processing" an
upload is parked: looked at after ten minutes, then after about as long again as it
has taken so far, up to an hour between looks.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = [
    "Timing",
    "backoff_delay",
    "first_poll_delay",
    "learn_processing_time",
    "next_poll_delay",
]


@dataclass(frozen=True)
class Timing:
    """The engine's tunable times, in seconds (defaults suit the real Strava)."""

    min_poll_s: float = 1.0
    """Never poll one upload more often than this (Strava's own advice)."""
    initial_estimate_s: float = 3.0
    """Expected processing time before anything was learned."""
    min_estimate_s: float = 1.0
    """The learned estimate never drops below this."""
    max_estimate_s: float = 30.0
    """Nor rises above this (slow outliers are parked, not learned from)."""
    poll_growth: float = 1.6
    """Each later poll interval is this much longer than the one before."""
    park_after_s: float = 180.0
    """An upload still processing this long after its POST is parked."""
    park_first_s: float = 600.0
    """First look at a parked upload comes this long after parking."""
    park_cap_s: float = 3600.0
    """Longest interval between looks at a parked upload."""
    backoff_base_s: float = 5.0
    """Delay after the first transient failure (doubling per failure, jittered)."""
    backoff_cap_s: float = 900.0
    """Longest backoff: about fifteen minutes."""
    short_wait_s: float = 30.0
    """``wait_idle`` waits for work due within this; later work is "deferred"."""
    recheck_s: float = 15.0
    """The engine re-reads the store at least this often (other processes, ``retry``)."""


def first_poll_delay(estimate: float, timing: Timing) -> float:
    """Seconds from the POST's answer to the first poll."""
    return max(timing.min_poll_s, estimate)


def next_poll_delay(
    *, elapsed: float, polls: int, estimate: float, timing: Timing
) -> tuple[float, bool]:
    """Seconds until the next poll of an upload still processing, and whether it is parked.

    ``elapsed`` = seconds since the POST's answer; ``polls`` = polls so far (all of
    which found it processing).
    """
    if elapsed >= timing.park_after_s:
        return min(timing.park_cap_s, max(timing.park_first_s, elapsed)), True
    step = 0.5 * estimate * timing.poll_growth ** max(0, polls - 1)
    delay = max(timing.min_poll_s, step)
    if elapsed + delay > timing.park_after_s:
        delay = max(timing.min_poll_s, timing.park_after_s - elapsed)
    return delay, False


def learn_processing_time(
    estimate: float, *, done_at_first_poll: bool, last_processing_s: float | None,
    done_s: float, timing: Timing,
) -> float:
    """The new expected processing time after following one upload to its end.

    ``last_processing_s``/``done_s``: seconds after the POST of the last poll that saw
    it processing and of the poll that saw it done.
    """
    if done_at_first_poll:
        if done_s > 2 * estimate:
            return estimate  # a late first poll (restart, rate limit) says little
        new = estimate * 0.95
    else:
        low = last_processing_s if last_processing_s is not None else 0.0
        middle = (low + done_s) / 2
        new = min(max(estimate * 1.3, middle), estimate * 2.5)
    return min(timing.max_estimate_s, max(timing.min_estimate_s, new))


def backoff_delay(failures: int, timing: Timing, rng: random.Random | None = None) -> float:
    """Seconds to wait after ``failures`` consecutive transient failures (jittered).

    Doubles from ``backoff_base_s`` up to ``backoff_cap_s``; the jitter keeps the
    delay within [half, all] of that, so it never collapses into a tight loop.
    """
    draw = rng.random() if rng is not None else random.random()  # noqa: S311 - jitter
    ceiling = min(timing.backoff_cap_s, timing.backoff_base_s * 2.0 ** max(0, failures - 1))
    return max(timing.min_poll_s, ceiling * (0.5 + 0.5 * draw))
