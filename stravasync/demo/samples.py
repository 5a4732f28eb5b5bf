"""Small sample workouts made by the package itself, for the demo and for tests.

Includes a minimal FIT encoder: a 14-byte header with its CRC, definition and data
messages for ``file_id`` (type activity), ``record`` (time, position, distance,
heart rate), one ``lap``, one ``session`` and the ``activity`` message, then the
file CRC (the CRC-16 of the FIT SDK). GPX and TCX samples carry the same track.
Every sample is a loop around a park in Leiden; each call with a different
``start`` is a different workout.
"""

from __future__ import annotations

import gzip
import math
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = [
    "demo_files",
    "fit_crc16",
    "sample_broken",
    "sample_fit",
    "sample_gpx",
    "sample_tcx",
]

_FIT_EPOCH = datetime(1989, 12, 31, tzinfo=UTC)
_CRC_TABLE = (
    0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401,
    0xA001, 0x6C00, 0x7800, 0xB401, 0x5000, 0x9C01, 0x8801, 0x4400,
)  # fmt: skip

# FIT base types
_ENUM, _UINT8, _UINT16, _SINT32, _UINT32, _UINT32Z = 0x00, 0x02, 0x84, 0x85, 0x86, 0x8C
_FORMATS = {_ENUM: "B", _UINT8: "B", _UINT16: "H", _SINT32: "i", _UINT32: "I", _UINT32Z: "I"}

_STEP_S = 10
_CENTRE = (52.1601, 4.4970)


@dataclass(frozen=True)
class _Sport:
    fit: int  # FIT sport enum
    tcx: str  # TCX Activity/@Sport
    gpx: str  # GPX trk/type (Garmin Connect word)
    speed: float  # metres per second


_SPORTS = {
    "run": _Sport(1, "Running", "running", 3.0),
    "ride": _Sport(2, "Biking", "cycling", 7.5),
    "walk": _Sport(11, "Other", "walking", 1.4),
    "hike": _Sport(17, "Other", "hiking", 1.2),
    "swim": _Sport(5, "Other", "swimming", 1.0),
}


def fit_crc16(data: bytes, crc: int = 0) -> int:
    """The FIT SDK's CRC-16 of ``data``, continuing from ``crc``."""
    for byte in data:
        tmp = _CRC_TABLE[crc & 0xF]
        crc = ((crc >> 4) & 0x0FFF) ^ tmp ^ _CRC_TABLE[byte & 0xF]
        tmp = _CRC_TABLE[crc & 0xF]
        crc = ((crc >> 4) & 0x0FFF) ^ tmp ^ _CRC_TABLE[(byte >> 4) & 0xF]
    return crc


@dataclass(frozen=True)
class _Point:
    when: datetime
    lat: float
    lon: float
    distance: float
    heart_rate: int


def _track(start: datetime, sport: str, points: int) -> tuple[_Sport, list[_Point]]:
    if sport not in _SPORTS:
        raise ValueError(f"sample sport must be one of {sorted(_SPORTS)}")
    kind = _SPORTS[sport]
    start = start.astimezone(UTC).replace(microsecond=0)
    radius = max(kind.speed * _STEP_S * points / (2 * math.pi), 50.0)
    track: list[_Point] = []
    distance = 0.0
    for i in range(points):
        angle = 2 * math.pi * i / max(points, 1)
        lat = _CENTRE[0] + radius * math.sin(angle) / 111_320
        lon = _CENTRE[1] + radius * (math.cos(angle) - 1) / (111_320 * math.cos(math.radians(lat)))
        if track:
            distance += _metres(track[-1].lat, track[-1].lon, lat, lon)
        hr = 110 + int(30 * i / max(points, 1))
        track.append(_Point(start + timedelta(seconds=i * _STEP_S), lat, lon, distance, hr))
    return kind, track


def _metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371008.8 * math.asin(min(1.0, math.sqrt(a)))


