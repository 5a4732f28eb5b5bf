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
activity when records carry plausible times. Then the times decide, by the FIT
profile's rules (``fitjudge``: system time, timestamp_correlation, local time, pool
swims and sets whose records carry no time).

Fast path (the default): ``fitwalk`` frames the bytes and checks every CRC with
``struct``, reads only record time and distance, and hands the few summary messages
to fitdecode in a small synthetic stream, so the verdict is the same at a fraction of
the cost. Where the walker is not sure (any damage, odd definitions; see ``fitwalk``)
the full fitdecode pass above runs instead, so verdicts and reasons never differ.
``analyse_fit(data, now=..., fast=False)`` always runs the full pass.
"""

from __future__ import annotations

import io
from datetime import datetime, tzinfo

import fitdecode
from fitdecode import CrcCheck, ErrorHandling

from stravasync.validate.fitjudge import RECORD, SUMMARY, Tally, decide, facts
from stravasync.validate.fitwalk import Unsure, walk_fit
from stravasync.validate.result import Analysis, Verdict
from stravasync.validate.timestamps import FIT_EPOCH_UNIX, window

__all__ = ["analyse_fit", "analyse_fit_fast"]

_HEADER = fitdecode.FIT_FRAME_HEADER
_DATA = fitdecode.FIT_FRAME_DATA


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


def analyse_fit(
    data: bytes, *, now: datetime | None, fast: bool = True, zone: tzinfo | None = None
) -> Analysis:
    """Judge FIT bytes (one or several chained FIT files); ``fast=False``: full pass only.

    ``zone`` places times the file gives in local time only (None: this computer's).
    """
    if fast:
        analysis = _fast(data, tally=_tally(now, zone))
        if analysis is not None:
            return analysis
    return _full(data, tally=_tally(now, zone))


def analyse_fit_fast(
    data: bytes, *, now: datetime | None, zone: tzinfo | None = None
) -> Analysis | None:
    """The fast path alone: its verdict, or None where only the full pass can judge."""
    return _fast(data, tally=_tally(now, zone))


def _tally(now: datetime | None, zone: tzinfo | None) -> Tally:
    earliest, latest = window(now)
    return Tally(lo=earliest - FIT_EPOCH_UNIX, hi=latest - FIT_EPOCH_UNIX, zone=zone)


def _consume(reader: fitdecode.FitReader, t: Tally) -> None:
    for frame in reader:
        kind = frame.frame_type
        if kind == _DATA:
            num = frame.def_mesg.global_mesg_num
            if num == RECORD:
                t.record(frame)
            elif num in SUMMARY:
                t.summary(num, frame)
        elif kind == _HEADER:
            t.headers += 1
            t.types.append(None)


def _full(data: bytes, *, tally: Tally) -> Analysis:
    t = tally
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
        return Analysis(Verdict.INVALID, _error_reason(exc), facts(t))
    finally:
        reader.close()
    t.resolve_relative()
    return decide(t)


def _fast(data: bytes, *, tally: Tally) -> Analysis | None:
    t = tally
    try:
        summary = walk_fit(data, keep=SUMMARY, on_record=t.add_record)
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
    return decide(t)
