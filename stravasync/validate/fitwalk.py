"""Fast FIT walk: frame every message, check every CRC, read only record time and distance.

fitdecode decodes every field of every message in pure Python (about 40 µs a record).
This walker frames the same bytes with ``struct`` exactly as fitdecode 0.11 does with
``ErrorHandling.IGNORE`` (a field size that is not a multiple of its base type's size
makes it bytes; a developer field consumes whole values of its declared type; a
compressed-timestamp header rolls over the last full timestamp), checks each chained
file's header CRC (0 = not computed) and file CRC, and reads only ``timestamp`` (253)
and ``distance`` (5) of ``record`` messages, with fitdecode's own invalid-value rules.

The few messages the analysis needs in full (file_id, sport, session, lap, ...) plus
``developer_data_id`` and ``field_description`` (which fitdecode needs to size
developer fields) are copied, with every definition message, into a small synthetic
FIT stream: one short file per chained file, in the same order. The caller decodes
that with fitdecode, so their values come from the same code as before.

Anything the walker cannot vouch for raises `Unsure`, and the caller runs the full
fitdecode pass instead: a header that is not 12 or 14 bytes, a CRC mismatch, a message
crossing the end of the data, an undefined local message, a zero-size field, data
that would make fitdecode raise while decoding a message we skip (odd component
fields, ``hr`` messages, timestamps that are not single integers), a compressed
timestamp on a message handed to fitdecode, a record with ``compressed_speed_distance``
(distance by accumulation), or an unusual developer-data message. `walk_fit` raises
nothing but `Unsure` for any input.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Callable
from functools import cache
from typing import Any, Final

from fitdecode import profile as _profile
from fitdecode import types as _types

__all__ = ["RecordSink", "Unsure", "fast_crc", "walk_fit"]

RecordSink = Callable[[int | None, float | None], None]
"""Called once per record message with its timestamp and distance (None when absent)."""


class Unsure(Exception):
    """The walker cannot vouch for what fitdecode would make of these bytes."""


_BASE_TYPES: Final[dict[int, Any]] = _types.BASE_TYPES
_BYTE: Final[Any] = _types.BASE_TYPE_BYTE
_MESSAGES: Final[dict[int, Any]] = _profile.MESSAGE_TYPES
# Base types whose single value parses to an int (or None when invalid).
_INTEGER: Final = frozenset(
    {0x00, 0x01, 0x02, 0x83, 0x84, 0x85, 0x86, 0x0A, 0x8B, 0x8C, 0x8E, 0x8F, 0x90}
)
_NUMBER: Final = _INTEGER | {0x88, 0x89}  # plus float32, float64
_BYTE_ID: Final[int] = _BYTE.identifier
_RECORD, _HR, _FIELD_DESCRIPTION, _DEV_DATA_ID = 20, 132, 206, 207
_TIMESTAMP, _DISTANCE = 253, 5
_HEADER: Final = struct.Struct("<BBHI4s")
_U16: Final = struct.Struct("<H")
_GLOBAL: Final = {"<": struct.Struct("<H"), ">": struct.Struct(">H")}

# Kinds of data message.
_SKIP, _REC, _KEEP, _DEVID, _FDESC = 0, 1, 2, 3, 4
# Fields fitdecode reads from developer_data_id (developer_data_index) and from
# field_description (developer_data_index, field_definition_number, fit_base_type_id).
_KINDS: Final = {_RECORD: _REC, _DEV_DATA_ID: _DEVID, _FIELD_DESCRIPTION: _FDESC}
_META_FIELDS: Final[dict[int, frozenset[int]]] = {
    _DEVID: frozenset({3}),
    _FDESC: frozenset({0, 1, 2}),
}


def _targets(field: Any) -> set[int]:
    """Field numbers that a profile field's components (or its subfields') expand into."""
    comps = list(field.components or [])
    for sub in field.subfields or []:
        comps.extend(sub.components or [])
    return {c.def_num for c in comps}


def _plain(field: Any) -> bool:
    return not (field.components or field.subfields or field.type.enum)


_RECORD_FIELDS: Final = _MESSAGES[_RECORD].fields
# record fields expanding into distance/timestamp (compressed_speed_distance)
_RECORD_EXPANDING: Final = frozenset(
    num for num, f in _RECORD_FIELDS.items() if _targets(f) & {_TIMESTAMP, _DISTANCE}
)
_DIST_SCALE: Final = _RECORD_FIELDS[_DISTANCE].scale
_DIST_OFFSET: Final = _RECORD_FIELDS[_DISTANCE].offset
# Should a later profile give these fields components or enums, stop vouching.
_RECORD_PLAIN: Final = _plain(_RECORD_FIELDS[_TIMESTAMP]) and _plain(_RECORD_FIELDS[_DISTANCE])


@cache
def _table8() -> tuple[int, ...]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


@cache
def _table16() -> tuple[int, ...]:
    """CRC after feeding two bytes: a function of ``crc ^ (b0 | b1 << 8)`` alone."""
    t = _table8()
    return tuple((t[v & 0xFF] >> 8) ^ t[((v >> 8) ^ t[v & 0xFF]) & 0xFF] for v in range(65536))


def fast_crc(data: bytes | memoryview, crc: int = 0) -> int:
    """The FIT CRC-16 (CRC-16/ARC) of ``data``, two bytes per step; same as the SDK's."""
    view = memoryview(data)
    even = len(view) & ~1
    words = array("H")
    words.frombytes(view[:even])
    if sys.byteorder == "big":  # pragma: no cover - little-endian hosts only in CI
        words.byteswap()
    table = _table16()
    for word in words:
        crc = table[crc ^ word]
    if even != len(view):
        crc = (crc >> 8) ^ _table8()[(crc ^ view[even]) & 0xFF]
    return crc


