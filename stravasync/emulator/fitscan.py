"""Owns the emulator's minimal walk over FIT messages: the file type and the start time.

Just enough of the FIT protocol for what Strava's processing needs from a file:
definition messages (with developer fields and either byte order), normal and
compressed-timestamp headers, `file_id.type`, and the workout's start time. The
start time is the first record's timestamp; failing that the session's (then a
lap's) `start_time`, then any other message's timestamp, then `file_id.time_created`.
Times below 0x10000000 are relative (device uptime) and never taken as a start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FIT_EPOCH = 631065600
"""Unix time of the FIT epoch, 1989-12-31T00:00:00Z."""
MIN_ABSOLUTE = 0x10000000
"""FIT times below this are relative to an unknown moment."""
INVALID_UINT32 = 0xFFFFFFFF
MAX_MESSAGES = 500_000

_FILE_ID, _SESSION, _LAP, _RECORD = 0, 18, 19, 20
_NOT_WORKOUT_TIME = frozenset({0, 23, 49})  # file_id, device_info, file_creator
_TIMESTAMP, _START_TIME, _TIME_CREATED, _TYPE = 253, 2, 4, 0


@dataclass(frozen=True)
class _Definition:
    global_num: int
    fields: tuple[tuple[int, int], ...]
    dev_size: int
    big_endian: bool


@dataclass
class FitFacts:
    """What the walk found (None where it found nothing)."""

    file_type: int | None = None
    """`file_id.type` of the first file_id message."""
    record_time: int | None = None
    """FIT time of the first record with an absolute timestamp."""
    session_start: int | None = None
    """`start_time` of the first session."""
    lap_start: int | None = None
    """`start_time` of the first lap."""
    other_time: int | None = None
    """The first absolute timestamp of any other workout message."""
    time_created: int | None = None
    """`file_id.time_created`."""
    _seen_file_id: bool = field(default=False, repr=False)

    def start_unix(self) -> float | None:
        """The workout's start as Unix time, by the order of preference above."""
        for value in (
            self.record_time,
            self.session_start,
            self.lap_start,
            self.other_time,
            self.time_created,
        ):
            if value is not None:
                return float(value + FIT_EPOCH)
        return None


def scan_fit(records: bytes) -> FitFacts:
    """Walk FIT `records` (the data section, without header and CRC)."""
    facts = FitFacts()
    definitions: dict[int, _Definition] = {}
    offset, last_time = 0, 0
    try:
        for _ in range(MAX_MESSAGES):
            if offset >= len(records) or facts.record_time is not None:
                break
            header = records[offset]
            offset += 1
            if header & 0x80:  # compressed-timestamp data message
                definition = definitions[(header >> 5) & 0x03]
                last_time = _rolled(last_time, header & 0x1F)
                compressed: int | None = last_time
            elif header & 0x40:  # definition message
                offset = _read_definition(
                    records, offset=offset, header=header, definitions=definitions
                )
                continue
            else:
                definition = definitions[header & 0x0F]
                compressed = None
            values = _values(records, offset=offset, definition=definition)
            offset += sum(size for _, size in definition.fields) + definition.dev_size
            if offset > len(records):
                break
            stamp = values.get(_TIMESTAMP, compressed)
            if stamp is not None and _absolute(stamp):
                last_time = stamp
            _note(facts, definition.global_num, values=values, stamp=stamp)
    except (IndexError, KeyError):
        pass  # truncated or garbled: keep what was found
    return facts


def _rolled(last_time: int, offset: int) -> int:
    """A compressed header's time: the 5-bit offset rolled over onto the last full time."""
    base = last_time & ~0x1F
    return base + offset if offset >= (last_time & 0x1F) else base + offset + 0x20


def _absolute(value: int) -> bool:
    return MIN_ABSOLUTE <= value < INVALID_UINT32


def _note(facts: FitFacts, global_num: int, *, values: dict[int, int], stamp: int | None) -> None:
    if global_num == _FILE_ID and not facts._seen_file_id:
        facts._seen_file_id = True
        file_type = values.get(_TYPE)
        facts.file_type = None if file_type in (None, 0xFF) else file_type
        created = values.get(_TIME_CREATED)
        if created is not None and _absolute(created):
            facts.time_created = created
        return
    start = values.get(_START_TIME)
    if global_num == _RECORD and stamp is not None and _absolute(stamp):
        facts.record_time = stamp
    elif global_num == _SESSION and facts.session_start is None and start and _absolute(start):
        facts.session_start = start
    elif global_num == _LAP and facts.lap_start is None and start and _absolute(start):
        facts.lap_start = start
    elif global_num not in _NOT_WORKOUT_TIME and facts.other_time is None and stamp is not None:
        facts.other_time = stamp if _absolute(stamp) else None


def _values(records: bytes, *, offset: int, definition: _Definition) -> dict[int, int]:
    """The 1-, 2- and 4-byte fields the walk needs (timestamps, start_time, type)."""
    wanted = {_TIMESTAMP, _START_TIME, _TIME_CREATED, _TYPE}
    order: Literal["big", "little"] = "big" if definition.big_endian else "little"
    values: dict[int, int] = {}
    position = offset
    for number, size in definition.fields:
        if number in wanted and size in (1, 2, 4):
            chunk = records[position : position + size]
            if len(chunk) == size:
                values[number] = int.from_bytes(chunk, order)
        position += size
    return values


def _read_definition(
    records: bytes, *, offset: int, header: int, definitions: dict[int, _Definition]
) -> int:
    big_endian = records[offset + 1] == 1
    global_num = int.from_bytes(records[offset + 2 : offset + 4], "big" if big_endian else "little")
    count = records[offset + 4]
    offset += 5
    fields = tuple((records[offset + 3 * i], records[offset + 3 * i + 1]) for i in range(count))
    offset += 3 * count
    dev_size = 0
    if header & 0x20:
        dev_count = records[offset]
        dev_size = sum(records[offset + 1 + 3 * i + 1] for i in range(dev_count))
        offset += 1 + 3 * dev_count
    if offset > len(records):
        raise IndexError("definition runs past the end")
    definitions[header & 0x0F] = _Definition(global_num, fields, dev_size, big_endian)
    return offset
