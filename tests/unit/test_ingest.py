"""Intake: reading a file whole and unchanged, judging it, recording it, keeping its bytes."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from engine_rig import workout_file

from stravasync.intake.ingest import (
    MAX_FILE_BYTES,
    FileTooLarge,
    Payload,
    PayloadCache,
    default_validator,
    ingest_path,
    load_payload,
    read_stable,
)
from stravasync.state import State, Store

NOW = datetime.now(UTC)


def test_a_file_over_the_limit_is_refused_from_fstat(tmp_path: Path) -> None:
    """A sparse file past the limit raises FileTooLarge before anything is read."""
    big = tmp_path / "x.fit"
    with big.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(FileTooLarge) as info:
        read_stable(big)
    assert MAX_FILE_BYTES + 1 == info.value.size
    assert "too large" in info.value.reason()


def test_a_too_large_file_gets_an_invalid_row_with_its_reason(tmp_path: Path) -> None:
    """The store records the giant file as invalid, 'too large', so status shows why."""
    store = Store.open(tmp_path / "state")
    big = tmp_path / "x.fit"
    with big.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES * 2)
    try:
        read = ingest_path(str(big), store=store, validator=default_validator,
                           now=NOW.timestamp(), max_age_days=0, tolerance_s=120.0)
        assert State.INVALID == read.submitted.state
        assert "too large" in (read.submitted.error or "")
        assert [("invalid", str(big))] == [(f.state.value, f.path) for f in store.files()]
    finally:
        store.close()


def test_a_file_that_changes_while_read_stays_pending(tmp_path: Path) -> None:
    """read_stable says None when size or mtime moved between the looks."""
    path = tmp_path / "a.fit"
    path.write_bytes(b"x" * 100)
    stable = read_stable(path)
    assert stable is not None
    assert b"x" * 100 == stable.data
    os.utime(path, ns=(1, 1))
    assert read_stable(path) is not None  # a quiet file reads whole again


def test_the_payload_cache_keeps_within_its_budget() -> None:
    """Oldest entries leave first; a payload over a quarter of the budget is not kept."""
    cache = PayloadCache(max_bytes=100)
    cache.put("a", Payload(data=b"1" * 20, format="fit"))
    cache.put("b", Payload(data=b"2" * 20, format="fit"))
    cache.put("big", Payload(data=b"3" * 30, format="fit"))
    for n in range(5):
        cache.put(f"c{n}", Payload(data=b"4" * 20, format="fit"))
    assert cache.take("big") is None
    assert cache.take("a") is None  # pushed out by newer ones
    assert b"4" * 20 == (cache.take("c4") or Payload(None, None)).data
    assert cache.take("c4") is None  # taken once


def test_load_payload_finds_the_content_again_by_hash(tmp_path: Path) -> None:
    """A queued workout's bytes are read again from disk and checked against its sha256."""
    store = Store.open(tmp_path / "state")
    path = workout_file(tmp_path, "a.fit", start=NOW - timedelta(hours=1))
    try:
        read = ingest_path(str(path), store=store, validator=default_validator,
                           now=NOW.timestamp(), max_age_days=0, tolerance_s=120.0)
        workout = store.workout(read.submitted.sha256 or "")
        assert workout is not None
        assert "fit" == load_payload(store, workout, default_validator).format
        path.write_bytes(path.read_bytes()[:-10])
        assert "changed" == load_payload(store, workout, default_validator).problem
        path.unlink()
        assert "gone" == load_payload(store, workout, default_validator).problem
    finally:
        store.close()
