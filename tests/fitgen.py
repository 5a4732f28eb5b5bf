"""FIT files for the time rules, written by fit-tool: one builder per rule of the profile.

Times are given as raw FIT seconds (since 1989-12-31 00:00 UTC; below 0x10000000 is
device system time), so each fixture states exactly what the file holds. fit-tool has no switch for
compressed-timestamp headers: ``build`` sets them on fit-tool's own records before
fit-tool encodes the file and computes its CRC.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from fit_tool.data_message import DataMessage
from fit_tool.fit_file_builder import FitFileBuilder
from fit_tool.profile.messages.activity_message import ActivityMessage
from fit_tool.profile.messages.event_message import EventMessage
from fit_tool.profile.messages.file_id_message import FileIdMessage
from fit_tool.profile.messages.lap_message import LapMessage
from fit_tool.profile.messages.length_message import LengthMessage
from fit_tool.profile.messages.record_message import RecordMessage
from fit_tool.profile.messages.session_message import SessionMessage
from fit_tool.profile.messages.set_message import SetMessage
from fit_tool.profile.messages.timestamp_correlation_message import (
    TimestampCorrelationMessage,
)
from fit_tool.profile.profile_type import FileType, Manufacturer, SetType, Sport, SubSport

FIT_EPOCH_UNIX = 631065600
#: 0x10000000: FIT times below it are system time (seconds since power-on).
SYSTEM_TIME_LIMIT = 0x10000000
#: The invalid value of a uint32 (date_time) field: no time.
INVALID_TIME = 0xFFFFFFFF


def fit_seconds(value: datetime) -> int:
    """The raw FIT time of an aware datetime."""
    return round(value.timestamp()) - FIT_EPOCH_UNIX


def fit_datetime(raw: int) -> datetime:
    """The aware UTC datetime of a raw FIT time."""
    return datetime.fromtimestamp(FIT_EPOCH_UNIX + raw, UTC)


def _ms(raw: int) -> int:
    """fit-tool takes date_time values as Unix milliseconds."""
    return (FIT_EPOCH_UNIX + raw) * 1000


def file_id(*, created: int, file_type: FileType = FileType.ACTIVITY) -> FileIdMessage:
    """A file_id of an activity (or ``file_type``) created at raw time ``created``."""
    message = FileIdMessage()
    message.type = file_type
    message.manufacturer = Manufacturer.DEVELOPMENT.value
    message.product = 0
    message.serial_number = 0x12345678
    message.time_created = _ms(created)
    return message


def record(stamp: int | None, *, distance: float, local_id: int = 0) -> RecordMessage:
    """A record at raw time ``stamp`` (None: no timestamp field) with a distance."""
    message = RecordMessage(local_id=local_id)
    if stamp is not None:
        message.timestamp = _ms(stamp)
    message.distance = distance
    message.heart_rate = 120
    return message


def untimed_records(count: int) -> list[RecordMessage]:
    """``count`` records whose timestamp holds the invalid value 0xFFFFFFFF, as
    FR910XT-era pool swims write them (25 m apart)."""
    return [record(INVALID_TIME, distance=float(i * 25)) for i in range(count)]


def lap(*, start: int, elapsed: float, distance: float) -> LapMessage:
    """A lap from raw time ``start`` lasting ``elapsed`` seconds."""
    message = LapMessage()
    message.timestamp = _ms(start + round(elapsed))
    message.start_time = _ms(start)
    message.total_elapsed_time = elapsed
    message.total_timer_time = elapsed
    message.total_distance = distance
    return message


def session(
    *,
    start: int,
    elapsed: float,
    distance: float,
    sport: Sport = Sport.RUNNING,
    sub_sport: SubSport | None = None,
) -> SessionMessage:
    """A session from raw time ``start`` lasting ``elapsed`` seconds."""
    message = SessionMessage()
    message.timestamp = _ms(start + round(elapsed))
    message.start_time = _ms(start)
    message.total_elapsed_time = elapsed
    message.total_timer_time = elapsed
    message.total_distance = distance
    message.sport = sport
    if sub_sport is not None:
        message.sub_sport = sub_sport
    return message


def length(*, start: int, elapsed: float) -> LengthMessage:
    """A pool length from raw time ``start``."""
    message = LengthMessage()
    message.timestamp = _ms(start + round(elapsed))
    message.start_time = _ms(start)
    message.total_elapsed_time = elapsed
    message.total_timer_time = elapsed
    return message


def strength_set(*, start: int | None, duration: float) -> SetMessage:
    """A strength-training set (``set`` message); ``start`` None: untimed."""
    message = SetMessage()
    if start is not None:
        message.timestamp = _ms(start + round(duration))
        message.start_time = _ms(start)
    message.duration = duration
    message.repetitions = 10
    message.set_type = SetType.ACTIVE
    return message


def activity(*, stamp: int, local: int | None = None) -> ActivityMessage:
    """The activity message at raw ``stamp``, with ``local_timestamp`` raw ``local``."""
    message = ActivityMessage()
    message.timestamp = _ms(stamp)
    if local is not None:
        message.local_timestamp = local
    message.num_sessions = 1
    return message


def correlation(*, system: int, utc: int, local: int | None = None) -> TimestampCorrelationMessage:
    """A timestamp_correlation: system time ``system`` is UTC ``utc`` (and ``local``)."""
    message = TimestampCorrelationMessage()
    message.system_timestamp = _ms(system)
    message.timestamp = _ms(utc)
    if local is not None:
        message.local_timestamp = local
    return message


def event(*, stamp: int) -> EventMessage:
    """An event message (timer start) at raw ``stamp``: a full timestamp between records."""
    message = EventMessage()
    message.timestamp = _ms(stamp)
    message.event_type = 0  # start
    message.event = 0  # timer
    return message


def build(messages: Iterable[DataMessage], *, compressed: Sequence[int] = ()) -> bytes:
    """Encode ``messages`` as one FIT file.

    ``compressed`` lists raw times: each is written, in order, as a record with a
    compressed-timestamp header (local message 1, no timestamp field) whose 5-bit
    offset is that time's low 5 bits, appended after ``messages``.
    """
    builder = FitFileBuilder(auto_define=True, min_string_size=50)
    for message in messages:
        builder.add(message)
    for i, stamp in enumerate(compressed):
        builder.add(record(None, distance=float(i), local_id=1))
        header = builder.records[-1].header
        header.is_time_compressed = True
        header.time_offset_seconds = stamp & 0x1F
    return bytes(builder.build().to_bytes())


def timed_run(*, start: int, points: int, local_id: int = 0) -> list[RecordMessage]:
    """``points`` records a second apart from raw ``start``, 3 m apart."""
    return [record(start + i, distance=float(i * 3), local_id=local_id) for i in range(points)]


def time_rule_files(start: datetime) -> dict[str, bytes]:
    """One file per FIT time rule, around ``start`` (see tests/test_validate_fit_times.py)."""
    t = fit_seconds(start)
    base = (t | 0x1F) - 1  # low 5 bits 30: the second compressed record rolls over
    swim = session(
        start=t, elapsed=100.0, distance=75.0, sport=Sport.SWIMMING, sub_sport=SubSport.LAP_SWIMMING
    )
    strength = session(
        start=t,
        elapsed=90.0,
        distance=0.0,
        sport=Sport.TRAINING,
        sub_sport=SubSport.STRENGTH_TRAINING,
    )
    return {
        "compressed timestamps": build(
            [file_id(created=base), record(base, distance=0.0)],
            compressed=[base + 1, base + 2, base + 3, base + 33],
        ),
        "compressed after an event": build(
            [file_id(created=base), record(base, distance=0.0), event(stamp=base + 100)],
            compressed=[base + 101, base + 102],
        ),
        "system time + correlation": build(
            [
                file_id(created=1000),
                *timed_run(start=1000, points=5),
                correlation(system=1000, utc=t),
            ]
        ),
        "system time + correlation + local": build(
            [
                file_id(created=1000),
                *timed_run(start=1000, points=5),
                correlation(system=1000, utc=t),
                activity(stamp=1004, local=t + 7200 + 4),
            ]
        ),
        "system time + activity local": build(
            [
                file_id(created=1000),
                *timed_run(start=1000, points=5),
                activity(stamp=1004, local=t + 4),
            ]
        ),
        "system time alone": build(
            [file_id(created=1000), *timed_run(start=1000, points=5), activity(stamp=1004)]
        ),
        "system time misplaced": build(
            [
                file_id(created=1000),
                *timed_run(start=1000, points=5),
                correlation(system=1000, utc=0x7FFFFFFF),
            ]
        ),
        "utc + local_timestamp": build(
            [
                file_id(created=t),
                *timed_run(start=t, points=5),
                activity(stamp=t + 4, local=t + 7200 + 4),
            ]
        ),
        "future": build([file_id(created=t), *timed_run(start=t + 10 * 365 * 86400, points=5)]),
        "untimed pool swim": build(
            [
                file_id(created=t),
                *untimed_records(3),
                length(start=t, elapsed=50.0),
                length(start=t + 50, elapsed=50.0),
                lap(start=t, elapsed=100.0, distance=75.0),
                swim,
            ]
        ),
        "untimed swim by lengths": build(
            [file_id(created=t), *untimed_records(3), length(start=t, elapsed=50.0)]
        ),
        "untimed swim, nothing timed": build(
            [
                file_id(created=t),
                *untimed_records(3),
                session(start=1000, elapsed=1.0, distance=1.0, sport=Sport.SWIMMING),
            ]
        ),
        "untimed run": build(
            [
                file_id(created=t),
                *untimed_records(3),
                session(start=t, elapsed=100.0, distance=75.0),
            ]
        ),
        "records, no session or lap": build([file_id(created=t), *timed_run(start=t, points=5)]),
        "sets only": build(
            [
                file_id(created=t),
                strength_set(start=t, duration=30.0),
                strength_set(start=t + 60, duration=30.0),
            ]
        ),
        "sets + untimed records": build(
            [
                file_id(created=t),
                *untimed_records(2),
                strength_set(start=t, duration=30.0),
                strength,
            ]
        ),
        "untimed sets + untimed records": build(
            [file_id(created=t), *untimed_records(2), strength_set(start=None, duration=30.0)]
        ),
    }
