"""Tests for stravasync.upload.archive: what `upload.after` does to a file Strava holds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stravasync.config.settings import Config, config_from_dict
from stravasync.state import FileFacts, State, Store, Workout
from stravasync.upload.archive import carry_out_after, watch_root
from stravasync.validate.result import Facts


def make_config(tmp: Path, **upload: Any) -> Config:
    """A config watching tmp/watch (HOME is tmp, so delete needs no confirmation)."""
    return config_from_dict(
        {"strava": {"client_id": "1", "client_secret": "s"},
         "watch": {"paths": [str(tmp / "watch")]},
         "state": {"dir": str(tmp / "state")}, "upload": upload},
        env={"HOME": str(tmp)}, source=tmp / "config.toml")


def uploaded(store: Store, path: Path, sha: str = "a" * 64) -> Workout:
    """Record ``path`` (as it is on disk) as a workout Strava made activity 77."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(b"workout " + sha.encode())
    st = path.stat()
    store.record_file(str(path), size=st.st_size, mtime_ns=st.st_mtime_ns, facts=FileFacts(
        sha256=sha, state=State.QUEUED, format="fit", facts=Facts(start_time=datetime.fromtimestamp(ord(sha[0]) * 86400, UTC))))
    store.claim_post(sha, owner="t:1", external_id="x")
    store.finish(sha, owner="t:1", state=State.UPLOADED, activity_id=77)
    w = store.workout(sha)
    assert w is not None
    return w


def test_move_keeps_the_relative_path_and_never_overwrites(tmp_path: Path) -> None:
    """A moved file keeps its sub-folder; a name taken in the archive gets a -1 suffix."""
    config = make_config(tmp_path, after="move", archive_dir=str(tmp_path / "archive"))
    store = Store.open(config.state_dir)
    taken = tmp_path / "archive" / "2026" / "ride.fit"
    taken.parent.mkdir(parents=True)
    taken.write_bytes(b"someone else's")
    source = tmp_path / "watch" / "2026" / "ride.fit"
    carry_out_after(config, store, uploaded(store, source))
    assert not source.exists()
    assert b"someone else's" == taken.read_bytes()
    moved = tmp_path / "archive" / "2026" / "ride-1.fit"
    assert [str(moved)] == store.paths_of("a" * 64)


def test_delete_removes_only_files_under_a_watched_folder(tmp_path: Path) -> None:
    """`delete` removes the watched file; a file uploaded from elsewhere is left alone."""
    config = make_config(tmp_path, after="delete")
    store = Store.open(config.state_dir)
    inside, outside = tmp_path / "watch" / "a.fit", tmp_path / "elsewhere" / "b.fit"
    carry_out_after(config, store, uploaded(store, inside))
    carry_out_after(config, store, uploaded(store, outside, sha="b" * 64))
    assert (False, True) == (inside.exists(), outside.exists())


def test_a_file_changed_since_it_was_read_is_left_alone(tmp_path: Path) -> None:
    """A file rewritten after it was read (other size) is not the workout sent: kept."""
    config = make_config(tmp_path, after="delete")
    store = Store.open(config.state_dir)
    path = tmp_path / "watch" / "a.fit"
    workout = uploaded(store, path)
    path.write_bytes(b"a longer, different recording")
    carry_out_after(config, store, workout)
    assert path.exists()
    assert store.workout("a" * 64).after_done  # type: ignore[union-attr]


def test_keep_touches_nothing_and_done_work_is_not_redone(tmp_path: Path) -> None:
    """`keep` leaves the file; a workout whose `after` is done is not looked at again."""
    store = Store.open(tmp_path / "state")
    path = tmp_path / "watch" / "a.fit"
    workout = uploaded(store, path)
    carry_out_after(make_config(tmp_path), store, workout)
    assert path.exists()
    store.mark_after_done(workout.sha256)
    done = store.workout(workout.sha256)
    assert done is not None
    carry_out_after(make_config(tmp_path, after="delete"), store, done)
    assert path.exists()


def test_watch_root_is_the_deepest_watched_folder(tmp_path: Path) -> None:
    """Nested watched folders: the file belongs to the deepest one; outside: None."""
    roots = (tmp_path / "w", tmp_path / "w" / "sub")
    assert tmp_path / "w" / "sub" == watch_root(str(tmp_path / "w" / "sub" / "x.fit"), roots)
    assert tmp_path / "w" == watch_root(str(tmp_path / "w" / "x.fit"), roots)
    assert watch_root(str(tmp_path / "wx" / "x.fit"), roots) is None
