"""Judging a FIT activity by its times, per the FIT profile; the facts it gives.

Owns what ``fit`` learns while it reads (``Tally``: fed record by record and
summary message by summary message, by the full fitdecode pass or the fast walker
alike) and the verdict and facts drawn from it (``decide``, ``facts``).

The FIT time rules, as the profile states them:

- ``date_time`` fields (every ``timestamp``, 253) are seconds since 1989-12-31
  00:00 UTC; values below 0x10000000 are *system time*, seconds since the device
  was switched on, not a date. ``local_date_time`` fields are the same count in the
  device's local time. 0xFFFFFFFF is the invalid value: no time.
- A compressed-timestamp header carries the low 5 bits of the time; the rest, and
  a rollover when the 5 bits go backwards, come from the last full timestamp of any
  message (fitdecode and ``fitwalk`` both accumulate it; records only reach us with
  it applied).
- ``timestamp_correlation`` pairs a system time with its UTC ``timestamp``: records
  in system time are placed on the UTC line by that offset.
- ``activity.local_timestamp`` is the local time of ``activity.timestamp``. Where
  that timestamp is system time it is the only anchor for system-time records, and
  it gives local time only: the zone is assumed (this computer's, or the one given)
  and the result says so in ``assumption``. Where ``activity.timestamp`` is already
  UTC, ``local_timestamp`` is never used for the facts.
- Strava needs a time on every record, except in files with sets (strength
  workouts). Pool swims from older watches (FR910XT generation) write records with
  the invalid time while their lengths, laps and session are timed, and Strava takes
  them: both are ok with the facts taken from the session (else laps, lengths, sets).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from stravasync.validate.result import Analysis, Facts, Verdict, iso_z
from stravasync.validate.sports import normalise_fit_sport
from stravasync.validate.timestamps import FIT_EPOCH_UNIX, wall_to_utc

__all__ = ["SUMMARY", "Tally", "decide", "facts", "fit_time"]

# Global message numbers (FIT profile).
FILE_ID, SPORT, SESSION, LAP, RECORD, ACTIVITY = 0, 12, 18, 19, 20, 34
LENGTH, CORRELATION, SET = 101, 162, 225
#: Messages read in full (besides records): identity, sport, summaries, time anchors.
SUMMARY = frozenset({FILE_ID, SPORT, SESSION, LAP, ACTIVITY, LENGTH, CORRELATION, SET})
_TIMESTAMP, _DISTANCE = 253, 5
_PRODUCT_FIELDS = ("product_name", "garmin_product", "favero_product", "product")
#: Summaries that date a workout whose records carry no time, best first.
_SPAN_ORDER = (SESSION, LAP, LENGTH, SET)
_SWIM_WORDS = frozenset({"swimming", "lap_swimming"})


def fit_time(stamp: float) -> datetime:
    """A raw FIT time (seconds since 1989-12-31 UTC) as an aware UTC datetime."""
    return datetime.fromtimestamp(FIT_EPOCH_UNIX + stamp, UTC)


@dataclass
class Tally:
    """Mutable state of one pass (FIT times are raw seconds since 1989-12-31)."""

    lo: float
    """Earliest plausible time (0x10000000: below it is system time)."""
    hi: float
    """Latest plausible time (a little after now)."""
    zone: tzinfo | None = None
    """Zone for local-only times; None: this computer's."""
    headers: int = 0
    types: list[object] = field(default_factory=list)
    file_ids: list[dict[str, Any]] = field(default_factory=list)
    records: int = 0
    timed: int = 0
    # records without a usable time, by cause
    missing: int = 0
    relative: int = 0  # system time: seconds since power-on
    future: int = 0
    example_bad: int | None = None
    rel_first: int | None = None
    rel_last: int | None = None
    # system time -> UTC (timestamp_correlation) or -> local time (activity)
    utc_offset: int | None = None
    local_offset: int | None = None
    misplaced: tuple[str, int] | None = None  # (anchor, placed first time) out of range
    assumption: str | None = None
    first: int | None = None
    last: int | None = None
    max_record_distance: float | None = None
    # (start, end) of summaries with a plausible start, by message number
    spans: dict[int, list[tuple[float, float]]] = field(default_factory=dict)
    lengths: int = 0
    sets: int = 0
    sessions: list[tuple[object, object]] = field(default_factory=list)
    sport_messages: list[tuple[object, object]] = field(default_factory=list)
    session_distance: float | None = None
    lap_distance: float | None = None

    def record(self, frame: Any) -> None:
        """Count a fitdecode record message."""
        stamp: object = None
        distance: object = None
        for fd in frame.fields:
            f = fd.field
            if f is None or f.field_type == "devfield":
                continue
            if f.def_num == _TIMESTAMP:
                stamp = fd.value
            elif f.def_num == _DISTANCE:
                distance = fd.value
        self.add_record(
            stamp if isinstance(stamp, int) else None,
            float(distance) if isinstance(distance, float | int) else None,
        )

    def add_record(self, stamp: int | None, distance: float | None) -> None:
        """Count one record with its raw FIT time and distance in metres (None: absent)."""
        self.records += 1
        if distance is not None and (
            self.max_record_distance is None or distance > self.max_record_distance
        ):
            self.max_record_distance = distance
        if stamp is None:
            self.missing += 1
        elif stamp < self.lo:
            self.relative += 1
            self.rel_first = stamp if self.rel_first is None else min(self.rel_first, stamp)
            self.rel_last = stamp if self.rel_last is None else max(self.rel_last, stamp)
            self._bad(stamp)
        elif stamp > self.hi:
            self.future += 1
            self._bad(stamp)
        else:
            self.timed += 1
            self.first = stamp if self.first is None else min(self.first, stamp)
            self.last = stamp if self.last is None else max(self.last, stamp)

    def _bad(self, stamp: int) -> None:
        if self.example_bad is None:
            self.example_bad = stamp

    def summary(self, num: int, frame: Any) -> None:
        """Learn from a fitdecode summary message (one of ``SUMMARY``)."""
        values = {fd.name: fd.value for fd in frame.fields if fd.field is not None}
        if num == FILE_ID:
            if self.types and self.types[-1] is None:
                self.types[-1] = values.get("type")
            self.file_ids.append(values)
        elif num == SPORT:
            self.sport_messages.append((values.get("sport"), values.get("sub_sport")))
        elif num in (ACTIVITY, CORRELATION):
            self._anchor(num, values)
        else:
            self._span(num, values)

    def _span(self, num: int, values: dict[str, Any]) -> None:
        start = values.get("start_time")
        end = values.get("timestamp")
        length = values.get("duration" if num == SET else "total_elapsed_time")
        if num == LENGTH:
            self.lengths += 1
        elif num == SET:
            self.sets += 1
        if isinstance(start, int) and self.lo <= start <= self.hi:
            if isinstance(length, float | int):
                stop = float(start + length)
            else:
                stop = float(end) if isinstance(end, int) and start <= end <= self.hi else start
            self.spans.setdefault(num, []).append((float(start), stop))
        distance = values.get("total_distance")
        if num == SESSION:
            self.sessions.append((values.get("sport"), values.get("sub_sport")))
            if isinstance(distance, float | int):
                self.session_distance = (self.session_distance or 0.0) + distance
        elif num == LAP and isinstance(distance, float | int):
            self.lap_distance = (self.lap_distance or 0.0) + distance

    def _anchor(self, num: int, values: dict[str, Any]) -> None:
        """Learn how device system time maps to real time, for system-time records."""
        if num == CORRELATION:
            system, real = values.get("system_timestamp"), values.get("timestamp")
        else:
            system, real = values.get("timestamp"), values.get("local_timestamp")
        if not (isinstance(system, int) and isinstance(real, int)):
            return
        if 0 <= system < self.lo and self.lo <= real:
            if num == CORRELATION:
                self.utc_offset = real - system
            else:
                self.local_offset = real - system

    def resolve_relative(self) -> None:
        """Place system-time records on the UTC line when the file says how."""
        if self.timed or not self.relative or self.rel_first is None or self.rel_last is None:
            return
        assumption = None
        if self.utc_offset is not None:
            anchor, offset = "timestamp_correlation", self.utc_offset
        elif self.local_offset is not None:
            anchor, offset = "activity local time", self.local_offset
            wall = fit_time(self.rel_first + offset)  # local wall time, written as if UTC
            utc = wall_to_utc(wall.replace(tzinfo=None), self.zone)
            assumption = self._zone_words(wall, wall - utc)
            offset -= round((wall - utc).total_seconds())
        else:
            return
        first, last = self.rel_first + offset, self.rel_last + offset
        if not (self.lo <= first and last <= self.hi):
            self.misplaced = (anchor, first)
            return
        self.first, self.last, self.timed = first, last, self.relative
        self.relative = 0
        self.assumption = assumption

    def _zone_words(self, wall: datetime, shift: timedelta) -> str:
        where = f"time zone {self.zone}" if self.zone is not None else "this computer's time zone"
        return (
            "time zone unknown (the file has only activity.local_timestamp, no "
            f"timestamp_correlation): local start {wall:%Y-%m-%d %H:%M} taken as {where}, "
            f"{_offset_words(shift)} on that date"
        )