class _Def:
    """What the walker knows about one definition message."""

    __slots__ = ("dist", "kind", "meta", "size", "ts", "unsafe")

    def __init__(self) -> None:
        self.size = 0  # bytes of a data message after its header byte
        self.kind = _SKIP
        self.unsafe: str | None = None
        # (offset from the header byte, unpack_from, parse) of the timestamp field
        self.ts: tuple[int, Callable[..., tuple[Any, ...]], Callable[[Any], Any]] | None = None
        # record distance: (offset, unpack_from, parse), unpack_from None = never a number
        self.dist: tuple[int, Callable[..., tuple[Any, ...]] | None, Callable[[Any], Any]] | None
        self.dist = None
        self.meta: dict[int, int] = {}  # developer-data messages: field number -> offset


def _definition(
    data: bytes, *, pos: int, end: int, keep: frozenset[int], dev: dict[int, dict[int, Any]]
) -> tuple[_Def, int]:
    """Read the definition message at ``pos``; return it and its length in bytes."""
    if pos + 6 > end:
        raise Unsure("definition message crosses the end of the data")
    endian = ">" if data[pos + 2] else "<"
    (num,) = _GLOBAL[endian].unpack_from(data, pos + 3)
    stop = pos + 6 + 3 * data[pos + 5]
    if stop > end:
        raise Unsure("definition message crosses the end of the data")
    d = _Def()
    d.kind = _KINDS.get(num, _KEEP if num in keep else _SKIP)
    if num == _HR:
        d.unsafe = "hr message"
    elif num == _RECORD and not _RECORD_PLAIN:
        d.unsafe = "record fields changed in the profile"
    offset = 1
    mesg = _MESSAGES.get(num)
    for at in range(pos + 6, stop, 3):
        _field(d, mesg=mesg, endian=endian, offset=offset, spec=data[at : at + 3])
        offset += data[at + 1]
    if data[pos] & 0x20:
        if stop + 1 > end:
            raise Unsure("definition message crosses the end of the data")
        first = stop + 1
        stop = first + 3 * data[stop]
        if stop > end:
            raise Unsure("definition message crosses the end of the data")
        if stop > first and d.kind in (_DEVID, _FDESC):
            d.unsafe = "developer fields in a developer-data message"
        for at in range(first, stop, 3):
            offset += _dev_field(d, dev=dev, spec=data[at : at + 3])
    if d.kind == _DEVID and 3 not in d.meta:
        d.unsafe = "developer_data_id without its index"
    if d.kind == _FDESC and not (0 in d.meta and 1 in d.meta):
        d.unsafe = "field_description without its numbers"
    d.size = offset - 1
    return d, stop - pos


