"""FIT: one tolerant, CRC-checked pass with fitdecode; is it a dated activity?

fitdecode runs with ``check_crc=CrcCheck.RAISE`` (a wrong header or file CRC in any
chained file is fatal; a header CRC of 0 means "not computed" and passes) and
``error_handling=ErrorHandling.IGNORE``: odd field sizes (Coros), developer data
without ``application_id`` (Wahoo) and unknown developer fields are read as bytes
instead of stopping, as the FIT SDK and Strava do. Structural damage still raises:
truncation, an undefined local message, a corrupt chained header, garbage after the
last file. No data processor runs (``processor=None``): times stay raw FIT seconds
and only the few fields we need are looked at, so the pass costs about one plain
fitdecode read.

Gate: ``file_id.type`` must be ``activity`` in at least one chained file (activity +
settings is an activity); another type is a skip naming it; no type at all is an
activity when records carry plausible times. An activity needs a record (or, for a
pool swim, a length/lap/session) with a plausible absolute time (``times``).

Fast path (the default): ``fitwalk`` frames the bytes and checks every CRC with
``struct``, reads only record time and distance, and hands the few summary messages
to fitdecode in a small synthetic stream, so the verdict is the same at a fraction of
the cost. Where the walker is not sure (any damage, odd definitions; see ``fitwalk``)
the full fitdecode pass above runs instead, so verdicts and reasons never differ.
``analyse_fit(data, now=..., fast=False)`` always runs the full pass.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import fitdecode
from fitdecode import CrcCheck, ErrorHandling

from stravasync.validate.fitwalk import Unsure, walk_fit
from stravasync.validate.result import Analysis, Facts, Verdict, iso_z
from stravasync.validate.sports import normalise_fit_sport
from stravasync.validate.times import FIT_EPOCH_UNIX, window

__all__ = ["analyse_fit", "analyse_fit_fast"]

_HEADER = fitdecode.FIT_FRAME_HEADER
_DATA = fitdecode.FIT_FRAME_DATA
# Global message numbers (FIT profile).
_FILE_ID = 0
_SPORT = 12
_SESSION = 18
_LAP = 19
_RECORD = 20
_ACTIVITY = 34
_LENGTH = 101
_CORRELATION = 162  # timestamp_correlation
_SUMMARY = frozenset({_FILE_ID, _SPORT, _SESSION, _LAP, _ACTIVITY, _LENGTH, _CORRELATION})
_TIMESTAMP, _DISTANCE = 253, 5
_PRODUCT_FIELDS = ("product_name", "garmin_product", "favero_product", "product")


@dataclass
class _Tally:
    """Mutable state of the pass (FIT times are raw seconds since 1989-12-31)."""

    lo: float
    hi: float
    headers: int = 0
    types: list[object] = field(default_factory=list)
    file_ids: list[dict[str, Any]] = field(default_factory=list)
    records: int = 0
    timed: int = 0
    implausible: int = 0
    example_bad: int | None = None
    # records stamped in device "system time" (< 0x10000000: seconds since power-on)
    relative: int = 0
    rel_first: int | None = None
    rel_last: int | None = None
    # offsets from system time to absolute time: UTC (timestamp_correlation) or local
    utc_offset: int | None = None
    local_offset: int | None = None
    note: str | None = None
    first: int | None = None
    last: int | None = None
    max_record_distance: float | None = None
    # (start, end) of sessions, laps and lengths with a plausible start
    spans: list[tuple[float, float]] = field(default_factory=list)
    sessions: list[tuple[object, object]] = field(default_factory=list)
    sport_messages: list[tuple[object, object]] = field(default_factory=list)
    session_distance: float | None = None
    lap_distance: float | None = None

    def record(self, frame: Any) -> None:
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
        if stamp is not None:
            self.stamp(stamp)

    def stamp(self, stamp: int) -> None:
        if 0 <= stamp < self.lo:
            self.relative += 1
            if self.rel_first is None or stamp < self.rel_first:
                self.rel_first = stamp
            if self.rel_last is None or stamp > self.rel_last:
                self.rel_last = stamp
        if not self.lo <= stamp <= self.hi:
            self.implausible += 1
            if self.example_bad is None:
                self.example_bad = stamp
            return
        self.timed += 1
        if self.first is None or stamp < self.first:
            self.first = stamp
        if self.last is None or stamp > self.last:
            self.last = stamp

    def summary(self, num: int, frame: Any) -> None:
        values = {fd.name: fd.value for fd in frame.fields if fd.field is not None}
        if num == _FILE_ID:
            if self.types and self.types[-1] is None:
                self.types[-1] = values.get("type")
            self.file_ids.append(values)
            return
        if num == _SPORT:
            self.sport_messages.append((values.get("sport"), values.get("sub_sport")))
            return
        if num in (_ACTIVITY, _CORRELATION):
            self.anchor(num, values)
            return
        start = values.get("start_time")
        elapsed = values.get("total_elapsed_time")
        if isinstance(start, int) and self.lo <= start <= self.hi:
            end = start + (elapsed if isinstance(elapsed, float | int) else 0.0)
            self.spans.append((float(start), float(end)))
        distance = values.get("total_distance")
        if num == _SESSION:
            self.sessions.append((values.get("sport"), values.get("sub_sport")))
            if isinstance(distance, float | int):
                self.session_distance = (self.session_distance or 0.0) + distance
        elif num == _LAP and isinstance(distance, float | int):
            self.lap_distance = (self.lap_distance or 0.0) + distance

    def anchor(self, num: int, values: dict[str, Any]) -> None:
        """Learn how device system time maps to real time, for relative timestamps."""
        if num == _CORRELATION:
            system, real = values.get("system_timestamp"), values.get("timestamp")
        else:
            system, real = values.get("timestamp"), values.get("local_timestamp")
        if not (isinstance(system, int) and isinstance(real, int)):
            return
        if 0 <= system < self.lo and self.lo <= real <= self.hi:
            if num == _CORRELATION:
                self.utc_offset = real - system
            else:
                self.local_offset = real - system

    def resolve_relative(self) -> None:
        """Place system-time records on the real clock when the file says how."""
        if self.timed or not self.relative or self.rel_first is None or self.rel_last is None:
            return
        offset = self.utc_offset if self.utc_offset is not None else self.local_offset
        if offset is None:
            return
        first, last = self.rel_first + offset, self.rel_last + offset
        if not (self.lo <= first and last <= self.hi):
            return
        self.first, self.last, self.timed = first, last, self.relative
        self.implausible -= self.relative
        if self.utc_offset is None:
            self.note = (
                "record times count from device power-on; placed by the activity's "
                "local time (time zone unknown)"
            )


def _fit_time(stamp: float) -> datetime:
    return datetime.fromtimestamp(FIT_EPOCH_UNIX + stamp, UTC)


def _error_reason(exc: Exception) -> str:
    if isinstance(exc, fitdecode.FitCRCError):
        return f"FIT CRC check failed: {exc}"
    if isinstance(exc, fitdecode.FitEOFError):
        return f"FIT data truncated: {exc} (the file ends early)"
    if isinstance(exc, fitdecode.FitHeaderError):
        return f"bad FIT header: {exc}"
    if isinstance(exc, fitdecode.FitParseError):
        return f"corrupt FIT data: {exc}"
    return f"unreadable FIT data: {type(exc).__name__}: {exc}"


def analyse_fit(data: bytes, *, now: datetime | None, fast: bool = True) -> Analysis:
    """Judge FIT bytes (one or several chained FIT files); ``fast=False``: full pass only."""
    lo, hi = _bounds(now)
    if fast:
        analysis = _fast(data, lo=lo, hi=hi)
        if analysis is not None:
            return analysis
    return _full(data, lo=lo, hi=hi)


def analyse_fit_fast(data: bytes, *, now: datetime | None) -> Analysis | None:
    """The fast path alone: its verdict, or None where only the full pass can judge."""
    lo, hi = _bounds(now)
    return _fast(data, lo=lo, hi=hi)


def _bounds(now: datetime | None) -> tuple[float, float]:
    earliest, latest = window(now)
    return earliest - FIT_EPOCH_UNIX, latest - FIT_EPOCH_UNIX


def _consume(reader: fitdecode.FitReader, t: _Tally) -> None:
    for frame in reader:
        kind = frame.frame_type
        if kind == _DATA:
            num = frame.def_mesg.global_mesg_num
            if num == _RECORD:
                t.record(frame)
            elif num in _SUMMARY:
                t.summary(num, frame)
        elif kind == _HEADER:
            t.headers += 1
            t.types.append(None)


def _full(data: bytes, *, lo: float, hi: float) -> Analysis:
    t = _Tally(lo=lo, hi=hi)
    reader = fitdecode.FitReader(
        io.BytesIO(data),
        processor=None,
        check_crc=CrcCheck.RAISE,
        error_handling=ErrorHandling.IGNORE,
    )
    try:
        _consume(reader, t)
    # fitdecode raises FitError subclasses, but garbage also gets bare ValueError,
    # KeyError, struct.error, IndexError...: any failure here is a verdict, not a crash.
    except Exception as exc:  # noqa: BLE001
        return Analysis(Verdict.INVALID, _error_reason(exc), _facts(t))
    finally:
        reader.close()
    t.resolve_relative()
    return _decide(t)


def _fast(data: bytes, *, lo: float, hi: float) -> Analysis | None:
    t = _Tally(lo=lo, hi=hi)
    try:
        summary = walk_fit(data, keep=_SUMMARY, on_record=t.add_record)
    except Unsure:  # the walker's reason is for debugging; the full pass gives the user's
        return None
    # The synthetic stream holds only definitions and summary messages; its CRCs are
    # not real (the walker checked the real ones).
    reader = fitdecode.FitReader(
        io.BytesIO(summary),
        processor=None,
        check_crc=CrcCheck.DISABLED,
        error_handling=ErrorHandling.IGNORE,
    )
    try:
        _consume(reader, t)
    except Exception:  # noqa: BLE001 - the full pass will say what is wrong
        return None
    finally:
        reader.close()
    t.resolve_relative()
    return _decide(t)


def _sport(t: _Tally) -> tuple[str | None, str | None]:
    pairs = t.sessions or t.sport_messages
    named = [(normalise_fit_sport(s, sub), sub) for s, sub in pairs]
    real = [(s, sub) for s, sub in named if s not in (None, "transition")]
    if len({s for s, _ in real}) > 1:
        return "multisport", None
    if real:
        sport, sub = real[0]
        return sport, sub if isinstance(sub, str) and sub != "generic" else None
    return (named[0][0], None) if named else (None, None)


def _device(t: _Tally) -> str | None:
    chosen = next((f for f in t.file_ids if f.get("type") == "activity"), None)
    if chosen is None and t.file_ids:
        chosen = t.file_ids[0]
    if chosen is None:
        return None
    maker = chosen.get("manufacturer")
    product = next((chosen[k] for k in _PRODUCT_FIELDS if chosen.get(k) is not None), None)
    words = [str(w).strip() for w in (maker, product) if w is not None and str(w).strip()]
    return " ".join(words) or None


def _facts(t: _Tally) -> Facts:
    starts = [s for s, _ in t.spans]
    ends = [e for _, e in t.spans]
    start = t.first if t.first is not None else (min(starts) if starts else None)
    latest = max([*ends, *([t.last] if t.last is not None else [])], default=None)
    sport, sub_sport = _sport(t)
    distance = t.session_distance
    if distance is None:
        distance = t.max_record_distance if t.max_record_distance else t.lap_distance
    return Facts(
        start_time=_fit_time(start) if start is not None else None,
        sport=sport,
        sub_sport=sub_sport,
        duration_s=max(0.0, latest - start) if start is not None and latest else None,
        distance_m=round(distance, 1) if distance is not None else None,
        points=t.records,
        device=_device(t),
    )


def _decide(t: _Tally) -> Analysis:
    facts = _facts(t)
    if not t.headers:
        return Analysis(Verdict.INVALID, "no FIT header found", facts)
    types = [x for x in t.types if x is not None]
    if types and "activity" not in types:
        kind = types[0]
        label = f"'{kind}'" if isinstance(kind, str) else f"number {kind}"
        return Analysis(Verdict.SKIP, f"not an activity: FIT file type {label}", facts)
    if not types and not t.timed:
        what = "no file_id message" if not t.file_ids else "file_id has no type"
        return Analysis(Verdict.SKIP, f"not an activity: {what} and no timed records", facts)
    if t.records and not t.timed:
        bad = f" (e.g. {iso_z(_fit_time(t.example_bad))})" if t.example_bad is not None else ""
        return Analysis(
            Verdict.INVALID,
            f"none of {t.records} records carries a plausible absolute time{bad}: "
            "the device clock was not set",
            facts,
        )
    if not t.records and not t.spans:
        return Analysis(Verdict.INVALID, "activity holds no timed records, laps or lengths", facts)
    return Analysis(Verdict.OK, t.note, facts)
