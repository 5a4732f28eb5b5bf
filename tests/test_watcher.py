"""Tests for stravasync.watcher with a real watchdog observer on temporary folders."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fitdecode.utils import compute_crc

from stravasync.watcher import Watcher, is_workout_name

SETTLE = 0.3
GPX = (
    b'<?xml version="1.0"?>\n<gpx version="1.1" creator="t">\n<trk><trkseg>\n'
    + b'<trkpt lat="1.0" lon="2.0"><time>2024-05-01T10:00:00Z</time></trkpt>\n' * 400
    + b"</trkseg></trk>\n</gpx>\n"
)

pytestmark = [
    pytest.mark.integration,
    # watchdog 7.1 warns (on its own thread) when `mkdir -p` makes it add a nested watch
    # twice; under filterwarnings=error that would kill its inotify thread.
    pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning"),
]


def make_fit(payload: bytes) -> bytes:
    """Build a FIT file around ``payload`` (header sizes and CRC computed by fitdecode)."""
    header = bytes([12, 0x20]) + (2132).to_bytes(2, "little")
    body = header + len(payload).to_bytes(4, "little") + b".FIT" + payload
    return body + int(compute_crc(body)).to_bytes(2, "little")


FIT = make_fit(bytes(range(256)) * 40)


class Recorder:
    """Collects on_ready calls with the file's size and the time they arrived."""

    def __init__(self) -> None:
        self.calls: list[tuple[Path, int, float]] = []
        self._cond = threading.Condition()

    def __call__(self, path: Path) -> None:
        size = path.stat().st_size if path.exists() else -1
        with self._cond:
            self.calls.append((path, size, time.monotonic()))
            self._cond.notify_all()

    @property
    def names(self) -> list[str]:
        """Names of the files reported so far, in order."""
        return [p.name for p, _, _ in self.calls]

    def wait_for(self, name: str, timeout: float = 5.0) -> float:
        """Wait until ``name`` was reported; return the time of its (first) report."""
        with self._cond:
            self._cond.wait_for(lambda: name in self.names, timeout=timeout)
        matches = [t for p, _, t in self.calls if p.name == name]
        assert matches, f"{name} was not reported; got {self.names}"
        return matches[0]


@pytest.fixture
def recorder() -> Recorder:
    """A fresh on_ready recorder."""
    return Recorder()


def start_watcher(paths: list[Path], recorder: Recorder, *, recursive: bool = True) -> Watcher:
    """Start a watcher on ``paths`` reporting to ``recorder``."""
    watcher = Watcher(paths=paths, recursive=recursive, settle_seconds=SETTLE, on_ready=recorder)
    watcher.start()
    return watcher


@pytest.fixture
def watched(tmp_path: Path, recorder: Recorder) -> Iterator[tuple[Path, Watcher]]:
    """A watched existing folder (recursive) and its running watcher."""
    folder = tmp_path / "Activity"
    folder.mkdir()
    watcher = start_watcher([folder], recorder)
    yield folder.resolve(), watcher
    watcher.stop()