def _field(d: _Def, *, mesg: Any, endian: str, offset: int, spec: bytes) -> None:
    """Note what one field definition means for decoding; its data is ``spec[1]`` bytes."""
    fnum, fsize, type_num = spec
    base = _BASE_TYPES.get(type_num, _BYTE)
    if fsize % base.size:
        base = _BYTE  # fitdecode's tolerance of odd sizes (the Coros file)
    values = int(fsize / base.size)
    if not values:
        d.unsafe = "zero-size field"
    bid = base.identifier
    single_int = bid in _INTEGER and values == 1
    field = mesg.fields.get(fnum) if mesg is not None else None
    if field is not None and _targets(field) and not (bid == _BYTE_ID or single_int):
        d.unsafe = "component field of an unusual type"
    if fnum == _TIMESTAMP:
        if d.ts is not None or not single_int:
            d.unsafe = "unusual timestamp field"
        else:
            d.ts = (offset, struct.Struct(endian + base.fmt).unpack_from, base.parse)
    if d.kind == _REC:
        _record_field(d, fnum=fnum, base=base, values=values, endian=endian, offset=offset)
    elif fnum in _META_FIELDS.get(d.kind, ()):
        if fnum in d.meta or fsize != 1 or type_num not in (0x00, 0x02):
            d.unsafe = "unusual developer-data message"
        d.meta[fnum] = offset


def _record_field(d: _Def, *, fnum: int, base: Any, values: int, endian: str, offset: int) -> None:
    if fnum in _RECORD_EXPANDING:
        d.unsafe = "record distance by accumulation"
    elif fnum == _DISTANCE:
        if d.dist is not None:
            d.unsafe = "two distance fields"
        elif base.identifier in _NUMBER and values == 1:
            d.dist = (offset, struct.Struct(endian + base.fmt).unpack_from, base.parse)
        else:
            d.dist = (offset, None, base.parse)


def _dev_field(d: _Def, *, dev: dict[int, dict[int, Any]], spec: bytes) -> int:
    """Size a developer field as fitdecode does; return the bytes its data takes."""
    fnum, fsize, index = spec
    # as fitdecode's _get_dev_type with IGNORE: undefined means bytes, and stays so
    fields = dev.setdefault(index, {})
    base = fields.setdefault(fnum, _BYTE)
    values = int(fsize / base.size)
    if not values:
        d.unsafe = "zero-size developer field"
    if fnum == _TIMESTAMP:
        d.unsafe = "developer field numbered like a timestamp"
    return int(values * base.size)


def _developer(d: _Def, *, data: bytes, pos: int, dev: dict[int, dict[int, Any]]) -> None:
    """Mirror fitdecode's bookkeeping of developer_data_id and field_description."""
    meta = d.meta
    if d.kind == _DEVID:
        index = data[pos + meta[3]]
        if index == 0xFF:
            raise Unsure("developer_data_id with an invalid index")
        dev[index] = {}
        return
    index, fnum = data[pos + meta[0]], data[pos + meta[1]]
    if index == 0xFF or fnum == 0xFF or index not in dev:
        raise Unsure("field_description with an invalid or undeclared index")
    type_num = data[pos + meta[2]] if 2 in meta else 0xFF
    base = _BYTE if type_num == 0xFF else _BASE_TYPES.get(type_num)
    if base is None:
        raise Unsure("field_description with an unknown base type")
    dev[index][fnum] = base


