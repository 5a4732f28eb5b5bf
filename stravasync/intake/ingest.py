"""Intake: reading a file whole and unchanged, judging it, and recording the verdict.

Owns what the engine does with a file's bytes:

- :func:`read_stable` reads a file and tells whether it changed while being read
  (size or mtime moved): such a file is still being written and stays ``pending``;
- :func:`facts_of` turns a validation result into the facts the store keeps
  (including the ``watch.max_age_days`` rule), and :func:`load_payload` finds the
  bytes to upload again when they are needed (checked against the stored sha256);
- :func:`ingest_path` reads, judges and records one path; :class:`PayloadCache` keeps
  the bytes of newly queued workouts so that their POST need not read them again;
- a file that looks cut short (``completeness.looks_cut_short``) and was written in
  the last :data:`CUT_SHORT_QUIET_S` seconds by a writer that has not closed it is a
  copy paused halfway: ``pending``, read again when the quiet time is up
  (:func:`cut_short_recheck_at`), never ``invalid`` meanwhile;
- a file emptied (0 bytes) after its workout was sent is no new content: the path
  keeps showing the activity, with a note (:data:`EMPTIED_NOTE`).

What happens to a file after Strava has it is :mod:`stravasync.upload.archive`'s.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from stravasync.intake.completeness import looks_cut_short
from stravasync.logs import get_logger
from stravasync.models import ReasonCode
from stravasync.state import FileFacts, Ingested, State, Store, Workout
from stravasync.state.dedupe import SENT_STATES
from stravasync.state.rows import status_at
from stravasync.validate.sniff import DEFAULT_MAX_BYTES

if TYPE_CHECKING:
    from stravasync.validate.result import Facts, ValidationResult

__all__ = [
    "CUT_SHORT_QUIET_S",
    "MAX_FILE_BYTES",
    "FileTooLarge",
    "Ingest",
    "Payload",
    "PayloadCache",
    "Submitted",
    "Validator",
    "cut_short_recheck_at",
    "default_validator",
    "facts_of",
    "ingest_path",
    "load_payload",
    "read_stable",
]

log = get_logger(__name__)

MAX_FILE_BYTES = DEFAULT_MAX_BYTES
"""Files (and gzip contents) above this many bytes are ``invalid`` without being read."""

Validator = Callable[[bytes, str], "ValidationResult"]
"""Judges a file's bytes (``data``, ``name``); ``stravasync.validate.validate_bytes``."""

_DAY = 86400.0

CUT_SHORT_QUIET_S = 60.0
"""A file that looks cut short stays ``pending`` until it was unchanged this long (or its
writer closed it): a copy paused halfway is no ``invalid`` file and no problem notice."""

EMPTIED_NOTE = ("the file was emptied (0 bytes) after it was sent: nothing more is sent, "
                "and the activity on Strava stays as it is")
"""What ``status`` notes at a path whose sent workout file became empty."""


def default_validator(data: bytes, name: str) -> ValidationResult:
    """The real validator (imported on first use)."""
    from stravasync.validate import validate_bytes

    return validate_bytes(data, name=name)


@dataclass(frozen=True)
class Stable:
    """A file read to the end while its size and mtime stayed put."""

    data: bytes
    """Its bytes."""
    size: int
    """Size when read."""
    mtime_ns: int
    """Modification time when read."""


def _require_regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise OSError(errno.EINVAL, "not a regular file")


def _open_nonblocking(path: str, flags: int) -> int:
    """Open without blocking on a named pipe (no effect on regular files)."""
    return os.open(path, flags | os.O_NONBLOCK)


class FileTooLarge(Exception):
    """The file is larger than anything Strava would take: it is judged without being read."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(size, limit)
        self.size = size
        self.limit = limit

    def reason(self) -> str:
        """The verdict's words."""
        return (f"file too large ({self.size / 1048576:.1f} MiB; the limit is "
                f"{self.limit // 1048576} MiB): not read, never sent")


