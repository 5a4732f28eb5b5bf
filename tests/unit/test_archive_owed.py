"""A failed archive move stays owed: retried with backoff, shown by status, told once, no temp files."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import httpx
import pytest

from stravasync.owner.attention import Attention
from stravasync.owner.notices import Notices
from stravasync.owner.status import gather_status, status_table
from stravasync.state import Store
from stravasync.upload import archive
from stravasync.upload.archive import carry_out_after, carry_out_owed
from tests.unit.test_archive import make_config, uploaded

NOW = 1_800_000_000.0


def full_archive(monkeypatch: pytest.MonkeyPatch) -> None:
    """The archive is on another file system, and full: a copy there starts, then ENOSPC."""

    def no_link(_src: object, _dst: object) -> None:
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    def copy_runs_out(_src: object, dst: object) -> None:
        Path(str(dst)).write_bytes(b"")  # what a full disk leaves: an empty file
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(archive.os, "link", no_link)
    monkeypatch.setattr(archive.shutil, "copy2", copy_runs_out)


def test_a_move_into_a_full_archive_is_owed_shown_and_done_once_space_is_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC: the file stays, no temp file, status names the problem; with space, it moves."""
    config = make_config(tmp_path, after="move", archive_dir=str(tmp_path / "archive"))
    store = Store.open(config.state_dir)
    source = tmp_path / "watch" / "ride.fit"
    workout = uploaded(store, source)
    with monkeypatch.context() as patch:
        full_archive(patch)
        carry_out_after(config, store, workout, now=NOW)
    left_in_archive = sorted(p.name for p in (tmp_path / "archive").rglob("*"))
    shown_before = gather_status(config, clock=lambda: NOW)
    assert source.exists()
    assert [] == left_in_archive
    assert [("archive", str(source))] == [(e["kind"], e["path"])
                                         for e in shown_before.data["needs_you"]]
    assert "No space left on device" in shown_before.data["needs_you"][0]["message"]
    assert "1 problem needs you" in status_table(shown_before)[0]

    assert 1 == carry_out_owed(config, store, now=NOW + 30)  # not due yet: left alone
    assert source.exists()
    assert 0 == carry_out_owed(config, store, now=NOW + 61)  # space is back, time is up
    assert not source.exists()
    assert (tmp_path / "archive" / "ride.fit").exists()
    assert [] == gather_status(config, clock=lambda: NOW + 61).data["needs_you"]


def test_each_failure_waits_longer_before_the_next_try(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Backoff: a minute after the first failure, two after the second."""
    config = make_config(tmp_path, after="move", archive_dir=str(tmp_path / "archive"))
    store = Store.open(config.state_dir)
    sha = uploaded(store, tmp_path / "watch" / "ride.fit").sha256
    full_archive(monkeypatch)
    carry_out_owed(config, store, now=NOW)
    carry_out_after(config, store, store.workout(sha), now=NOW)  # type: ignore[arg-type]
    first = store.workout(sha)
    carry_out_owed(config, store, now=NOW + 60)
    second = store.workout(sha)
    assert first is not None
    assert second is not None
    assert (1, NOW + 60) == (first.after_failures, first.after_next_at)
    assert (2, NOW + 60 + 120) == (second.after_failures, second.after_next_at)
    assert not second.after_done


def test_a_restart_tries_an_owed_move_again_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owed move survives in the store: a new store (a restart) finds and finishes it."""
    config = make_config(tmp_path, after="move", archive_dir=str(tmp_path / "archive"))
    store = Store.open(config.state_dir)
    source = tmp_path / "watch" / "ride.fit"
    sha = uploaded(store, source).sha256
    with monkeypatch.context() as patch:
        full_archive(patch)
        carry_out_after(config, store, store.workout(sha), now=NOW)  # type: ignore[arg-type]
    store.close()
    again = Store.open(config.state_dir)
    owed = again.owed_moves()
    for w in owed:
        carry_out_after(config, again, w, now=NOW + 1)
    assert [sha] == [w.sha256 for w in owed]
    assert not source.exists()
    assert [] == again.owed_moves()


def test_a_failed_move_is_told_once_and_its_success_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owner hears of the owed move once, however often it is looked at, and once when done."""
    config = make_config(tmp_path, after="move", archive_dir=str(tmp_path / "archive"))
    store = Store.open(config.state_dir)
    sha = uploaded(store, tmp_path / "watch" / "ride.fit").sha256
    told: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        told.append((request.headers["Priority"], request.content.decode()))
        return httpx.Response(200)

    notices = Notices(url="https://ntfy.example/t", command=(), on=("problem", "recovered"),
                      state_path=tmp_path / "notices.json",
                      transport=httpx.MockTransport(handler))
    attention = Attention(notices=notices, state_dir=config.state_dir,
                          api_url="https://www.strava.com/api/v3")
    with monkeypatch.context() as patch:
        full_archive(patch)
        carry_out_after(config, store, store.workout(sha), now=NOW)  # type: ignore[arg-type]
    for _ in range(3):
        attention.owed_moves(store)
    carry_out_owed(config, store, now=NOW + 3600)
    attention.owed_moves(store)
    attention.owed_moves(store)
    attention.close()
    assert ["high", "default"] == [priority for priority, _ in told]
    assert "ride.fit is on Strava but could not be moved" in told[0][1]


def test_no_temp_file_is_left_when_the_copy_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy cut short by a full archive leaves nothing named *.stravasync-tmp behind."""
    config = make_config(tmp_path, after="move", archive_dir=str(tmp_path / "archive"))
    store = Store.open(config.state_dir)
    real_copy = shutil.copy2

    def half_copy(src: object, dst: object) -> None:
        real_copy(str(src), str(dst))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(archive.os, "link", lambda *_a: (_ for _ in ()).throw(
        OSError(errno.EXDEV, os.strerror(errno.EXDEV))))
    monkeypatch.setattr(archive.shutil, "copy2", half_copy)
    carry_out_after(config, store, uploaded(store, tmp_path / "watch" / "a.fit"), now=NOW)
    assert [] == [p.name for p in (tmp_path / "archive").rglob("*") if p.is_file()]
