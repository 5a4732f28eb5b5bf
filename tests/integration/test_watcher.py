"""Tests for stravasync.intake.watcher with a real watchdog observer on temporary folders."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import watchdog.events
import watchdog.observers
from fitdecode.utils import compute_crc
from nobody import run_as_nobody

from stravasync.intake.folders import FolderHealth
from stravasync.intake.watcher import DEFAULT_IGNORE, Watcher

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
            time.sleep(pause)  # kept: a writer pausing mid-copy is what these tests are about
    return time.monotonic()


def wait_gone(watcher: Watcher, timeout: float = 10.0) -> None:
    """Wait until the watcher has noticed that its (only) folder is gone."""
    deadline = time.monotonic() + timeout
    while watcher.health()[0].state != "missing":
        assert time.monotonic() < deadline, f"the folder still looks {watcher.health()[0]}"
        time.sleep(0.02)


def barrier(folder: Path, recorder: Recorder, name: str = "zz-barrier.gpx") -> None:
    """Drop a complete file and wait for it: every earlier event has been handled by then."""
    (folder / name).write_bytes(GPX)
    recorder.wait_for(name)


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
    barrier(folder, recorder, "aa-barrier.gpx")  # every event of the .part file is handled
    assert ["aa-barrier.gpx"] == recorder.names
    (folder / "ride.fit.part").rename(folder / "ride.fit")
    recorder.wait_for("ride.fit")
    barrier(folder, recorder)
    assert ["aa-barrier.gpx", "ride.fit", "zz-barrier.gpx"] == recorder.names


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
    time.sleep(0.05)  # kept: same size, so only a later mtime tells the rewrite apart
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
        wait_gone(watcher)
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
    folder, watcher = watched
    (folder / "a.fit").write_bytes(FIT)
    recorder.wait_for("a.fit")
    folder.rename(folder.with_name("elsewhere"))
    wait_gone(watcher)
    folder.with_name("elsewhere").rename(folder)
    (folder / "b.gpx").write_bytes(GPX)
    recorder.wait_for("b.gpx")
    assert "a.fit" in recorder.names[1:]  # reported again by the scan when it came back


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


def test_ignored_globs_are_never_handed_over(tmp_path: Path, recorder: Recorder) -> None:
    """Zwift's inProgressActivity.fit (any case) and configured globs are never reported."""
    folder = tmp_path / "Zwift"
    folder.mkdir()
    (folder / "INPROGRESSACTIVITY.FIT").write_bytes(FIT)
    watcher = Watcher(paths=[folder], recursive=True, settle_seconds=SETTLE, on_ready=recorder,
                      ignore=[*DEFAULT_IGNORE, "*-draft.gpx"])
    watcher.start()
    try:
        (folder / "inProgressActivity.fit").write_bytes(FIT)
        (folder / "ride-draft.gpx").write_bytes(GPX)
        (folder / "ride.fit").write_bytes(FIT)
        barrier(folder, recorder)
        scanned = [p.name for p in watcher.scan()]
    finally:
        watcher.stop()
    assert ["ride.fit", "zz-barrier.gpx"] == sorted(recorder.names)
    assert ["ride.fit", "zz-barrier.gpx"] == scanned


def test_folder_forced_to_polling_picks_up_new_files(tmp_path: Path, recorder: Recorder) -> None:
    """A folder watched by polling reports a new file within a poll, and says it polls."""
    folder = tmp_path / "share"
    folder.mkdir()
    health: list[FolderHealth] = []
    watcher = Watcher(paths=[folder], recursive=True, settle_seconds=SETTLE, on_ready=recorder,
                      on_health=health.append, poll_interval=0.2, polling=[folder])
    watcher.start()
    try:
        start = time.monotonic()
        (folder / "sub").mkdir()
        (folder / "sub" / "polled.fit").write_bytes(FIT)
        arrived = recorder.wait_for("polled.fit")
        listed = watcher.health()
    finally:
        watcher.stop()
    assert [FolderHealth(folder, "ok", "polling", None)] == health == listed
    assert arrived - start < 0.2 * 2 + 1.0


