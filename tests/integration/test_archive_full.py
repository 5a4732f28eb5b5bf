"""A full archive on a real file system: the move stays owed, is shown, and is done once space is back."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from daemon_rig import Rig, make_rig
from mounts import small_tmpfs

from stravasync.demo.samples import sample_fit

pytestmark = pytest.mark.integration




@pytest.fixture
def rig(tmp_path: Path, archive: Path) -> Iterator[Rig]:
    """A signed-in rig whose uploaded files are moved into ``archive``."""
    with make_rig(tmp_path) as r:
        r.write_config(extra=f'[upload]\nafter = "move"\narchive_dir = {json.dumps(str(archive))}\n')
        yield r


def fill(path: Path) -> None:
    """Write zeros to ``path`` until its file system is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)


def test_a_move_into_a_full_archive_is_shown_and_done_by_the_next_run(
    rig: Rig, archive: Path
) -> None:
    """run --once with the archive full: 75, file kept, no temp file, status says so; freed: moved, 0."""
    filler = archive / "filler"
    fill(filler)
    ride = rig.watch / "ride.fit"
    ride.write_bytes(sample_fit(start=datetime.now(UTC) - timedelta(days=1)))
    first = rig.command("run", "--once")
    kept = ride.exists()
    left = sorted(p.name for p in archive.rglob("*") if p != filler)
    status = json.loads(rig.command("status", "--json").stdout)
    headline = rig.command("status").stdout.splitlines()[0]
    filler.unlink()
    second = rig.command("run", "--once")
    after = json.loads(rig.command("status", "--json").stdout)

    assert 75 == first.returncode, first.stderr
    assert kept
    assert [] == left
    assert [("archive", str(ride))] == [(e["kind"], e["path"]) for e in status["needs_you"]]
    assert "1 problem needs you" in headline
    assert 0 == second.returncode, second.stderr
    assert not ride.exists()
    assert (archive / "ride.fit").exists()
    assert [] == after["needs_you"]


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs for the archive (needs root and mount(2))."""
    with small_tmpfs(tmp_path / "archive") as point:
        yield point