def read_stable(path: Path, *, max_bytes: int = MAX_FILE_BYTES) -> Stable | None:
    """Read ``path``; None if it changed while being read (still being written).

    Raises OSError when it cannot be read at all, or is not a regular file (a named
    pipe would block the reader forever, a link to a device would never end), and
    :class:`FileTooLarge` (from ``fstat``, before a byte is read) above ``max_bytes``.
    """
    before = os.stat(path)
    _require_regular(before.st_mode)
    with open(path, "rb", opener=_open_nonblocking) as handle:
        opened = os.fstat(handle.fileno())
        _require_regular(opened.st_mode)  # swapped since the stat?
        if opened.st_size > max_bytes:
            raise FileTooLarge(opened.st_size, max_bytes)
        data = handle.read(max_bytes + 1)
    after = os.stat(path)
    key_before = (before.st_size, before.st_mtime_ns)
    if key_before != (after.st_size, after.st_mtime_ns) or len(data) != after.st_size:
        return None
    return Stable(data=data, size=after.st_size, mtime_ns=after.st_mtime_ns)


def too_large_facts(path: str, *, size: int, mtime_ns: int, reason: str) -> FileFacts:
    """The verdict on a file too large to read: ``invalid``, keyed by its path and stat.

    Its content is never hashed (that would mean reading it), so its identity is the
    path, size and mtime: a file replaced by a new one of the same name is judged again.
    """
    key = os.fsencode(path) + b"\0" + f"{size}:{mtime_ns}".encode()
    return FileFacts(sha256=hashlib.sha256(b"too-large\0" + key).hexdigest(),
                     state=State.INVALID, reason_code=ReasonCode.TOO_LARGE, error=reason)


def facts_of(
    result: ValidationResult, *, raw: bytes, now: float, max_age_days: int,
) -> FileFacts:
    """What the store keeps of one validated file (``max_age_days`` 0 = no limit)."""
    verdict = str(result.verdict)
    start = result.start_time.timestamp() if result.start_time is not None else None
    ok = verdict == "ok" and bool(result.sha256) and bool(result.format) and (
        result.payload is not None)
    base = FileFacts(
        sha256=result.sha256 if ok and result.sha256 else hashlib.sha256(raw).hexdigest(),
        state=State.QUEUED, format=result.format, gzipped=result.gzipped, facts=result.facts)
    if ok:
        if max_age_days and start is not None and start < now - max_age_days * _DAY:
            day = datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%d")
            return replace(base, state=State.SKIPPED, reason_code=ReasonCode.TOO_OLD, error=(
                f"the workout started on {day}, more than watch.max_age_days = "
                f"{max_age_days} days ago"))
        return base
    if verdict == "skip":
        return replace(base, state=State.SKIPPED, reason_code=ReasonCode.NOT_ACTIVITY,
                       error=result.reason or "not an activity file")
    return replace(base, state=State.INVALID, reason_code=ReasonCode.INVALID,
                   error=result.reason or "not a workout file Strava would accept")


@dataclass(frozen=True)
class Payload:
    """The bytes to upload for one workout, found again on disk."""

    data: bytes | None
    """Decompressed, repaired bytes whose sha256 is the workout's; None if not found."""
    format: str | None
    """``fit``, ``gpx`` or ``tcx``."""
    problem: str | None = None
    """Why there are no bytes: ``gone`` (no path exists) or ``changed``."""
    facts: Facts | None = None
    """What the file says of the workout (start, sport, device, distance): for rules."""


