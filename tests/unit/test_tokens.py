"""Tests for the token store: private file, atomic writes, rotation, one refresh at a time."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from stravasync.errors import (
    NotSignedIn,
    ReauthRequired,
    ScopeMissing,
    StateError,
    TransientError,
)
from stravasync.strava.tokens import Athlete, TokenSet, TokenStore

NOW = 1_800_000_000.0


class Clock:
    """A settable clock."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeRefresher:
    """Rotates tokens like Strava: each refresh kills the previous refresh token."""

    def __init__(self, clock: Clock, *, delay: float = 0.0) -> None:
        self.clock = clock
        self.delay = delay
        self.calls = 0
        self.valid = "refresh-0000"
        self.error: Exception | None = None
        self._lock = threading.Lock()

    def refresh(self, refresh_token: str) -> TokenSet:
        with self._lock:
            self.calls += 1
            n = self.calls
        time.sleep(self.delay)  # kept: a slow refresh, so that the other callers must wait
        if self.error is not None:
            raise self.error
        if refresh_token != self.valid:
            raise ReauthRequired("dead refresh token; run `stravasync auth`")
        self.valid = f"refresh-{n:04d}"
        return TokenSet(
            access_token=f"access-{n:04d}",
            refresh_token=self.valid,
            expires_at=int(self.clock.now) + 21600,
        )


def initial(expires_in: float = 21600) -> TokenSet:
    """The tokens of a fresh sign-in."""
    return TokenSet(
        access_token="access-0000",
        refresh_token="refresh-0000",
        expires_at=int(NOW + expires_in),
        scope="read,activity:write",
        athlete=Athlete(id=77, firstname="Ada", lastname="Lovelace"),
    )


def make(
    tmp_path: Path, *, expires_in: float = 21600, delay: float = 0.0
) -> tuple[TokenStore, FakeRefresher, Clock]:
    """A store with tokens saved, a fake refresher and a clock."""
    clock = Clock()
    refresher = FakeRefresher(clock, delay=delay)
    store = TokenStore(state_dir=tmp_path / "state", refresher=refresher, clock=clock)
    store.save_initial(initial(expires_in))
    return store, refresher, clock


def test_file_is_private(tmp_path: Path) -> None:
    """tokens.json is 0600 in a 0700 folder, whatever the umask."""
    old = os.umask(0)
    try:
        store, _, _ = make(tmp_path)
    finally:
        os.umask(old)
    assert 0o600 == os.stat(store.path).st_mode & 0o777
    assert 0o700 == os.stat(store.path.parent).st_mode & 0o777


def test_widened_file_is_narrowed_on_read(tmp_path: Path) -> None:
    """A token file someone made readable by others is made private again."""
    store, _, _ = make(tmp_path)
    os.chmod(store.path, 0o644)
    store.access_token()
    assert 0o600 == os.stat(store.path).st_mode & 0o777


def test_fresh_token_used_without_refresh(tmp_path: Path) -> None:
    """A token with hours left is used as is."""
    store, refresher, _ = make(tmp_path)
    assert "access-0000" == store.access_token()
    assert 0 == refresher.calls


def test_refresh_ahead_of_expiry_persists_rotation(tmp_path: Path) -> None:
    """With under ten minutes left the token is refreshed and the rotated one saved."""
    store, refresher, clock = make(tmp_path)
    clock.now = NOW + 21600 - 300
    assert "access-0001" == store.access_token()
    saved = json.loads(store.path.read_text())
    assert ("access-0001", "refresh-0001") == (saved["access_token"], saved["refresh_token"])
    assert "access-0001" == store.access_token()
    assert 1 == refresher.calls


def test_rotated_token_on_disk_before_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the rotated refresh token cannot be saved, the new access token is not handed out."""
    store, refresher, _ = make(tmp_path, expires_in=0)

    def disk_full(*_a: object, **_k: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("stravasync.strava.tokens.atomic_write", disk_full)
    with pytest.raises(StateError, match="writable"):
        store.access_token()
    assert 1 == refresher.calls


def test_crash_between_writes_leaves_readable_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash before the rename leaves the previous file whole and readable."""
    store, _, _ = make(tmp_path, expires_in=0)

    def crash(*_a: object) -> None:
        raise OSError(5, "simulated crash before rename")

    monkeypatch.setattr("stravasync.fsutil.os.replace", crash)
    with pytest.raises(StateError):
        store.access_token()
    monkeypatch.undo()
    saved = json.loads(store.path.read_text())
    assert "refresh-0000" == saved["refresh_token"]


