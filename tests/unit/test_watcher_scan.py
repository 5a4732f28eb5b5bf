"""Tests for stravasync.intake.watcher without an observer: which names are workouts, and the
startup scan (odd names included)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fitdecode.utils import compute_crc

from stravasync.intake.completeness import proves_complete
from stravasync.intake.watcher import Watcher, is_workout_name

SETTLE = 0.3
GPX = (
    b'<?xml version="1.0"?>\n<gpx version="1.1" creator="t">\n<trk><trkseg>\n'
    + b'<trkpt lat="1.0" lon="2.0"><time>2024-05-01T10:00:00Z</time></trkpt>\n' * 400
    + b"</trkseg></trk>\n</gpx>\n"
)


def make_fit(payload: bytes) -> bytes:
    """Build a FIT file around ``payload`` (header sizes and CRC computed by fitdecode)."""
    header = bytes([12, 0x20]) + (2132).to_bytes(2, "little")
    body = header + len(payload).to_bytes(4, "little") + b".FIT" + payload
    return body + int(compute_crc(body)).to_bytes(2, "little")


FIT = make_fit(bytes(range(256)) * 40)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ride.fit", True),
        ("RIDE.FIT", True),
        ("run.gpx", True),
        ("run.TCX.gz", True),
        ("a.fit.gz", True),
        ("a.fit.part", False),
        ("a.fit.tmp", False),
        ("a.fit~", False),
        ("a.gpx.crdownload", False),
        ("a.tcx.partial", False),
        (".a.fit", False),
        ("notes.txt", False),
        ("fit", False),
        ("archive.gz", False),
    ],
)
def test_is_workout_name(name: str, expected: bool) -> None:
    """Workout names are .fit/.gpx/.tcx (maybe .gz), any case; temp and dot names are not."""
    assert expected == is_workout_name(name)


def test_scan_lists_workout_files(tmp_path: Path) -> None:
    """scan() lists every workout-named file under the paths, recursively per config."""
    one, two = tmp_path / "one", tmp_path / "two"
    (one / "sub").mkdir(parents=True)
    two.mkdir()
    for path in [
        one / "a.fit",
        one / "sub" / "b.GPX",
        two / "c.tcx.gz",
        one / "x.fit.part",
        one / ".h.fit",
    ]:
        path.write_bytes(b"x")
    (one / "dir.fit").mkdir()
    missing = tmp_path / "not-plugged-in"
    rec = Watcher(paths=[one, two, missing], recursive=True, settle_seconds=SETTLE, on_ready=print)
    flat = Watcher(paths=[one], recursive=False, settle_seconds=SETTLE, on_ready=print)
    resolved = tmp_path.resolve()
    assert [
        resolved / "one/a.fit",
        resolved / "one/sub/b.GPX",
        resolved / "two/c.tcx.gz",
    ] == rec.scan()
    assert [resolved / "one/a.fit"] == flat.scan()


LATIN = os.fsdecode(b"Ger\xe4t")  # 'Gerät' written by Windows on a FAT device: not UTF-8


def test_non_utf8_names_at_startup_do_not_stop_the_scan(tmp_path: Path) -> None:
    """A Latin-1 file name beside valid files: scan lists all of them, names kept losslessly."""
    folder = tmp_path / "Activity"
    folder.mkdir()
    names = [f"ok-{i}.fit" for i in range(5)] + [f"{LATIN}.fit"]
    for name in names:
        (folder / name).write_bytes(FIT)
    (folder / LATIN).mkdir()
    (folder / LATIN / "inner.gpx").write_bytes(GPX)
    watcher = Watcher(paths=[folder], recursive=True, settle_seconds=SETTLE, on_ready=print)
    scanned = watcher.scan()
    assert sorted([*names, "inner.gpx"]) == sorted(p.name for p in scanned)
    assert os.fsencode(folder.resolve() / LATIN / "inner.gpx") in [os.fsencode(p) for p in scanned]
    assert proves_complete(folder / f"{LATIN}.fit")
