"""Tests for stravasync.intake.folders: folder health and which file systems deliver no events."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from stravasync.intake.folders import (
    MISSING_TEXT,
    FolderHealth,
    HealthBoard,
    Mount,
    delivers_events,
    folder_health,
    mount_for,
    parse_mountinfo,
    shown,
    watch_mode,
)

MOUNTINFO = (
    b"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    b"40 22 0:50 / /mnt/nas\\040share rw,relatime - nfs4 nas:/export rw\n"
    b"41 22 0:51 / /home/me/Ger\xe4t rw - vfat /dev/sdb1 rw\n"
    b"42 22 0:52 / /run/user/1000/gvfs rw,nosuid - fuse.gvfsd-fuse gvfsd-fuse rw\n"
    b"43 22 0:53 / /home/me/Activities/remote rw - fuse.sshfs me@box:/acts rw\n"
    b"44 41 0:54 / /home/me/Ger\xe4t rw - ext4 /dev/sdc1 rw\n"
    b"garbage line\n"
)


def test_parse_mountinfo_reads_escapes_and_odd_bytes() -> None:
    """Mount points with spaces (\\040) and non-UTF-8 bytes come out as the OS names them."""
    mounts = parse_mountinfo(MOUNTINFO)
    assert [
        (22, "/", "ext4"),
        (40, "/mnt/nas share", "nfs4"),
        (41, os.fsdecode(b"/home/me/Ger\xe4t"), "vfat"),
        (42, "/run/user/1000/gvfs", "fuse.gvfsd-fuse"),
        (43, "/home/me/Activities/remote", "fuse.sshfs"),
        (44, os.fsdecode(b"/home/me/Ger\xe4t"), "ext4"),
    ] == [(m.mount_id, m.point, m.fstype) for m in mounts]
    assert "nas:/export" == mounts[1].source


def test_mount_for_picks_the_deepest_and_topmost_mount() -> None:
    """A path belongs to the longest mount point holding it; the later of stacked mounts wins."""
    mounts = parse_mountinfo(MOUNTINFO)
    latin = os.fsdecode(b"/home/me/Ger\xe4t/Activity")
    assert 44 == _id(mount_for(latin, mounts))
    assert 40 == _id(mount_for("/mnt/nas share/Garmin", mounts))
    assert 22 == _id(mount_for("/mnt/nas", mounts))  # a prefix of the name is not inside it


def _id(mount: Mount | None) -> int:
    assert mount is not None
    return mount.mount_id


@pytest.mark.parametrize(
    ("fstype", "expected"),
    [
        ("ext4", True),
        ("vfat", True),
        ("exfat", True),
        ("tmpfs", True),
        ("fuseblk", True),  # ntfs-3g / exfat-fuse on a USB disk: only this mount writes
        ("nfs", False),
        ("nfs4", False),
        ("cifs", False),
        ("smb3", False),
        ("smbfs", False),
        ("9p", False),
        ("fuse", False),  # bindfs mounted by root shows up as plain "fuse"
        ("fuse.sshfs", False),
        ("fuse.gvfsd-fuse", False),
        ("fuse.jmtpfs", False),
        ("fuse.simple-mtpfs", False),
        ("fuse.bindfs", False),
        ("fuse.rclone", False),
    ],
)
def test_which_file_systems_deliver_events(fstype: str, expected: bool) -> None:
    """Network shares and FUSE mounts are polled; local disks (also via fuseblk) use events."""
    assert expected == delivers_events(fstype)


def test_watch_mode_from_the_mount_table() -> None:
    """The mode follows the mount holding the folder, or (recursively) a mount below it."""
    mounts = parse_mountinfo(MOUNTINFO)
    mtp = "/run/user/1000/gvfs/mtp:host=Garmin_fenix_7/Internal storage/GARMIN/Activity"
    assert "polling" == watch_mode(mtp, mounts=mounts)
    assert "polling" == watch_mode("/mnt/nas share/Garmin", mounts=mounts)
    assert "events" == watch_mode("/home/me/Garmin", mounts=mounts)
    assert "polling" == watch_mode("/home/me/Activities", mounts=mounts, recursive=True)
    assert "events" == watch_mode("/home/me/Activities", mounts=mounts, recursive=False)
    assert "polling" == watch_mode("/home/me/Garmin", mounts=mounts, force_polling=True)
    assert "events" == watch_mode(mtp, mounts=None)  # no mount table (macOS): events


def test_health_of_good_missing_and_file_paths(tmp_path: Path) -> None:
    """A folder is ok, a missing one is waited for, a file is not a folder; each says why."""
    good = tmp_path / "good"
    good.mkdir()
    a_file = tmp_path / "ride.fit"
    a_file.write_bytes(b"x")
    assert FolderHealth(good, "ok", "events", None) == folder_health(good, mounts=[])
    assert FolderHealth(tmp_path / "Garmni", "missing", "events", MISSING_TEXT) == folder_health(
        tmp_path / "Garmni", mounts=[]
    )
    not_folder = folder_health(a_file, mounts=[])
    assert ("not_a_folder", "is a file, not a folder") == (
        not_folder.state, (not_folder.error or "")[:23]
    )
    below_file = folder_health(a_file / "Activity", mounts=[])
    assert "not_a_folder" == below_file.state


def test_health_expands_home_and_shows_odd_names(
    tmp_path: Path, isolated_home: Path
) -> None:
    """``~`` is expanded; a non-UTF-8 name is kept losslessly and shown with an escape."""
    latin = os.fsdecode(b"Ger\xe4t")
    health = folder_health(Path("~") / latin, mounts=[])
    assert isolated_home / latin == health.path
    entry = health.to_json()
    text = json.dumps(entry, ensure_ascii=False).encode("utf-8")  # strict: must not raise
    assert b"Ger\\\\xe4t" in text
    assert f"{isolated_home}/Ger\\xe4t" == shown(health.path)


def test_board_reports_each_change_once_and_logs_warning_then_recovery(tmp_path: Path) -> None:
    """Repeated checks report nothing new; unusable is a warning once, its recovery info once."""
    changes: list[tuple[str, str]] = []
    board = HealthBoard(on_change=lambda h: changes.append((h.path.name, h.state)))
    folder = tmp_path / "Activity"
    with capture_logs() as logs:
        for _ in range(3):
            board.note(folder_health(folder, mounts=[]))
        folder.mkdir()
        for _ in range(2):
            board.note(folder_health(folder, mounts=[]))
        folder.rmdir()  # unplugged after it was there: info, not a warning
        board.note(folder_health(folder, mounts=[]))
    assert [("Activity", "missing"), ("Activity", "ok"), ("Activity", "missing")] == changes
    assert [
        ("watch_path_unusable", "warning"),
        ("watch_path_recovered", "info"),
        ("watch_path_missing", "info"),
    ] == [(e["event"], e["log_level"]) for e in logs]
    assert MISSING_TEXT == logs[0]["error"]