def _offset_words(shift: timedelta) -> str:
    minutes = round(shift.total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


def _sport(t: Tally) -> tuple[str | None, str | None]:
    pairs = t.sessions or t.sport_messages
    named = [(normalise_fit_sport(s, sub), sub) for s, sub in pairs]
    real = [(s, sub) for s, sub in named if s not in (None, "transition")]
    if len({s for s, _ in real}) > 1:
        return "multisport", None
    if real:
        sport, sub = real[0]
        return sport, sub if isinstance(sub, str) and sub != "generic" else None
    return (named[0][0], None) if named else (None, None)


def _device(t: Tally) -> str | None:
    chosen = next((f for f in t.file_ids if f.get("type") == "activity"), None)
    if chosen is None and t.file_ids:
        chosen = t.file_ids[0]
    if chosen is None:
        return None
    maker = chosen.get("manufacturer")
    product = next((chosen[k] for k in _PRODUCT_FIELDS if chosen.get(k) is not None), None)
    words = [str(w).strip() for w in (maker, product) if w is not None and str(w).strip()]
    return " ".join(words) or None


def _summary_spans(t: Tally) -> list[tuple[float, float]]:
    """The best-placed summaries (session, else laps, lengths, sets)."""
    return next((t.spans[num] for num in _SPAN_ORDER if t.spans.get(num)), [])


def facts(t: Tally) -> Facts:
    """What the pass learned: from the records where they are timed, else the session."""
    if t.first is not None:
        start: float | None = t.first
        ends = [e for spans in t.spans.values() for _, e in spans]
        latest = max([*ends, *([t.last] if t.last is not None else [])], default=None)
    else:
        spans = _summary_spans(t)
        start = min((s for s, _ in spans), default=None)
        latest = max((e for _, e in spans), default=None)
    sport, sub_sport = _sport(t)
    distance = t.session_distance
    if distance is None:
        distance = t.max_record_distance if t.max_record_distance else t.lap_distance
    return Facts(
        start_time=fit_time(start) if start is not None else None,
        sport=sport,
        sub_sport=sub_sport,
        duration_s=max(0.0, latest - start) if start is not None and latest else None,
        distance_m=round(distance, 1) if distance is not None else None,
        points=t.records,
        device=_device(t),
    )


def _pool_swim(t: Tally) -> bool:
    words = {w for pair in (*t.sessions, *t.sport_messages) for w in pair if isinstance(w, str)}
    return t.lengths > 0 or bool(words & _SWIM_WORDS)


def decide(t: Tally) -> Analysis:
    """The verdict on a whole pass (after ``resolve_relative``)."""
    found = facts(t)
    refused = _not_an_activity(t)
    if refused is not None:
        verdict, reason = refused
        return Analysis(verdict, reason, found)
    if t.timed:
        return Analysis(Verdict.OK, None, found, t.assumption)
    exempt = t.sets > 0 or _pool_swim(t)
    if _summary_spans(t) and (exempt or not t.records):
        return Analysis(Verdict.OK, None, found)
    if t.records:
        return Analysis(Verdict.INVALID, _untimed_records(t, exempt=exempt), found)
    return Analysis(Verdict.INVALID, "activity holds no timed records, laps or lengths", found)


def _not_an_activity(t: Tally) -> tuple[Verdict, str] | None:
    """Invalid or skip by the file's headers and type, before its times are looked at."""
    if not t.headers:
        return Verdict.INVALID, "no FIT header found"
    types = [x for x in t.types if x is not None]
    if types and "activity" not in types:
        kind = types[0]
        label = f"'{kind}'" if isinstance(kind, str) else f"number {kind}"
        return Verdict.SKIP, f"not an activity: FIT file type {label}"
    if not types and not t.timed:
        what = "no file_id message" if not t.file_ids else "file_id has no type"
        return Verdict.SKIP, f"not an activity: {what} and no timed records"
    return None


def _untimed_records(t: Tally, *, exempt: bool) -> str:
    """Why none of the records carries a usable time, in the words for each cause."""
    n = t.records
    example = f"e.g. {iso_z(fit_time(t.example_bad))}" if t.example_bad is not None else ""
    if t.relative == n and t.misplaced is not None:
        anchor, first = t.misplaced
        return (
            f"none of {n} records carries a usable time: they count from device power-on, "
            f"and the file's {anchor} puts the start at {iso_z(fit_time(first))}, "
            "which cannot be right"
        )
    if t.relative == n:
        return (
            f"none of {n} records carries a calendar time: they count from device power-on "
            f"({example}) and the file has no timestamp_correlation or activity local time "
            "to place them: the device clock was not set"
        )
    if t.future == n:
        return (
            f"none of {n} records carries a plausible time: they lie in the future "
            f"({example}): check the device's clock and this computer's"
        )
    if t.missing == n:
        why = (
            ", and no session, lap, length or set carries one either: nothing dates it"
            if exempt
            else ": Strava needs a time on every record (except in pool swims and workouts "
            "with sets)"
        )
        return f"none of {n} records carries a time (timestamp missing or invalid){why}"
    parts = []
    if t.missing:
        parts.append(f"{t.missing} have none")
    if t.relative:
        parts.append(f"{t.relative} count from device power-on")
    if t.future:
        parts.append(f"{t.future} lie in the future")
    return (
        f"none of {n} records carries a usable time: {', '.join(parts)} ({example}): "
        "Strava needs a time on every record"
    )