class PayloadCache:
    """The bytes of recently queued workouts, by sha256, within a byte budget (thread-safe).

    Filled when a file is read and queued; emptied when its POST takes them (or the
    workout is displaced or finished). The oldest entries go first when over budget;
    a file larger than a quarter of the budget is not kept (it is read again).
    """

    def __init__(self, *, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._items: OrderedDict[str, Payload] = OrderedDict()
        self._bytes = 0

    def put(self, sha: str, payload: Payload) -> None:
        """Keep ``payload`` for ``sha`` unless it is too large."""
        size = len(payload.data or b"")
        with self._lock:
            if sha in self._items or size > self._max_bytes // 4:
                return
            self._items[sha] = payload
            self._bytes += size
            while self._bytes > self._max_bytes and self._items:
                _sha, old = self._items.popitem(last=False)
                self._bytes -= len(old.data or b"")

    def take(self, sha: str) -> Payload | None:
        """The bytes kept for ``sha`` (and forget them), or None."""
        with self._lock:
            payload = self._items.pop(sha, None)
            if payload is not None:
                self._bytes -= len(payload.data or b"")
            return payload


def load_payload(store: Store, workout: Workout, validator: Validator) -> Payload:
    """Read the workout's content again from any path it was seen at (checked by sha256)."""
    candidates = store.paths_of(workout.sha256)
    if workout.path not in candidates:
        candidates.insert(0, workout.path)
    exists = False
    for name in candidates:
        path = Path(name)
        try:
            stable = read_stable(path)
        except FileTooLarge:
            exists = True  # grown past the limit since it was read: not our content now
            continue
        except OSError:
            continue
        exists = True
        if stable is None:
            continue
        result = validator(stable.data, path.name)
        if result.sha256 == workout.sha256 and result.payload is not None:
            return Payload(data=result.payload, format=result.format, facts=result.facts)
    return Payload(data=None, format=None, problem=ReasonCode.CHANGED if exists else "gone")


@dataclass(frozen=True)
class Submitted:
    """What :meth:`Engine.submit` made of one path."""

    path: str
    """The absolute path."""
    sha256: str | None
    """Its content, None while pending (or when it could not be read)."""
    state: State
    """The state of its content now (``pending`` if not read to the end)."""
    known: bool
    """Path, size and mtime were already known: nothing was read."""
    error: str | None = None
    """Why it is invalid/skipped/pending, if so."""
    recheck_at: float | None = None
    """Pending because it looks cut short: when to read it again (Unix seconds)."""


@dataclass(frozen=True)
class Ingest:
    """What reading one path gave (see :func:`ingest_path`)."""

    submitted: Submitted
    """The path's state now."""
    was_read: bool = False
    """The file was read and hashed."""
    payload: Payload | None = None
    """The bytes to upload, for a newly queued workout (to cache)."""
    displaced: tuple[str, ...] = ()
    """Queued poorer-format copies this file replaces (their cached bytes can go)."""


def _emptied_after_sending(real: str, stable: Stable, *, store: Store) -> Ingest | None:
    """A file emptied after its workout was sent keeps showing it, with a note.

    An empty file is no new content (SPEC: a path shows its latest content): a tool
    that truncates what it handed over must not hide the activity. None when the path
    held nothing that was sent: the empty file is then judged like any other.
    """
    known = store.path_record(real)
    workout = store.workout(known.sha256) if known is not None and known.sha256 else None
    if workout is None or workout.state not in SENT_STATES:
        return None
    if not store.keep_sent_content(real, size=stable.size, mtime_ns=stable.mtime_ns,
                                   note=EMPTIED_NOTE):
        return None
    log.info("file_emptied_after_upload", path=real, sha256=workout.sha256,
             activity_id=workout.activity_id)
    entry = status_at(workout, real)
    return Ingest(Submitted(path=real, sha256=workout.sha256, state=entry.state, known=False,
                            error=entry.error), was_read=True)


def ingest_path(
    real: str, *, store: Store, validator: Validator, now: float, max_age_days: int,
    tolerance_s: float, retry: bool = False, writer_done: bool = False, hold_s: float = 0.0,
) -> Ingest:
    """Read, judge and record one file; a file that changes while read stays ``pending``.

    ``retry``: a person asked for it again: a known content that was not sent is
    judged afresh (a skipped file after ``max_age_days`` was raised is queued).
    ``writer_done``: its writer closed it (or a person named it): a file that looks
    cut short is judged as it is, without waiting for the rest (see
    :data:`CUT_SHORT_QUIET_S`). ``hold_s``: a new queued workout is not sent for this
    long (``dedupe.SIBLING_HOLD_S``).
    """
    path = Path(real)
    try:
        stable = read_stable(path)
    except FileTooLarge as big:
        st = os.stat(path)
        facts = too_large_facts(real, size=st.st_size, mtime_ns=st.st_mtime_ns,
                                reason=big.reason())
        ingested = store.record_file(real, size=st.st_size, mtime_ns=st.st_mtime_ns,
                                     facts=facts, same_workout_tolerance_s=tolerance_s)
        log.info("file_invalid", path=real, sha256=facts.sha256, error=facts.error)
        return Ingest(Submitted(path=real, sha256=ingested.workout.sha256, state=State.INVALID,
                                known=False, error=facts.error), was_read=True)
    except OSError as exc:
        problem = exc.strerror or str(exc)
        log.warning("file_unreadable", path=real, error=problem)
        known = store.path_record(real)
        if known is None or known.sha256 is None:  # never hide content we already read
            with contextlib.suppress(OSError):  # shown by `status` with its reason
                st = os.stat(path)
                store.mark_pending(real, size=st.st_size, mtime_ns=st.st_mtime_ns,
                                   error=problem)
        return Ingest(Submitted(path=real, sha256=None, state=State.PENDING, known=False,
                                error=problem))
    if stable is None:
        with contextlib.suppress(OSError):
            st = os.stat(path)
            store.mark_pending(real, size=st.st_size, mtime_ns=st.st_mtime_ns,
                               error="still being written")
        log.info("file_changing", path=real)
        return Ingest(Submitted(path=real, sha256=None, state=State.PENDING, known=False,
                                error="still being written"), was_read=True)
    if not stable.data and (kept := _emptied_after_sending(real, stable, store=store)):
        return kept
    result = validator(stable.data, path.name)
    facts = facts_of(result, raw=stable.data, now=now, max_age_days=max_age_days)
    if facts.state is State.INVALID and not (writer_done or retry):
        recheck_at = cut_short_recheck_at(stable.data, mtime_ns=stable.mtime_ns, now=now)
        if recheck_at is not None:
            return _wait_for_the_rest(real, stable, store=store, why=facts.error,
                                      recheck_at=recheck_at)
    ingested = store.record_file(real, size=stable.size, mtime_ns=stable.mtime_ns, facts=facts,
                                 same_workout_tolerance_s=tolerance_s, retry=retry,
                                 hold_until=now + hold_s if hold_s > 0 else None)
    return _recorded(real, ingested, facts=facts, result=result)


def cut_short_recheck_at(data: bytes, *, mtime_ns: int, now: float) -> float | None:
    """When a file that looks cut short is judged as it is: None for now (pure).

    A copy paused halfway looks cut short; it is waited for while it was written in
    the last :data:`CUT_SHORT_QUIET_S` seconds, and then judged as it is.
    """
    quiet_at = mtime_ns / 1e9 + CUT_SHORT_QUIET_S
    if now >= quiet_at or not looks_cut_short(data):
        return None
    return quiet_at


def _wait_for_the_rest(
    real: str, stable: Stable, *, store: Store, why: str | None, recheck_at: float
) -> Ingest:
    error = (f"looks cut short ({why or 'incomplete'}): waiting for the copy to finish; "
             f"judged as it is if it stays unchanged for {CUT_SHORT_QUIET_S:.0f} s")
    store.mark_pending(real, size=stable.size, mtime_ns=stable.mtime_ns, error=error)
    log.info("file_cut_short", path=real, error=why, recheck_at=recheck_at)
    return Ingest(Submitted(path=real, sha256=None, state=State.PENDING, known=False,
                            error=error, recheck_at=recheck_at), was_read=True)


def _recorded(
    real: str, ingested: Ingested, *, facts: FileFacts, result: ValidationResult
) -> Ingest:
    """Log what recording one read made of the file, and say it."""
    w = ingested.workout
    log.info("file_seen", path=real, sha256=w.sha256, format=facts.format,
             new_content=ingested.new_content)
    state, error, payload = w.state, w.error, None
    # A copy whose original is not on Strava yet has no activity to name: none is logged
    # (not None); it gets the original's id, and `status` shows it, once that is known.
    known_activity = {"activity_id": w.activity_id} if w.activity_id is not None else {}
    if not (ingested.new_content or ingested.revived):
        if w.path != real and w.state not in (State.INVALID, State.SKIPPED, State.REJECTED):
            state, error = State.DUPLICATE, f"same content as {w.path}"
            log.info("upload_duplicate", path=real, sha256=w.sha256, **known_activity,
                     duplicate_of=w.path, reason=ReasonCode.SAME_CONTENT)
    elif w.state is State.INVALID:
        log.info("file_invalid", path=real, sha256=w.sha256, error=w.error)
    elif w.state is State.SKIPPED:
        log.info("file_skipped", path=real, sha256=w.sha256, error=w.error,
                 reason=w.reason_code)
    elif w.state is State.DUPLICATE:
        leader = ingested.same_workout_as
        log.info("upload_duplicate", path=real, sha256=w.sha256, **known_activity,
                 duplicate_of=leader.path if leader else None, reason=ReasonCode.SAME_WORKOUT)
    else:
        log.info("upload_queued", path=real, sha256=w.sha256, format=facts.format,
                 start_time=facts.start_time, sport=facts.sport)
        if result.payload is not None:
            payload = Payload(data=result.payload, format=result.format, facts=result.facts)
        for other in ingested.displaced:
            log.info("upload_duplicate", sha256=other, duplicate_of=real,
                     reason=ReasonCode.SAME_WORKOUT, error="a richer format of the same workout")
    return Ingest(Submitted(path=real, sha256=w.sha256, state=state, known=False, error=error),
                  was_read=True, payload=payload, displaced=ingested.displaced)
