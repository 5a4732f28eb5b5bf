"""Workout files made by code for the tests (FIT via fit-tool, GPX/TCX text), and the corpus.

Nothing here is a hand-edited binary: broken files are made by cutting or flipping
bytes of generated valid ones, so each test says what it broke.
"""

from __future__ import annotations

import csv
import functools
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fit_tool.fit_file_builder import FitFileBuilder
from fit_tool.profile.messages.activity_message import ActivityMessage
from fit_tool.profile.messages.file_id_message import FileIdMessage
from fit_tool.profile.messages.lap_message import LapMessage
from fit_tool.profile.messages.record_message import RecordMessage
from fit_tool.profile.messages.session_message import SessionMessage
from fit_tool.profile.profile_type import FileType, Manufacturer, Sport

from stravasync.config.settings import Config, config_from_dict
from stravasync.demo.samples import fit_crc16
from stravasync.validate import Verdict

START = datetime(2024, 5, 1, 7, 30, tzinfo=UTC)
#: A fixed "now" so verdicts on plausible times never depend on the clock.
NOW = datetime(2025, 1, 1, tzinfo=UTC)
CORPUS = (Path(__file__).parents[1] / ".." / "shared" / "corpus").resolve()

EXPECTED = {
    "valid": Verdict.OK,
    "valid-quirk": Verdict.OK,
    "invalid": Verdict.INVALID,
    "no-timestamps": Verdict.INVALID,
    "not-activity": Verdict.SKIP,
}
#: Files where we decide differently from (or where) the manifest leaves it open.
JUDGEMENTS = {
    # degenerate: one point has no duration and no distance; Strava needs a track.
    "gpx_apple-health_1point.gpx": Verdict.INVALID,
    # degenerate: lap summaries without trackpoints carry no per-point time, which
    # Strava requires of TCX ("Time information is missing").
    "tcx_laps-no-trackpoints.tcx": Verdict.INVALID,
    # manifest says valid, but all 184 points share the time 1901-12-13T20:45:52Z,
    # the 32-bit time_t minimum GPSBabel writes for "no time": nothing to date the
    # activity by (uploaded, it would become a 1901 activity of zero duration). A
    # deliberate difference from the manifest, noted on the validation issue.
    "gpx_gpsbabel_hike.gpx": Verdict.INVALID,
}


def _manifest() -> list[tuple[str, str]]:
    """(file, expected) for each row of the corpus MANIFEST.tsv; none where it is absent."""
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    with manifest.open(newline="") as handle:
        return [(row["file"], row["expected"]) for row in csv.DictReader(handle, delimiter="\t")]


CORPUS_ROWS = _manifest()


def _ms(value: datetime) -> int:
    return round(value.timestamp() * 1000)


def fit_bytes(
    *,
    file_type: FileType | None = FileType.ACTIVITY,
    start: datetime = START,
    points: int = 30,
    sport: Sport = Sport.RUNNING,
    with_summary: bool = True,
) -> bytes:
    """A FIT file written by fit-tool: file_id, records, lap, session, activity."""
    builder = FitFileBuilder(auto_define=True, min_string_size=50)
    file_id = FileIdMessage()
    if file_type is not None:
        file_id.type = file_type
    file_id.manufacturer = Manufacturer.DEVELOPMENT.value
    file_id.product = 0
    file_id.time_created = _ms(start)
    file_id.serial_number = 0x12345678
    builder.add(file_id)
    last = start
    for i in range(points):
        record = RecordMessage()
        last = start + timedelta(seconds=i)
        record.timestamp = _ms(last)
        record.position_lat = 52.16 + i * 1e-5
        record.position_long = 4.49 + i * 1e-5
        record.distance = float(i * 3)
        record.heart_rate = 120
        builder.add(record)
    if with_summary:
        elapsed = (last - start).total_seconds()
        lap = LapMessage()
        lap.timestamp = _ms(last)
        lap.start_time = _ms(start)
        lap.total_elapsed_time = elapsed
        lap.total_timer_time = elapsed
        builder.add(lap)
        session = SessionMessage()
        session.timestamp = _ms(last)
        session.start_time = _ms(start)
        session.total_elapsed_time = elapsed
        session.total_timer_time = elapsed
        session.total_distance = float((points - 1) * 3)
        session.sport = sport
        builder.add(session)
        activity = ActivityMessage()
        activity.timestamp = _ms(last)
        activity.total_timer_time = elapsed
        activity.num_sessions = 1
        builder.add(activity)
    return bytes(builder.build().to_bytes())