def _body(  # noqa: PLR0912, PLR0915 - the hot loop: one function, locals only, reads best
    data: bytes, *, pos: int, end: int, keep: frozenset[int], on_record: RecordSink
) -> list[bytes]:
    """Walk one FIT file's messages; return the bytes of those the caller keeps."""
    defs: list[_Def | None] = [None] * 16
    dev: dict[int, dict[int, Any]] = {}
    kept: list[bytes] = []
    acc = 0  # fitdecode's compressed-timestamp accumulator
    scale, shift = _DIST_SCALE, _DIST_OFFSET
    while pos < end:
        header = data[pos]
        if header & 0x80:
            d = defs[(header >> 5) & 0x3]
        elif header & 0x40:
            d, size = _definition(data, pos=pos, end=end, keep=keep, dev=dev)
            defs[header & 0xF] = d
            kept.append(data[pos : pos + size])
            pos += size
            continue
        else:
            d = defs[header & 0xF]
        if d is None:
            raise Unsure("undefined local message")
        if d.unsafe is not None:
            raise Unsure(d.unsafe)
        nxt = pos + 1 + d.size
        if nxt > end:
            raise Unsure("message crosses the end of the data")
        stamp: int | None = None
        if d.ts is not None:
            off, unpack, parse = d.ts
            stamp = parse(unpack(data, pos + off)[0])
            if stamp is not None:
                acc = stamp
        if header & 0x80:
            rel = header & 0x1F
            stamp = rel + (acc & ~0x1F)
            if rel < (acc & 0x1F):
                stamp += 0x20
            acc = stamp
        kind = d.kind
        if kind == _REC:
            distance: float | None = None
            if d.dist is not None:
                off, dunpack, parse = d.dist
                if dunpack is not None:
                    value = parse(dunpack(data, pos + off)[0])
                    if value is not None:
                        if scale:
                            value = float(value) / scale
                        if shift:
                            value = value - shift
                        distance = float(value)
            on_record(stamp, distance)
        elif kind != _SKIP:
            if header & 0x80:
                raise Unsure("compressed timestamp on a summary message")
            if kind != _KEEP:
                _developer(d, data=data, pos=pos, dev=dev)
            kept.append(data[pos:nxt])
        pos = nxt
    if pos != end:
        raise Unsure("message crosses the end of the data")  # pragma: no cover - guarded above
    return kept


def walk_fit(data: bytes, *, keep: frozenset[int], on_record: RecordSink) -> bytes:
    """Walk every chained FIT file in ``data``; return the synthetic stream of kept messages.

    ``on_record(timestamp, distance)`` is called for each record message in order, with
    fitdecode's values (raw FIT seconds; metres). Raises `Unsure` (and nothing else)
    where only the full fitdecode pass can say what these bytes are.
    """
    try:
        return _walk(data, keep=keep, on_record=on_record)
    except Unsure:
        raise
    except (IndexError, struct.error, KeyError, ValueError) as exc:  # pragma: no cover
        raise Unsure(f"walker error: {type(exc).__name__}: {exc}") from exc


def _walk(data: bytes, *, keep: frozenset[int], on_record: RecordSink) -> bytes:
    out: list[bytes] = []
    size = len(data)
    pos = 0
    while pos < size:
        if size - pos < 12:
            raise Unsure("bytes after the last FIT file")
        hsize, _proto, _profile_ver, body, magic = _HEADER.unpack_from(data, pos)
        if magic != b".FIT" or hsize not in (12, 14) or size - pos < hsize:
            raise Unsure("unusual FIT header")
        if hsize == 14:
            (header_crc,) = _U16.unpack_from(data, pos + 12)
            if header_crc and fast_crc(memoryview(data)[pos : pos + 12]) != header_crc:
                raise Unsure("header CRC mismatch")
        first = pos + hsize
        end = first + body
        if end + 2 > size:
            raise Unsure("FIT file ends early")
        if fast_crc(memoryview(data)[pos:end]) != _U16.unpack_from(data, end)[0]:
            raise Unsure("file CRC mismatch")
        kept = _body(data, pos=first, end=end, keep=keep, on_record=on_record)
        length = sum(len(k) for k in kept)
        out.append(_HEADER.pack(12, 0x10, 0, length, b".FIT"))
        out.extend(kept)
        out.append(b"\x00\x00")  # the reader of this stream does not check CRCs
        pos = end + 2
    return b"".join(out)
