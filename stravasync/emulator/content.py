"""What Strava's processing would say about an uploaded file's content.

`inspect_payload` decompresses (if gzipped), hashes and checks the bytes the way the
emulator's "processing" does: FIT magic and `file_id.type` (activity or unknown),
GPX/TCX well-formed XML with the declared root, an activity in a TCX, timed track
points, no garbled timestamps, no whitespace or BOM before a TCX's `<?xml`. It
returns the error text the finished upload will carry, or None for a good file, and
the workout's start time (the first timed point; in a TCX the first Lap's StartTime;
in a FIT see `fitscan`), which becomes the activity's `start_date`.
Only the stdlib expat parser is used, with entity declarations refused.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from xml.parsers import expat

from stravasync.emulator.config import ERROR_EMPTY, ERROR_IMPROPER, ERROR_MALFORMED, ERROR_NO_TIME
from stravasync.emulator.fitscan import scan_fit

if TYPE_CHECKING:
    from stravasync.emulator.core import Reply

GZIP_MAGIC = b"\x1f\x8b"
FIT_FILE_TYPE_ACTIVITY = 4
MAX_DECOMPRESSED = 1024 * 1024 * 1024
_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?")


@dataclass(frozen=True)
class PayloadVerdict:
    """The emulator's judgement of one uploaded file."""

    sha256: str
    """Hex sha256 of the decompressed content (duplicate detection key)."""
    size: int
    """Decompressed size in bytes."""
    error: str | None
    """Error text processing will end with, or None if the file makes an activity."""
    start_time: float | None = None
    """The workout's start (Unix time) read from the content, if any."""



@dataclass(frozen=True)
class PreparedUpload:
    """An upload POST's body (Strava's or intervals.icu's), parsed and judged outside the lock."""

    problem: Reply | None
    """The 4xx to answer (after auth checks), if the request is bad."""
    data_type: str = ""
    filename: str = ""
    params: dict[str, str] | None = None
    verdict: PayloadVerdict | None = None

def is_gzip(data: bytes) -> bool:
    """Whether `data` starts with the gzip magic."""
    return data[:2] == GZIP_MAGIC


def inspect_payload(data: bytes, *, data_type: str) -> PayloadVerdict:
    """Judge `data` (as sent) declared as `data_type` (one of DATA_TYPES)."""
    raw = data
    if data_type.endswith(".gz"):
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
                raw = stream.read(MAX_DECOMPRESSED + 1)
        except (OSError, EOFError, zlib.error):
            return PayloadVerdict(hashlib.sha256(data).hexdigest(), len(data), ERROR_MALFORMED)
        if len(raw) > MAX_DECOMPRESSED:
            return PayloadVerdict(hashlib.sha256(data).hexdigest(), len(data), ERROR_MALFORMED)
    digest = hashlib.sha256(raw).hexdigest()
    kind = data_type.removesuffix(".gz")
    start: float | None = None
    if not raw:
        error: str | None = ERROR_EMPTY
    elif kind == "fit":
        error, start = _check_fit(raw)
    else:
        error, start = _check_xml(raw, kind=kind)
    return PayloadVerdict(digest, len(raw), error, start)


def _check_fit(raw: bytes) -> tuple[str | None, float | None]:
    header_size = raw[0]
    if header_size not in (12, 14) or len(raw) < header_size or raw[8:12] != b".FIT":
        return ERROR_IMPROPER, None
    data_size = int.from_bytes(raw[4:8], "little")
    if len(raw) < header_size + data_size:
        return ERROR_MALFORMED, None
    facts = scan_fit(raw[header_size : header_size + data_size])
    if facts.file_type is not None and facts.file_type != FIT_FILE_TYPE_ACTIVITY:
        return ERROR_IMPROPER, None
    return None, facts.start_unix()


def fit_file_type(records: bytes) -> int | None:
    """The `file_id.type` of the first file_id message in FIT `records`, if found."""
    return scan_fit(records).file_type


def iso_to_unix(text: str) -> float | None:
    """Unix time of an ISO 8601 time as GPX/TCX write it (no zone = UTC), else None."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class _XmlScan:
    """Expat callbacks collecting what the checks need."""

    def __init__(self, point: str, time: str) -> None:
        self.point = point
        self.time = time
        self.root: str | None = None
        self.activities = 0
        self.timed_points = 0
        self.bad_times = 0
        self.first_time: str | None = None
        """The first good point time (or, in a TCX, the first Lap StartTime)."""
        self._stack: list[str] = []
        self._in_point = False
        self._point_timed = False
        self._text: list[str] | None = None

    def start(self, name: str, attrs: dict[str, str]) -> None:
        local = name.rsplit(" ", 1)[-1]
        if self.root is None:
            self.root = local
        self._stack.append(local)
        lap_start = attrs.get("StartTime", "") if local == "Lap" else ""
        if self.first_time is None and _ISO_TIME.fullmatch(lap_start.strip()):
            self.first_time = lap_start
        if local == "Activity":
            self.activities += 1
        elif local == self.point:
            self._in_point, self._point_timed = True, False
        elif local == self.time and self._in_point and self._stack[-2] == self.point:
            self._text = []

    def end(self, name: str) -> None:
        local = self._stack.pop()
        if local == self.time and self._text is not None:
            text = "".join(self._text).strip()
            if _ISO_TIME.fullmatch(text):
                self._point_timed = True
                self.first_time = self.first_time or text
            else:
                self.bad_times += 1
            self._text = None
        elif local == self.point and self._in_point:
            self._in_point = False
            self.timed_points += self._point_timed
        del name

    def chars(self, text: str) -> None:
        if self._text is not None:
            self._text.append(text)

    @staticmethod
    def refuse_entity(*_args: object) -> None:
        raise ValueError("entity declarations are refused")


def _check_xml(raw: bytes, *, kind: str) -> tuple[str | None, float | None]:
    expected_root = "gpx" if kind == "gpx" else "TrainingCenterDatabase"
    if kind == "tcx" and raw[:1] != b"<":
        return ERROR_IMPROPER, None  # BOM or whitespace before <?xml: Strava refuses TCX
    scan = _XmlScan(point="trkpt", time="time") if kind == "gpx" else _XmlScan("Trackpoint", "Time")
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True
    parser.EntityDeclHandler = scan.refuse_entity
    parser.StartElementHandler = scan.start
    parser.EndElementHandler = scan.end
    parser.CharacterDataHandler = scan.chars
    try:
        parser.Parse(raw, True)
    except (expat.ExpatError, ValueError, UnicodeError):
        return ERROR_IMPROPER, None
    if scan.root != expected_root or scan.bad_times:
        return ERROR_IMPROPER, None
    if kind == "tcx" and scan.activities == 0:
        return ERROR_IMPROPER, None
    if scan.timed_points == 0:
        return ERROR_NO_TIME, None
    return None, None if scan.first_time is None else iso_to_unix(scan.first_time)
