"""Owns validation: knowing what Strava will accept before spending an API call on it.

Pure: bytes in, verdict and facts out; no network, no state, never raises for bad
input. Content decides the format (the name is only used for a note when it lies):
gzip is inflated with a size cap, FIT is recognised by ``.FIT`` at byte 8, XML by
its root element (``gpx`` or ``TrainingCenterDatabase``).

Public API::

    Verdict, ValidationResult
    validate_bytes(data, *, name="", now=None, max_bytes=..., zone=None) -> ValidationResult
    validate_path(path, *, now=None, max_bytes=..., zone=None) -> ValidationResult

``ok`` results carry ``payload`` (inflated, repaired bytes to upload) and its
``sha256``; the user's file is never modified. ``assumption`` says what the facts
rest on that the file does not say: today only the time zone of a FIT start given
in local time alone (``zone``, default this computer's zone on the workout's date).
Repairs: a UTF-8 byte order mark or whitespace before ``<?xml``, and ``...ZZ``
timestamps.
"""

from __future__ import annotations

import hashlib
import stat
from datetime import datetime, tzinfo
from pathlib import Path

from stravasync.validate.fit import analyse_fit
from stravasync.validate.gpx import analyse_gpx
from stravasync.validate.result import Analysis, Format, ValidationResult, Verdict
from stravasync.validate.sniff import (
    DEFAULT_MAX_BYTES,
    ContentError,
    gunzip_capped,
    is_gzip,
    sniff,
    strip_xml_prelude,
)
from stravasync.validate.tcx import analyse_tcx
from stravasync.validate.xmlsafe import XmlRefused, fix_double_z, local, walk

__all__ = [
    "DEFAULT_MAX_BYTES",
    "ValidationResult",
    "Verdict",
    "validate_bytes",
    "validate_path",
]

_ROOTS: dict[str, Format] = {"gpx": "gpx", "TrainingCenterDatabase": "tcx"}


def validate_bytes(
    data: bytes,
    *,
    name: str = "",
    now: datetime | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    zone: tzinfo | None = None,
) -> ValidationResult:
    """Judge a workout file's bytes; ``now`` (default: the clock) bounds plausible times.

    ``zone`` places a start the file gives only in local time (default: this
    computer's zone on that date); the result's ``assumption`` then says so.
    """
    try:
        return _validate(bytes(data), name=name, now=now, max_bytes=max_bytes, zone=zone)
    # Last line of defence: a bug or a library surprise on odd input must become a
    # verdict, never an exception in the daemon's consumer thread.
    except Exception as exc:  # noqa: BLE001
        return ValidationResult.refused(f"could not be validated: {type(exc).__name__}: {exc}")


def validate_path(
    path: Path,
    *,
    now: datetime | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    zone: tzinfo | None = None,
) -> ValidationResult:
    """Judge the file at ``path`` (read only; never raises for a bad or missing file)."""
    path = Path(path)
    data = _read(path, max_bytes=max_bytes)
    if isinstance(data, str):
        return ValidationResult.refused(data)
    return validate_bytes(data, name=path.name, now=now, max_bytes=max_bytes, zone=zone)


def _read(path: Path, *, max_bytes: int) -> bytes | str:
    """The file's bytes, or why they cannot be had (never blocks on a FIFO)."""
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            return "is a directory, not a workout file"
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file"
        if info.st_size > max_bytes:
            return _too_large(info.st_size, max_bytes)
        with path.open("rb") as handle:
            return handle.read(max_bytes + 1)
    except FileNotFoundError:
        return "no such file"
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"


def _too_large(size: int, limit: int) -> str:
    return f"file too large ({size} bytes; the limit is {limit} bytes)"


def _named_format(name: str) -> str | None:
    lowered = name.lower().removesuffix(".gz")
    for ext in ("fit", "gpx", "tcx"):
        if lowered.endswith("." + ext):
            return ext
    return None


def _validate(
    data: bytes, *, name: str, now: datetime | None, max_bytes: int, zone: tzinfo | None
) -> ValidationResult:
    if len(data) > max_bytes:
        return ValidationResult.refused(_too_large(len(data), max_bytes))
    gzipped = is_gzip(data)
    try:
        content = gunzip_capped(data, limit=max_bytes) if gzipped else data
        kind = sniff(content)
    except ContentError as exc:
        return ValidationResult.refused(str(exc), gzipped=gzipped)
    fmt: Format | None
    repaired: tuple[str, ...] = ()
    if kind == "fit":
        fmt, analysis = "fit", analyse_fit(content, now=now, zone=zone)
    else:
        content, repaired = strip_xml_prelude(content)
        content, double_z = fix_double_z(content)
        if double_z:
            repaired += ("ZZ timestamps",)
        fmt, analysis = _analyse_xml(content, now=now)
    if analysis.verdict is not Verdict.OK:
        return ValidationResult.from_analysis(analysis, fmt=fmt, gzipped=gzipped, repaired=repaired)
    named = _named_format(name)
    if named and fmt and named != fmt:
        note = f"content is {fmt.upper()} although the name says .{named}"
        if analysis.reason:
            note = f"{analysis.reason}; {note}"
        analysis = Analysis(Verdict.OK, note, analysis.facts, analysis.assumption)
    return ValidationResult.from_analysis(
        analysis,
        fmt=fmt,
        gzipped=gzipped,
        repaired=repaired,
        payload=content,
        sha256=hashlib.sha256(content).hexdigest(),
    )


def _analyse_xml(data: bytes, *, now: datetime | None) -> tuple[Format | None, Analysis]:
    events = walk(data)
    fmt: Format | None = None
    try:
        _event, root, _depth = next(events)
        root_name = local(root.tag)
        fmt = _ROOTS.get(root_name)
        if fmt is None:
            return None, Analysis(
                Verdict.INVALID, f"XML root element <{root_name}> is neither GPX nor TCX"
            )
        if fmt == "gpx":
            # The defused walk has read the prolog and found no DTD: gpxpy takes over.
            events.close()
            return fmt, analyse_gpx(data, now=now)
        return fmt, analyse_tcx(root, events, now=now)
    except StopIteration:
        return None, Analysis(Verdict.INVALID, "malformed XML: no root element")
    except XmlRefused as exc:
        return fmt, Analysis(Verdict.INVALID, str(exc))
    finally:
        events.close()