class _FitWriter:
    """Definition + data messages, one local message number per global message."""

    def __init__(self) -> None:
        self.body = bytearray()
        self.defined: dict[int, tuple[tuple[int, int], ...]] = {}

    def message(self, global_num: int, fields: list[tuple[int, int, int]]) -> None:
        """Append a data message; ``fields`` are (field number, base type, value)."""
        local = list(self.defined).index(global_num) if global_num in self.defined else None
        shape = tuple((num, base) for num, base, _ in fields)
        if local is None or self.defined[global_num] != shape:
            if local is None:
                local = len(self.defined)
            self.defined[global_num] = shape
            self.body += struct.pack("<BBBHB", 0x40 | local, 0, 0, global_num, len(fields))
            for num, base in shape:
                self.body += struct.pack("<BBB", num, struct.calcsize(_FORMATS[base]), base)
        self.body.append(local)
        for _, base, value in fields:
            self.body += struct.pack("<" + _FORMATS[base], value)

    def finish(self) -> bytes:
        header = struct.pack("<BBHI4s", 14, 0x20, 2132, len(self.body), b".FIT")
        header += struct.pack("<H", fit_crc16(header))
        data = header + bytes(self.body)
        return data + struct.pack("<H", fit_crc16(data))


def _fit_time(value: datetime) -> int:
    return int((value - _FIT_EPOCH).total_seconds())


def _semicircles(degrees: float) -> int:
    return round(degrees * (2**31) / 180)


def sample_fit(*, start: datetime, sport: str = "run", points: int = 60) -> bytes:
    """A small, valid FIT activity of ``points`` records starting at ``start``."""
    kind, track = _track(start, sport, points)
    first, last = _fit_time(track[0].when), _fit_time(track[-1].when)
    elapsed_ms = (last - first) * 1000
    total_cm = round(track[-1].distance * 100)
    w = _FitWriter()
    # file_id: type=activity(4), manufacturer=development(255), product, serial, time_created
    w.message(
        0,
        [
            (0, _ENUM, 4),
            (1, _UINT16, 255),
            (2, _UINT16, 1),
            (3, _UINT32Z, 1234),
            (4, _UINT32, first),
        ],
    )
    # event: timer(0) start(0)
    w.message(21, [(253, _UINT32, first), (0, _ENUM, 0), (1, _ENUM, 0)])
    for p in track:
        w.message(
            20,
            [
                (253, _UINT32, _fit_time(p.when)),
                (0, _SINT32, _semicircles(p.lat)),
                (1, _SINT32, _semicircles(p.lon)),
                (5, _UINT32, round(p.distance * 100)),
                (3, _UINT8, p.heart_rate),
            ],
        )
    # event: timer(0) stop_all(4)
    w.message(21, [(253, _UINT32, last), (0, _ENUM, 0), (1, _ENUM, 4)])
    summary = [
        (253, _UINT32, last),
        (2, _UINT32, first),
        (7, _UINT32, elapsed_ms),
        (8, _UINT32, elapsed_ms),
        (9, _UINT32, total_cm),
    ]
    # lap: event=lap(9), event_type=stop(1)
    w.message(19, [*summary, (0, _ENUM, 9), (1, _ENUM, 1)])
    # session: event=session(8), stop, sport, sub_sport=generic(0), first_lap_index, num_laps
    w.message(
        18,
        [
            *summary,
            (0, _ENUM, 8),
            (1, _ENUM, 1),
            (5, _ENUM, kind.fit),
            (6, _ENUM, 0),
            (25, _UINT16, 0),
            (26, _UINT16, 1),
        ],
    )
    # activity: total_timer_time, num_sessions, type=manual(0), event=activity(26), stop
    w.message(
        34,
        [
            (253, _UINT32, last),
            (0, _UINT32, elapsed_ms),
            (1, _UINT16, 1),
            (2, _ENUM, 0),
            (3, _ENUM, 26),
            (4, _ENUM, 1),
        ],
    )
    return w.finish()


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def sample_gpx(*, start: datetime, sport: str = "run", points: int = 60) -> bytes:
    """A small, valid GPX 1.1 track of ``points`` timed points starting at ``start``."""
    kind, track = _track(start, sport, points)
    rows = "".join(
        f'<trkpt lat="{p.lat:.7f}" lon="{p.lon:.7f}"><ele>1.0</ele>'
        f"<time>{_iso(p.when)}</time></trkpt>\n"
        for p in track
    )
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gpx version="1.1" creator="stravasync sample" '
        'xmlns="http://www.topografix.com/GPX/1/1">\n'
        f"<metadata><time>{_iso(track[0].when)}</time></metadata>\n"
        f"<trk><name>Sample {sport}</name><type>{kind.gpx}</type><trkseg>\n"
        f"{rows}</trkseg></trk>\n</gpx>\n"
    )
    return text.encode()