def test_force_refresh_once_for_many_callers(tmp_path: Path) -> None:
    """Callers holding the same refused token share a single refresh."""
    store, refresher, _ = make(tmp_path)
    assert "access-0001" == store.force_refresh("access-0000")
    assert "access-0001" == store.force_refresh("access-0000")
    assert 1 == refresher.calls


def test_concurrent_refresh_across_threads(tmp_path: Path) -> None:
    """Eight threads needing a refresh at once cause exactly one refresh call."""
    store, refresher, _ = make(tmp_path, expires_in=60, delay=0.05)
    results: list[str] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results.append(store.access_token())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ["access-0001"] * 8 == results
    assert 1 == refresher.calls


def test_dead_refresh_token_recorded(tmp_path: Path) -> None:
    """A dead refresh token raises ReauthRequired and is not offered to Strava again."""
    store, refresher, _ = make(tmp_path, expires_in=0)
    refresher.valid = "something-else"
    with pytest.raises(ReauthRequired):
        store.access_token()
    with pytest.raises(ReauthRequired, match="stravasync auth"):
        store.access_token()
    assert 1 == refresher.calls
    status = store.status()
    assert status is not None
    assert "refresh_token_invalid" == status.problem
    store.save_initial(initial())  # signing in again clears it
    assert "access-0000" == store.access_token()


def test_scope_missing_recorded(tmp_path: Path) -> None:
    """A missing scope, once recorded, fails every later call at once."""
    store, _, _ = make(tmp_path)
    store.mark_dead("scope_missing")
    with pytest.raises(ScopeMissing, match="stravasync auth"):
        store.access_token()


def test_unreachable_strava_keeps_valid_token(tmp_path: Path) -> None:
    """If a refresh ahead of expiry fails transiently, the still-valid token is used."""
    store, refresher, _ = make(tmp_path, expires_in=300)
    refresher.error = TransientError("down")
    assert "access-0000" == store.access_token()


def test_unreachable_strava_with_expired_token(tmp_path: Path) -> None:
    """An expired token and no Strava is TransientError (try later), not a sign-in problem."""
    store, refresher, _ = make(tmp_path, expires_in=-10)
    refresher.error = TransientError("down")
    with pytest.raises(TransientError):
        store.access_token()


def test_not_signed_in(tmp_path: Path) -> None:
    """Without a token file the advice is to run `stravasync auth`."""
    store = TokenStore(state_dir=tmp_path)
    with pytest.raises(NotSignedIn, match="stravasync auth"):
        store.access_token()
    assert store.status() is None


def test_damaged_file(tmp_path: Path) -> None:
    """A damaged token file is a ReauthRequired naming the file, without its content."""
    store, _, _ = make(tmp_path)
    store.path.write_text('{"version": 1, "access_token": "zzsecretzz"')
    with pytest.raises(ReauthRequired) as info:
        store.access_token()
    assert str(store.path) in str(info.value)
    assert "zzsecretzz" not in str(info.value)


def test_status_has_no_secrets(tmp_path: Path) -> None:
    """status() tells who and until when, never a token."""
    store, _, _ = make(tmp_path)
    status = store.status()
    assert status is not None
    assert {
        "athlete_id": 77,
        "scope": "read,activity:write",
        "expires_at": int(NOW + 21600),
        "athlete_name": "Ada Lovelace",
        "problem": None,
    } == status.as_json()
    assert "access-0000" not in repr(status) + repr(store.stored_tokens())


def test_delete(tmp_path: Path) -> None:
    """delete() removes the file; a second delete reports nothing was there."""
    store, _, _ = make(tmp_path)
    assert store.delete()
    assert not store.path.exists()
    assert not store.delete()


def test_a_damaged_file_means_signing_in_again(tmp_path: Path) -> None:
    """A damaged token file asks for a new sign-in (an AuthError naming the file)."""
    store, _, _ = make(tmp_path)
    store.path.write_text("{not json")
    with pytest.raises(ReauthRequired) as info:
        store.access_token()
    assert str(store.path) in str(info.value)
    assert "stravasync auth" in str(info.value)


def test_a_lock_timeout_is_transient(tmp_path: Path) -> None:
    """Another process holding the refresh lock too long: TokenLockTimeout, a passing StateError."""
    import fcntl

    from stravasync.errors import TokenLockTimeout

    clock = Clock()
    store = TokenStore(state_dir=tmp_path / "state", refresher=FakeRefresher(clock),
                       clock=clock, lock_timeout=0.1)
    store.save_initial(initial(expires_in=0))
    with open(tmp_path / "state" / "tokens.lock", "w") as other:
        fcntl.flock(other, fcntl.LOCK_EX)
        with pytest.raises(TokenLockTimeout) as info:
            store.access_token()
    assert isinstance(info.value, StateError)
    assert "access-0001" == store.access_token()  # the lock is free again: refreshed
