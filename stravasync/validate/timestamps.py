"""Which absolute times are believable, reading XML (ISO-8601) times, local wall time.

A time is plausible from the FIT "absolute time" floor (0x10000000 s after the FIT
epoch 1989-12-31, i.e. 1998-07) up to two days after ``now`` (device clocks and
time zones run a little ahead). Earlier values are device garbage: FIT epoch-zero
or system-relative times, GPSBabel's 1901-12-13 (the 32-bit time_t minimum).
``is_placeholder`` tells the placeholders (a clock that was never set, counting
from an epoch) from other impossible times.

``wall_to_utc`` places a local wall-clock time (FIT ``local_date_time``) on the UTC
line in a given zone, or in this computer's zone with the rule in force on that
date (daylight saving included) when no zone is given.
"""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime, timedelta, tzinfo

__all__ = [
    "EARLIEST",
    "FIT_EPOCH_UNIX",
    "FUTURE_SLACK",
    "PLACEHOLDER_EPOCHS",
    "haversine_m",
    "is_placeholder",
    "parse_float",
    "parse_xml_time",
    "wall_to_utc",
    "window",
]

#: Seconds from the Unix epoch to the FIT epoch (1989-12-31T00:00:00Z).
FIT_EPOCH_UNIX = 631065600
#: FIT date_time values below 0x10000000 are relative (seconds since power-on).
EARLIEST = datetime.fromtimestamp(FIT_EPOCH_UNIX + 0x10000000, UTC)
FUTURE_SLACK = timedelta(days=2)
#: Unix times a clock that was never set counts from: GPSBabel's "no time" (the
#: 32-bit time_t minimum, 1901-12-13T20:45:52Z), the Unix epoch, the FIT epoch.
PLACEHOLDER_EPOCHS = (-(2**31), 0, FIT_EPOCH_UNIX)
_DAY_S = 86400

_FALLBACK = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})[T ](\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d+))?\s*"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)


def window(now: datetime | None) -> tuple[float, float]:
    """The plausible range as Unix seconds ``(earliest, latest)`` for ``now``."""
    current = now if now is not None else datetime.now(UTC)
    return EARLIEST.timestamp(), (current + FUTURE_SLACK).timestamp()


def is_placeholder(stamp: float) -> bool:
    """True for a Unix time within a day after a placeholder epoch (clock never set)."""
    return any(0 <= stamp - epoch < _DAY_S for epoch in PLACEHOLDER_EPOCHS)


def wall_to_utc(wall: datetime, zone: tzinfo | None) -> datetime:
    """The UTC instant of naive local ``wall`` time in ``zone`` (None: this computer's)."""
    if zone is not None:
        return wall.replace(tzinfo=zone).astimezone(UTC)
    # mktime applies the machine's zone rules for that date (isdst=-1: let it decide).
    fields = (*wall.timetuple()[:8], -1)
    seconds = time.mktime(time.struct_time(fields)) + wall.microsecond / 1e6
    return datetime.fromtimestamp(seconds, UTC)


def parse_xml_time(text: str | None) -> datetime | None:
    """Parse a GPX/TCX time into an aware UTC datetime (naive means UTC); None if unusable."""
    if not text:
        return None
    text = text.strip()
    value: datetime | None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        value = _parse_fallback(text)
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _parse_fallback(text: str) -> datetime | None:
    match = _FALLBACK.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    micro = int((match.group(7) or "0")[:6].ljust(6, "0"))
    zone = match.group(8)
    try:
        value = datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        value -= sign * offset
    return value


def parse_float(text: str | None) -> float | None:
    """A finite float from XML text, else None."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS84 positions."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371008.8 * math.asin(min(1.0, math.sqrt(a)))
