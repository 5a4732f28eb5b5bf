"""When to look at an upload again, and how long to back off: pure timing decisions.

Owns the engine's timing policy, as functions of the facts (elapsed time, polls so
far, failures, the learned processing time) that return delays; the engine acts on
them. :func:`next_attempt_at` says when a waiting file is tried next (``status`` and
``upload`` print it). Nothing here sleeps or reads a clock.

Polling is built to spend few calls. The first poll goes out after the *expected*
processing time, a running estimate of a high quantile of how long Strava takes,
learned from every upload followed to its end (and kept in the state store). An
upload found done at its first poll nudges the estimate down a little; one still
processing pushes it up to about when it finished. Later polls come at growing
intervals (never under one second). After a few minutes of "still processing" an
upload is parked: looked at after ten minutes, then after about as long again as it
has taken so far, up to an hour between looks.

What is learned is kept per format and size band (:class:`Estimates`, a small value
serialised to one string for the store's meta table), so a large GPX does not teach
the first poll of a small FIT. Before anything is learned for a kind of file, its
first poll waits for :func:`prior_estimate`, chosen from the file's format and size.
An upload still processing well past its estimate raises the estimate at once
(:func:`learn_still_processing`), so a slow day is followed within a few uploads.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "ESTIMATES_KEY",
    "LEGACY_ESTIMATE_KEY",
    "Estimates",
    "Pacing",
    "backoff_delay",
    "estimate_key",
    "first_poll_delay",
    "learn_processing_time",
    "learn_still_processing",
    "load_estimates",
    "next_attempt_at",
    "next_poll_delay",
    "prior_estimate",
    "save_estimates",
    "size_band",
]

#: The store meta key under which :class:`Estimates` are kept.
ESTIMATES_KEY = "processing_estimates"
#: The meta key of version 0.1's single estimate (read once, as the overall estimate).
LEGACY_ESTIMATE_KEY = "processing_estimate_s"


@dataclass(frozen=True)
class Pacing:
    """How the engine paces its calls: poll, park and backoff times (s); defaults suit Strava."""

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
    size_s_per_mb: float = 0.5
    """Before anything is learned: extra expected processing per MB of workout data."""
    xml_factor: float = 1.2
    """Before anything is learned: GPX/TCX take this much longer than FIT (text to parse)."""


def first_poll_delay(estimate: float, timing: Pacing) -> float:
    """Seconds from the POST's answer to the first poll."""
    return max(timing.min_poll_s, estimate)


def next_poll_delay(
    *, elapsed: float, polls: int, estimate: float, timing: Pacing
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
    done_s: float, timing: Pacing,
) -> float:
    """The new expected processing time after following one upload to its end.

    ``last_processing_s``/``done_s``: seconds after the POST of the last poll that saw
    it processing and of the poll that saw it done.
    """
    if done_at_first_poll:
        if done_s > 2 * estimate:
            return estimate  # a late first poll (restart, rate limit) says little
        new = estimate * 0.95
    elif estimate >= done_s:
        # The look that found it processing already raised the estimate past the time
        # it took (:func:`learn_still_processing`): raising it again would count one slow
        # upload twice, and a list that missed several uploads once per upload.
        return estimate
    else:
        low = last_processing_s if last_processing_s is not None else 0.0
        middle = (low + done_s) / 2
        new = min(max(estimate * 1.3, middle), estimate * 2.5)
    return min(timing.max_estimate_s, max(timing.min_estimate_s, new))


def next_attempt_at(planned: float | None, *, paused_until: float | None, now: float) -> float:
    """When a waiting file is tried next: its own planned time, the end of the rate-limit
    pause that holds it, or now, whichever is latest (never in the past, as SPEC says)."""
    return max(planned or 0.0, paused_until or 0.0, now)


def backoff_delay(failures: int, timing: Pacing, rng: random.Random | None = None) -> float:
    """Seconds to wait after ``failures`` consecutive transient failures (jittered).

    Doubles from ``backoff_base_s`` up to ``backoff_cap_s``; the jitter keeps the
    delay within [half, all] of that, so it never collapses into a tight loop.
    """
    draw = rng.random() if rng is not None else random.random()  # noqa: S311 - jitter
    ceiling = min(timing.backoff_cap_s, timing.backoff_base_s * 2.0 ** max(0, failures - 1))
    return max(timing.min_poll_s, ceiling * (0.5 + 0.5 * draw))


#: Upper bounds (bytes of workout data, before gzip) of the size bands, smallest first.
_BANDS = ((100_000, "s"), (1_000_000, "m"), (10_000_000, "l"))
_FORMATS = ("fit", "gpx", "tcx")
_VERSION = 1


def size_band(size: int) -> str:
    """The size band of ``size`` bytes: ``s`` (<100 kB), ``m`` (<1 MB), ``l`` (<10 MB), ``xl``."""
    for bound, name in _BANDS:
        if size < bound:
            return name
    return "xl"


def _format(data_type: str) -> str:
    base = data_type.lower().removesuffix(".gz")
    return base if base in _FORMATS else "other"


def estimate_key(*, data_type: str, size: int) -> str:
    """Which learned estimate a file uses: its format (``.gz`` or not) and size band."""
    return f"{_format(data_type)}:{size_band(size)}"


def _clamp(value: float, timing: Pacing) -> float:
    return min(timing.max_estimate_s, max(timing.min_estimate_s, value))


