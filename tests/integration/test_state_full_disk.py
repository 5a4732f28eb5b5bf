"""Tests for a state folder on a real full file system (a tmpfs mount): the store recovers
without a restart."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from mounts import small_tmpfs
from store_rig import Clock, add, facts, write_many

from stravasync.state import State, StateUnwritable, Store


def fill_disk(path: Path) -> None:
    """Write zeros to ``path`` until the file system is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    finally:
        os.close(fd)




def test_a_state_folder_on_a_full_disk_recovers_without_a_restart(full_tmpfs: Path) -> None:
    """ENOSPC on a real file system: StateUnwritable while full, writes again once freed."""
    store = Store.open(full_tmpfs / "state", clock=Clock())
    filler = full_tmpfs / "filler"
    with pytest.raises(OSError, match="No space left"):
        fill_disk(filler)
    with pytest.raises(StateUnwritable, match="disk is full"):
        write_many(store)
    filler.unlink()
    add(store, "/w/later.fit", facts("a" * 64))
    store.close()
    reopened = Store.open(full_tmpfs / "state")
    later = reopened.workout("a" * 64)
    reopened.close()
    assert later is not None
    assert State.QUEUED == later.state


@pytest.fixture
def full_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs holding the state folder (needs root and mount(2))."""
    with small_tmpfs(tmp_path / "small") as point:
        yield point
