"""What Strava's processing would say about an uploaded file's content.

`inspect_payload` decompresses (if gzipped), hashes and checks the bytes the way the
emulator's "processing" does: FIT magic and `file_id.type` (activity or unknown),
GPX/TCX well-formed XML with the declared root, an activity in a TCX, timed track
points, no garbled timestamps, no whitespace or BOM before a TCX's `<?xml`. It
returns the error text the finished upload will carry, or None for a good file.
Only the stdlib expat parser is used, with entity declarations refused.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import zlib
from dataclasses import dataclass
from xml.parsers import expat

from stravasync.emulator.config import ERROR_EMPTY, ERROR_IMPROPER, ERROR_MALFORMED, ERROR_NO_TIME

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
    if not raw:
        error: str | None = ERROR_EMPTY
    elif kind == "fit":
        error = _check_fit(raw)
    else:
        error = _check_xml(raw, kind=kind)
    return PayloadVerdict(digest, len(raw), error)


def _check_fit(raw: bytes) -> str | None:
    header_size = raw[0]
    if header_size not in (12, 14) or len(raw) < header_size or raw[8:12] != b".FIT":
        return ERROR_IMPROPER
    data_size = int.from_bytes(raw[4:8], "little")
    if len(raw) < header_size + data_size:
        return ERROR_MALFORMED
    file_type = fit_file_type(raw[header_size : header_size + data_size])
    if file_type is not None and file_type != FIT_FILE_TYPE_ACTIVITY:
        return ERROR_IMPROPER
    return None


def fit_file_type(records: bytes, *, max_records: int = 64) -> int | None:
    """The `file_id.type` of the first file_id message in FIT `records`, if found."""
    definitions: dict[int, tuple[int, list[tuple[int, int]], int]] = {}
    offset = 0
    try:
        for _ in range(max_records):
            if offset >= len(records):
                return None
            header = records[offset]
            offset += 1
            if header & 0x80:  # compressed-timestamp data message
                local = (header >> 5) & 0x03
            elif header & 0x40:  # definition message
                offset = _read_definition(
                    records, offset=offset, header=header, definitions=definitions
                )
                continue
            else:
                local = header & 0x0F
            global_num, fields, dev_size = definitions[local]
            size = sum(field_size for _, field_size in fields) + dev_size
            if global_num == 0:
                position = offset
                for number, field_size in fields:
                    if number == 0:
                        value = records[position]
                        return None if value == 0xFF else value
                    position += field_size
                return None
            offset += size
    except (IndexError, KeyError):
        return None
    return None


def _read_definition(
    records: bytes,
    *,
    offset: int,
    header: int,
    definitions: dict[int, tuple[int, list[tuple[int, int]], int]],
) -> int:
    big_endian = records[offset + 1] == 1
    global_num = int.from_bytes(records[offset + 2 : offset + 4], "big" if big_endian else "little")
    count = records[offset + 4]
    offset += 5
    fields = [(records[offset + 3 * i], records[offset + 3 * i + 1]) for i in range(count)]
    offset += 3 * count
    dev_size = 0
    if header & 0x20:
        dev_count = records[offset]
        dev_size = sum(records[offset + 1 + 3 * i + 1] for i in range(dev_count))
        offset += 1 + 3 * dev_count
    if offset > len(records):
        raise IndexError("definition runs past the end")
    definitions[header & 0x0F] = (global_num, fields, dev_size)
    return offset


class _XmlScan:
    """Expat callbacks collecting what the checks need."""

    def __init__(self, point: str, time: str) -> None:
        self.point = point
        self.time = time
        self.root: str | None = None
        self.activities = 0
        self.timed_points = 0
        self.bad_times = 0
        self._stack: list[str] = []
        self._in_point = False
        self._point_timed = False
        self._text: list[str] | None = None

    def start(self, name: str, _attrs: object) -> None:
        local = name.rsplit(" ", 1)[-1]
        if self.root is None:
            self.root = local
        self._stack.append(local)
        if local == "Activity":
            self.activities += 1
        elif local == self.point:
            self._in_point, self._point_timed = True, False
        elif local == self.time and self._in_point and self._stack[-2] == self.point:
            self._text = []

    def end(self, name: str) -> None:
        local = self._stack.pop()
        if local == self.time and self._text is not None:
            if _ISO_TIME.fullmatch("".join(self._text).strip()):
                self._point_timed = True
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


def _check_xml(raw: bytes, *, kind: str) -> str | None:
    expected_root = "gpx" if kind == "gpx" else "TrainingCenterDatabase"
    if kind == "tcx" and raw[:1] != b"<":
        return ERROR_IMPROPER  # BOM or whitespace before <?xml: Strava refuses TCX
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
        return ERROR_IMPROPER
    if scan.root != expected_root or scan.bad_times:
        return ERROR_IMPROPER
    if kind == "tcx" and scan.activities == 0:
        return ERROR_IMPROPER
    if scan.timed_points == 0:
        return ERROR_NO_TIME
    return None