def sample_tcx(*, start: datetime, sport: str = "run", points: int = 60) -> bytes:
    """A small, valid TCX activity of ``points`` trackpoints starting at ``start``."""
    kind, track = _track(start, sport, points)
    elapsed = (track[-1].when - track[0].when).total_seconds()
    rows = "".join(
        f"<Trackpoint><Time>{_iso(p.when)}</Time><Position>"
        f"<LatitudeDegrees>{p.lat:.7f}</LatitudeDegrees>"
        f"<LongitudeDegrees>{p.lon:.7f}</LongitudeDegrees></Position>"
        f"<DistanceMeters>{p.distance:.1f}</DistanceMeters>"
        f"<HeartRateBpm><Value>{p.heart_rate}</Value></HeartRateBpm></Trackpoint>\n"
        for p in track
    )
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<TrainingCenterDatabase "
        'xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2">\n'
        f'<Activities><Activity Sport="{kind.tcx}"><Id>{_iso(track[0].when)}</Id>\n'
        f'<Lap StartTime="{_iso(track[0].when)}"><TotalTimeSeconds>{elapsed:.1f}'
        f"</TotalTimeSeconds><DistanceMeters>{track[-1].distance:.1f}</DistanceMeters>"
        "<Intensity>Active</Intensity><TriggerMethod>Manual</TriggerMethod><Track>\n"
        f"{rows}</Track></Lap>\n"
        '<Creator xsi:type="Device_t" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<Name>stravasync sample</Name></Creator>\n"
        "</Activity></Activities>\n</TrainingCenterDatabase>\n"
    )
    return text.encode()


def sample_broken() -> bytes:
    """A FIT activity whose file CRC is wrong (the last two bytes flipped)."""
    data = bytearray(sample_fit(start=datetime(2024, 1, 1, 8, tzinfo=UTC), points=10))
    data[-1] ^= 0xFF
    data[-2] ^= 0xFF
    return bytes(data)


def demo_files(start: datetime, *, copy: bool = False) -> list[tuple[str, bytes]]:
    """Sample files for the demo: three different workouts, a broken FIT, a route.

    Workouts start 3 hours apart from ``start``; ``copy=True`` adds a second copy of
    the first workout under another name (the same activity, to show duplicates).
    """
    start = start.astimezone(UTC)
    files = [
        ("morning-run.fit", sample_fit(start=start, sport="run")),
        ("lunch-ride.gpx", sample_gpx(start=start + timedelta(hours=3), sport="ride")),
        (
            "evening-run.tcx.gz",
            gzip.compress(sample_tcx(start=start + timedelta(hours=6)), mtime=0),
        ),
        ("broken.fit", sample_broken()),
        ("planned-route.gpx", _route_gpx()),
    ]
    if copy:
        files.append(("morning-run-copy.fit", files[0][1]))
    return files


def _route_gpx() -> bytes:
    """A GPX with a route and no track: not an activity (skipped)."""
    points = "".join(
        f'<rtept lat="{_CENTRE[0] + i / 1000:.6f}" lon="{_CENTRE[1]:.6f}"/>' for i in range(5)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gpx version="1.1" creator="stravasync sample" '
        'xmlns="http://www.topografix.com/GPX/1/1">'
        f"<rte><name>Planned</name>{points}</rte></gpx>\n"
    ).encode()