def write_slowly(path: Path, data: bytes, *, pieces: int, pause: float) -> float:
    """Write ``data`` in ``pieces`` with ``pause`` seconds between; return when it finished."""
    step = -(-len(data) // pieces)
    with path.open("wb") as fh:
        for start in range(0, len(data), step):
            fh.write(data[start : start + step])
            fh.flush()
            time.sleep(pause)
    return time.monotonic()


def barrier(folder: Path, recorder: Recorder, name: str = "zz-barrier.gpx") -> None:
    """Drop a complete file and wait for it: every earlier event has been handled by then."""
    (folder / name).write_bytes(GPX)
    recorder.wait_for(name)


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


def test_complete_file_is_picked_up_within_a_second(
    watched: tuple[Path, Watcher], recorder: Recorder
) -> None:
    """A finished file dropped into the folder is reported once, well within a second."""
    folder, _ = watched
    start = time.monotonic()
    (folder / "ride.fit").write_bytes(FIT)
    arrived = recorder.wait_for("ride.fit")
    barrier(folder, recorder)
    assert arrived - start < 2.0  # generous: the promise is < 1 s, CI machines are noisy
    assert ["ride.fit", "zz-barrier.gpx"] == recorder.names


@pytest.mark.parametrize(("name", "data"), [("slow.fit", FIT), ("slow.gpx", GPX)])
def test_slow_copy_is_reported_once_when_whole(
    watched: tuple[Path, Watcher], recorder: Recorder, name: str, data: bytes
) -> None:
    """A copy in pieces with pauses shorter than settle_seconds is reported once, whole."""
    folder, _ = watched
    finished = write_slowly(folder / name, data, pieces=6, pause=SETTLE / 2)
    arrived = recorder.wait_for(name)
    barrier(folder, recorder)
    assert [(folder / name, len(data))] == [(p, s) for p, s, _ in recorder.calls[:-1]]
    assert arrived >= finished - SETTLE / 2


def test_unproven_file_waits_for_quiet(watched: tuple[Path, Watcher], recorder: Recorder) -> None:
    """A file that cannot prove itself complete is reported once, after settle_seconds of quiet."""
    folder, _ = watched
    data = b"not xml at all, but named like a workout " * 200
    finished = write_slowly(folder / "odd.gpx", data, pieces=4, pause=SETTLE / 2)
    arrived = recorder.wait_for("odd.gpx")
    barrier(folder, recorder)
    assert ["odd.gpx", "zz-barrier.gpx"] == recorder.names
    assert arrived - finished >= SETTLE * 0.8 - SETTLE / 2
    assert len(data) == recorder.calls[0][1]


def test_temporary_name_then_rename(watched: tuple[Path, Watcher], recorder: Recorder) -> None:
    """A file written under a .part name is reported only once renamed to its real name."""
    folder, _ = watched
    write_slowly(folder / "ride.fit.part", FIT, pieces=3, pause=0.05)
    time.sleep(SETTLE * 1.5)
    assert [] == recorder.names
    (folder / "ride.fit.part").rename(folder / "ride.fit")
    recorder.wait_for("ride.fit")
    barrier(folder, recorder)
    assert ["ride.fit", "zz-barrier.gpx"] == recorder.names


def test_ignored_names_and_directories(watched: tuple[Path, Watcher], recorder: Recorder) -> None:
    """Temporary names, dot-files, hidden folders and workout-named directories are ignored."""
    folder, _ = watched
    for name in ["a.fit.tmp", "b.fit~", "c.gpx.crdownload", "d.tcx.partial", ".e.fit", "f.txt"]:
        (folder / name).write_bytes(FIT)
    (folder / "dir.fit").mkdir()
    (folder / ".hidden").mkdir()
    (folder / ".hidden" / "g.fit").write_bytes(FIT)
    barrier(folder, recorder)
    assert ["zz-barrier.gpx"] == recorder.names


def test_change_after_ready_is_reported_again(
    watched: tuple[Path, Watcher], recorder: Recorder
) -> None:
    """A file rewritten after it was reported is reported again once complete."""
    folder, _ = watched
    (folder / "a.gpx").write_bytes(GPX)
    recorder.wait_for("a.gpx")
    time.sleep(0.05)
    (folder / "a.gpx").write_bytes(GPX.replace(b"10:00:00", b"11:00:00"))
    barrier(folder, recorder)
    assert ["a.gpx", "a.gpx", "zz-barrier.gpx"] == recorder.names


@pytest.mark.parametrize("recursive", [True, False])
def test_nested_folders(tmp_path: Path, recorder: Recorder, recursive: bool) -> None:
    """Files in sub-folders are reported only when watching recursively."""
    folder = tmp_path / "w"
    folder.mkdir()
    watcher = start_watcher([folder], recorder, recursive=recursive)
    try:
        (folder / "sub" / "deeper").mkdir(parents=True)
        time.sleep(0.1)  # let the new folders be watched before writing into them
        (folder / "sub" / "deeper" / "n.fit").write_bytes(FIT)
        (folder / "top.fit").write_bytes(FIT)
        if recursive:
            recorder.wait_for("n.fit")
        barrier(folder, recorder)
    finally:
        watcher.stop()
    expected = (
        {"n.fit", "top.fit", "zz-barrier.gpx"} if recursive else {"top.fit", "zz-barrier.gpx"}
    )
    assert expected == set(recorder.names)
    assert len(expected) == len(recorder.names)


def test_folder_appears_disappears_and_comes_back(tmp_path: Path, recorder: Recorder) -> None:
    """A folder missing at start is watched when it appears, and again after it comes back."""
    device = tmp_path / "media" / "GARMIN"
    folder = device / "GARMIN" / "Activity"
    watcher = start_watcher([folder], recorder)
    try:
        # Plugged in: the whole tree appears at once with a file already on it.
        staging = tmp_path / "staging"
        (staging / "GARMIN" / "Activity").mkdir(parents=True)
        (staging / "GARMIN" / "Activity" / "old.fit").write_bytes(FIT)
        (tmp_path / "media").mkdir()
        staging.rename(device)
        recorder.wait_for("old.fit")
        (folder / "new.fit").write_bytes(FIT)
        recorder.wait_for("new.fit")
        # Unplugged, then plugged in again with one more file.
        shutil.rmtree(device)
        time.sleep(0.2)
        (folder).mkdir(parents=True)
        (folder / "again.fit").write_bytes(FIT)
        recorder.wait_for("again.fit")
        (folder / "after.gpx").write_bytes(GPX)
        recorder.wait_for("after.gpx")
    finally:
        watcher.stop()
    assert ["old.fit", "new.fit", "again.fit", "after.gpx"] == recorder.names


def test_folder_renamed_away_and_back(watched: tuple[Path, Watcher], recorder: Recorder) -> None:
    """A watched folder renamed away and back is watched again and its files reported."""
    folder, _ = watched
    (folder / "a.fit").write_bytes(FIT)
    recorder.wait_for("a.fit")
    folder.rename(folder.with_name("elsewhere"))
    time.sleep(0.2)
    folder.with_name("elsewhere").rename(folder)
    (folder / "b.gpx").write_bytes(GPX)
    recorder.wait_for("b.gpx")
    assert "a.fit" in recorder.names[1:]  # reported again by the scan when it came back


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


def test_start_does_not_report_existing_files(tmp_path: Path, recorder: Recorder) -> None:
    """Files already there at start() are left to scan(); stop() twice is harmless."""
    folder = tmp_path / "w"
    folder.mkdir()
    (folder / "old.fit").write_bytes(FIT)
    watcher = start_watcher([folder], recorder)
    try:
        barrier(folder, recorder)
    finally:
        watcher.stop()
        watcher.stop()
    assert ["zz-barrier.gpx"] == recorder.names
    assert os.path.exists(folder / "old.fit")


def test_symlinked_folder_and_restart(tmp_path: Path, recorder: Recorder) -> None:
    """A folder configured through a symlink is watched at its target, also after a restart."""
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    watcher = start_watcher([link], recorder)
    watcher.stop()
    watcher.start()
    try:
        (real / "a.fit").write_bytes(FIT)
        recorder.wait_for("a.fit")
    finally:
        watcher.stop()
    assert [real.resolve() / "a.fit"] == [p for p, _, _ in recorder.calls]


def _mount_tmpfs(where: Path) -> bool:
    """Mount a fresh tmpfs at ``where``; False where this process may not mount."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "tmpfs", str(where)], capture_output=True, check=False
    )
    return result.returncode == 0


def test_device_unmounted_and_mounted_again(tmp_path: Path, recorder: Recorder) -> None:
    """A folder on a file system unmounted and mounted again is followed (needs root)."""
    mount_point = tmp_path / "mnt"
    mount_point.mkdir()
    folder = mount_point / "GARMIN" / "Activity"
    if not _mount_tmpfs(mount_point):
        pytest.skip("needs permission to mount a tmpfs")
    watcher = start_watcher([folder], recorder)
    try:
        folder.mkdir(parents=True)
        (folder / "one.fit").write_bytes(FIT)
        recorder.wait_for("one.fit")
        subprocess.run(["umount", str(mount_point)], check=True)
        assert _mount_tmpfs(mount_point)
        folder.mkdir(parents=True)
        (folder / "two.fit").write_bytes(FIT)
        recorder.wait_for("two.fit")
        (folder / "three.gpx").write_bytes(GPX)
        recorder.wait_for("three.gpx")
    finally:
        watcher.stop()
        while os.path.ismount(mount_point):
            subprocess.run(["umount", str(mount_point)], check=False)
    assert ["one.fit", "two.fit", "three.gpx"] == recorder.names