def prior_estimate(*, data_type: str, size: int, timing: Pacing) -> float:
    """Expected processing time of a file before anything is learned for its kind.

    ``size`` = bytes of the workout data before gzip (Strava processes it unzipped).
    FIT is binary and compact; GPX and TCX are text, so they take ``xml_factor``
    longer; and every MB adds ``size_s_per_mb``.
    """
    factor = 1.0 if _format(data_type) == "fit" else timing.xml_factor
    value = timing.initial_estimate_s * factor + timing.size_s_per_mb * size / 1_000_000
    return _clamp(value, timing)


def learn_still_processing(estimate: float, *, elapsed: float, timing: Pacing) -> float:
    """The estimate after a look found an upload still processing ``elapsed`` s after its POST.

    A look before the estimate says nothing new. One after it says this day is slower
    than thought: the estimate rises to past ``elapsed`` (at most 2.5 times at once),
    so the first polls of uploads still in flight move out before they are spent.
    """
    if elapsed <= estimate:
        return estimate
    return _clamp(min(elapsed * 1.25, estimate * 2.5), timing)


def _ratio(*, data_type: str, size: int, timing: Pacing) -> float:
    """How much longer than the reference (a small FIT) this kind of file is expected to take."""
    reference = prior_estimate(data_type="fit", size=0, timing=timing)
    return prior_estimate(data_type=data_type, size=size, timing=timing) / reference


@dataclass(frozen=True)
class Estimates:
    """Learned expected processing times: per kind of file, and Strava's pace overall.

    ``overall`` is in units of the reference file (a small FIT): each upload teaches it
    its time divided by its kind's prior ratio, and a kind never seen uses it times
    that ratio. Kept in the store's meta table as :meth:`dumps` text.
    """

    overall: float | None = None
    """Learned estimate for a small FIT, from every upload; None before any."""
    by_key: dict[str, float] = field(default_factory=dict)
    """Learned estimate per :func:`estimate_key` (seconds); never mutated."""

    def for_file(self, *, data_type: str, size: int, timing: Pacing) -> float:
        """The expected processing time (seconds) of a file of this format and size."""
        learned = self.by_key.get(estimate_key(data_type=data_type, size=size))
        if learned is not None:
            return learned
        if self.overall is not None:
            return _clamp(self.overall * _ratio(data_type=data_type, size=size, timing=timing),
                          timing)
        return prior_estimate(data_type=data_type, size=size, timing=timing)

    def learned(
        self, *, data_type: str, size: int, done_at_first_poll: bool,
        last_processing_s: float | None, done_s: float, timing: Pacing,
    ) -> Estimates:
        """These estimates after following one upload to its end (:func:`learn_processing_time`)."""
        key = estimate_key(data_type=data_type, size=size)
        ratio = _ratio(data_type=data_type, size=size, timing=timing)
        own = learn_processing_time(
            self.for_file(data_type=data_type, size=size, timing=timing),
            done_at_first_poll=done_at_first_poll, last_processing_s=last_processing_s,
            done_s=done_s, timing=timing)
        overall = learn_processing_time(
            self.overall if self.overall is not None else timing.initial_estimate_s,
            done_at_first_poll=done_at_first_poll,
            last_processing_s=None if last_processing_s is None else last_processing_s / ratio,
            done_s=done_s / ratio, timing=timing)
        return Estimates(overall=overall, by_key={**self.by_key, key: own})

    def slower(self, *, data_type: str, size: int, elapsed: float, timing: Pacing) -> Estimates:
        """These estimates after a look found an upload still processing at ``elapsed`` s."""
        current = self.for_file(data_type=data_type, size=size, timing=timing)
        raised = learn_still_processing(current, elapsed=elapsed, timing=timing)
        if raised == current:
            return self
        ratio = _ratio(data_type=data_type, size=size, timing=timing)
        overall = self.overall if self.overall is not None else timing.initial_estimate_s
        key = estimate_key(data_type=data_type, size=size)
        return Estimates(
            overall=learn_still_processing(overall, elapsed=elapsed / ratio, timing=timing),
            by_key={**self.by_key, key: raised})

    def dumps(self) -> str:
        """One line of JSON for the store's meta table."""
        return json.dumps({"v": _VERSION, "overall": self.overall,
                           "keys": {k: round(v, 3) for k, v in sorted(self.by_key.items())}},
                          separators=(",", ":"))

    @classmethod
    def loads(cls, raw: str | None, *, timing: Pacing) -> Estimates:
        """Estimates from :meth:`dumps` text (or 0.1's single number); empty if unreadable."""
        if raw is None:
            return cls()
        try:
            data = json.loads(raw)
        except ValueError:
            return cls()
        if isinstance(data, int | float) and not isinstance(data, bool):
            return cls(overall=_sane(data, timing))
        if not isinstance(data, dict) or data.get("v") != _VERSION:
            return cls()
        keys = data.get("keys")
        by_key = {
            str(k): v for k, v in ((k, _sane(v, timing)) for k, v in
                                   (keys.items() if isinstance(keys, dict) else ()))
            if v is not None
        }
        return cls(overall=_sane(data.get("overall"), timing), by_key=by_key)


def _sane(value: object, timing: Pacing) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value):
        return None
    return _clamp(float(value), timing)


def load_estimates(get_meta: Callable[[str], str | None], *, timing: Pacing) -> Estimates:
    """The estimates kept in the store (``Store.get_meta``), or 0.1's single one, or none."""
    raw = get_meta(ESTIMATES_KEY)
    if raw is not None:
        return Estimates.loads(raw, timing=timing)
    return Estimates.loads(get_meta(LEGACY_ESTIMATE_KEY), timing=timing)


def save_estimates(set_meta: Callable[[str, str], None], estimates: Estimates) -> None:
    """Keep ``estimates`` in the store (``Store.set_meta``)."""
    set_meta(ESTIMATES_KEY, estimates.dumps())