def _bindfs(source: Path, mount_point: Path) -> str | None:
    """Mount ``source`` at ``mount_point`` with bindfs; the reason it could not, or None."""
    if shutil.which("bindfs") is None:
        return "bindfs is not installed (apt-get install bindfs)"
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse in this container"
    result = subprocess.run(["bindfs", str(source), str(mount_point)],
                            capture_output=True, text=True, check=False)
    return None if result.returncode == 0 else f"bindfs failed: {result.stderr.strip()}"


def test_fuse_folder_without_events_is_polled(tmp_path: Path, recorder: Recorder) -> None:
    """On a FUSE mount (bindfs), writes behind it give no inotify event; polling finds them."""
    source, mount_point = tmp_path / "device", tmp_path / "mnt"
    source.mkdir()
    mount_point.mkdir()
    reason = _bindfs(source, mount_point)
    if reason is not None:
        pytest.skip(reason)
    try:
        inotify_saw: list[str] = []
        handler = watchdog.events.FileSystemEventHandler()
        handler.on_any_event = lambda e: inotify_saw.append(e.event_type)  # type: ignore[method-assign]
        control = watchdog.observers.Observer()
        control.schedule(handler, str(mount_point), recursive=True)
        control.start()
        watcher = Watcher(paths=[mount_point], recursive=True, settle_seconds=SETTLE,
                          on_ready=recorder, poll_interval=0.2)
        watcher.start()
        try:
            (source / "behind.fit").write_bytes(FIT)
            recorder.wait_for("behind.fit")
            mode = watcher.health()[0].mode
        finally:
            watcher.stop()
            control.stop()
            control.join()
    finally:
        subprocess.run(["fusermount", "-u", str(mount_point)], capture_output=True, check=False)
        if os.path.ismount(mount_point):
            subprocess.run(["umount", str(mount_point)], check=False)
    assert "polling" == mode
    assert [mount_point.resolve() / "behind.fit"] == [p for p, _, _ in recorder.calls]
    # Our own reads through the mount show up (opened, closed_no_write); the write did not.
    assert [] == [e for e in inotify_saw if e in ("created", "modified", "closed", "moved")]


LATIN = os.fsdecode(b"Ger\xe4t")  # 'Gerät' written by Windows on a FAT device: not UTF-8


def test_non_utf8_folder_at_runtime(watched: tuple[Path, Watcher], recorder: Recorder) -> None:
    """A new folder with a Latin-1 name holding three files: each is reported once."""
    folder, _ = watched
    (folder / LATIN).mkdir()
    for i in range(3):
        (folder / LATIN / f"{LATIN}-{i}.fit").write_bytes(FIT)
    barrier(folder, recorder)
    expected = [folder / LATIN / f"{LATIN}-{i}.fit" for i in range(3)]
    assert expected == sorted(p for p, _, _ in recorder.calls)[:3]
    assert 4 == len(recorder.calls)


def test_health_is_reported_once_per_change(tmp_path: Path, recorder: Recorder) -> None:
    """A missing folder is reported missing once, then ok once when it appears, and used."""
    folder = tmp_path / "Garmin" / "Activity"
    seen: list[tuple[str, str]] = []
    changed = threading.Event()

    def on_health(health: FolderHealth) -> None:
        seen.append((health.state, health.mode))
        changed.set()

    watcher = Watcher(paths=[folder], recursive=True, settle_seconds=SETTLE, on_ready=recorder,
                      on_health=on_health)
    watcher.start()
    try:
        watcher.scan()
        watcher.scan()
        folder.mkdir(parents=True)
        (folder / "new.fit").write_bytes(FIT)
        recorder.wait_for("new.fit")
        watcher.scan()
        states = [h.state for h in watcher.health()]
    finally:
        watcher.stop()
    assert [("missing", "events"), ("ok", "events")] == seen
    assert ["ok"] == states