def gpx_text(
    *,
    start: datetime = START,
    points: int = 20,
    timed: int | None = None,
    sport: str = "cycling",
    times: list[str] | None = None,
) -> str:
    """A GPX 1.1 track; only the first ``timed`` points carry a time (default all)."""
    timed = points if timed is None else timed
    rows = []
    for i in range(points):
        if times is not None:
            stamp = f"<time>{times[i]}</time>"
        elif i < timed:
            stamp = f"<time>{(start + timedelta(seconds=i)).strftime('%Y-%m-%dT%H:%M:%SZ')}</time>"
        else:
            stamp = ""
        rows.append(f'<trkpt lat="{52.16 + i * 1e-4:.6f}" lon="4.49">{stamp}</trkpt>')
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gpx version="1.1" creator="fixture" xmlns="http://www.topografix.com/GPX/1/1">'
        f"<trk><type>{sport}</type><trkseg>{''.join(rows)}</trkseg></trk></gpx>\n"
    )


def numbered_gpx(n: int) -> bytes:
    """A small valid GPX whose content differs for each ``n`` (so no duplicates)."""
    points = "".join(
        f'<trkpt lat="{45 + i * 0.001 + n * 0.01:.5f}" lon="{7 + i * 0.001:.5f}">'
        f"<ele>100</ele><time>2026-01-{1 + n % 28:02d}T{n % 24:02d}:{i:02d}:00Z</time></trkpt>"
        for i in range(10)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1">'
        f"<trk><name>run {n}</name><trkseg>{points}</trkseg></trk></gpx>"
    ).encode()


def tcx_text(*, start: datetime = START, points: int = 20, sport: str = "Biking") -> str:
    """A TCX activity with one lap of ``points`` timed trackpoints."""
    rows = "".join(
        f"<Trackpoint><Time>{(start + timedelta(seconds=i)).strftime('%Y-%m-%dT%H:%M:%SZ')}"
        f"</Time><DistanceMeters>{i * 5.0}</DistanceMeters></Trackpoint>"
        for i in range(points)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/'
        'TrainingCenterDatabase/v2"><Activities>'
        f'<Activity Sport="{sport}"><Id>{start.strftime("%Y-%m-%dT%H:%M:%SZ")}</Id>'
        f'<Lap StartTime="{start.strftime("%Y-%m-%dT%H:%M:%SZ")}"><Track>{rows}</Track></Lap>'
        "</Activity></Activities></TrainingCenterDatabase>\n"
    )


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE gpx [\n<!ENTITY a "aaaaaaaaaaaaaaaaaaaa">\n'
    + b"".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">\n'.encode() for i in range(9)
    )
    + b']>\n<gpx version="1.1"><trk><name>&j;</name></trk></gpx>\n'
)

EXTERNAL_FILE = (
    b'<?xml version="1.0"?>\n<!DOCTYPE gpx [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    b'<gpx version="1.1"><trk><name>&xxe;</name></trk></gpx>\n'
)

EXTERNAL_HTTP = (
    b'<?xml version="1.0"?>\n<!DOCTYPE TrainingCenterDatabase [\n'
    b'<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>\n'
    b"<TrainingCenterDatabase><Activities/></TrainingCenterDatabase>\n"
)


@functools.cache
def gzip_bomb(mib: int) -> bytes:
    """Gzip of ``mib`` MiB of zero bytes (about 1 KB compressed per inflated MiB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b"\0" * (1024 * 1024)
    parts = [compressor.compress(chunk) for _ in range(mib)]
    return b"".join(parts) + compressor.flush()


def fit_chain_ok(data: bytes) -> bool:
    """Independent check that every chained FIT file's header and file CRC verify."""
    pos = 0
    while pos < len(data):
        if len(data) - pos < 12 or data[pos + 8 : pos + 12] != b".FIT":
            return False
        header_size = data[pos]
        body = int.from_bytes(data[pos + 4 : pos + 8], "little")
        end = pos + header_size + body
        if header_size < 12 or end + 2 > len(data):
            return False
        if header_size >= 14:
            header_crc = int.from_bytes(data[pos + 12 : pos + 14], "little")
            if header_crc and header_crc != fit_crc16(data[pos : pos + 12]):
                return False
        if fit_crc16(data[pos:end]) != int.from_bytes(data[end : end + 2], "little"):
            return False
        pos = end + 2
    return pos > 0


def watched_config(tmp_path: Path) -> Config:
    """A config watching ``tmp_path/watch`` (made), its state in ``tmp_path/state``."""
    (tmp_path / "watch").mkdir()
    return config_from_dict(
        {"strava": {"client_id": "1", "client_secret": "s"},
         "watch": {"paths": [str(tmp_path / "watch")]},
         "state": {"dir": str(tmp_path / "state")}},
        env={"HOME": str(tmp_path)}, source=tmp_path / "config.toml")