NOBODY_SCRIPT = r'''
import json, os, sys, threading, time
from pathlib import Path
from structlog.testing import capture_logs
from stravasync.intake.watcher import Watcher

base = Path(sys.argv[1])
fit = (base / "sample.fit").read_bytes()
good, locked, missing = base / "good", base / "locked", base / "missing"
good.mkdir()
locked.mkdir()
(locked / "in-locked.fit").write_bytes(fit)
locked.chmod(0)
(good / "secret.fit").write_bytes(fit)
(good / "secret.fit").chmod(0)
(good / "sub").mkdir()
(good / "sub" / "in-sub.fit").write_bytes(fit)
(good / "sub").chmod(0)
ready, health = [], []
cond = threading.Condition()

def on_ready(path):
    with cond:
        ready.append(path.name)
        cond.notify_all()

def wait_for(name, count=1):
    with cond:
        assert cond.wait_for(lambda: ready.count(name) >= count, timeout=10), (name, ready)

with capture_logs() as logs:
    w = Watcher(paths=[good, locked, missing], recursive=True, settle_seconds=0.2,
                on_ready=on_ready, on_health=lambda h: health.append([h.path.name, h.state]))
    w.start()
    scanned = sorted(p.name for p in w.scan())
    at_start = [h.to_json() for h in w.health()]
    locked.chmod(0o755)
    wait_for("in-locked.fit")
    (good / "secret.fit").chmod(0o644)
    wait_for("secret.fit")
    (good / "sub").chmod(0o755)
    wait_for("in-sub.fit")
    (good / "sub" / "later.fit").write_bytes(fit)
    wait_for("later.fit")
    missing.mkdir()
    (missing / "m.fit").write_bytes(fit)
    wait_for("m.fit")
    fd = os.open(good / "hidden.fit", os.O_WRONLY | os.O_CREAT, 0)  # unreadable from birth
    os.write(fd, fit)
    os.close(fd)
    wait_for("hidden.fit")
    t0 = time.monotonic()
    os.link(good / "hidden.fit", base / "elsewhere.fit")
    (base / "elsewhere.fit").chmod(0o644)  # no event in the watched folder: backoff finds it
    wait_for("hidden.fit", 2)
    backoff_found = time.monotonic() - t0
    w.stop()
print(json.dumps({
    "scanned": scanned, "at_start": at_start, "ready": ready, "health": health,
    "backoff_found": backoff_found,
    "logs": [[e["event"], e["log_level"], os.path.basename(str(e.get("path", "")))]
             for e in logs if e["log_level"] in ("warning", "error") or "recovered" in e["event"]
             or "again" in e["event"]],
}))
'''


def test_permissions_fixed_are_noticed_as_unprivileged_user(nobody_dir: Path) -> None:
    """As an ordinary user: unusable folders and files are told once, and used once fixed."""
    sample = nobody_dir / "sample.fit"
    sample.write_bytes(FIT)
    os.chown(sample, 65534, 65534)
    result = run_as_nobody(NOBODY_SCRIPT, str(nobody_dir), home=nobody_dir)
    if result.returncode != 0 and "ModuleNotFoundError" in result.stderr:
        pytest.skip(f"the unprivileged user cannot read the source tree: {result.stderr[-200:]}")
    assert 0 == result.returncode, result.stderr
    out = json.loads(result.stdout)
    assert ["secret.fit"] == out["scanned"]  # listed although unreadable: it gets a row
    assert [
        ("ok", "events", ""), ("unreadable", "events", "permission denied"),
        ("missing", "events", "does not exist (yet)"),
    ] == [(h["state"], h["mode"], (h["error"] or "").split(":")[0]) for h in out["at_start"]]
    assert [
        ["good", "ok"], ["locked", "unreadable"], ["missing", "missing"],
        ["locked", "ok"], ["missing", "ok"],
    ] == out["health"]
    assert ["in-locked.fit", "secret.fit", "in-sub.fit", "later.fit", "m.fit", "hidden.fit",
            "hidden.fit"] == out["ready"]
    assert out["backoff_found"] < 5.0
    assert [
        ["watch_path_unusable", "warning", "locked"],
        ["watch_path_unusable", "warning", "missing"],
        ["subfolder_unreadable", "warning", "sub"],
        ["watch_path_recovered", "info", "locked"],
        ["file_readable_again", "info", "secret.fit"],
        ["subfolder_readable_again", "info", "sub"],
        ["watch_path_recovered", "info", "missing"],
        ["file_unreadable", "warning", "hidden.fit"],
        ["file_readable_again", "info", "hidden.fit"],
    ] == out["logs"]
