"""The token store: Strava tokens on disk, kept alive, refreshed exactly once at a time.

Owns ``state_dir/tokens.json`` (mode 0600 from its first byte, replaced atomically)
and the refresh protocol Strava demands: access tokens live six hours; a refresh may
hand back a new refresh token, and issuing it kills the old one. So:

- the rotated refresh token is fsynced to disk *before* the new access token is used;
- one refresh at a time, across threads (a lock) and processes (``fcntl.flock`` on
  ``state_dir/tokens.lock``), and after taking the lock the file is read again,
  because another process may have refreshed already;
- a dead refresh token (or a missing ``activity:write`` grant) is recorded in the file,
  so every later call fails at once with "run ``stravasync auth``" instead of calling
  Strava in a loop; signing in again clears it.
- a damaged or unreadable file is :class:`~stravasync.errors.ReauthRequired` (the
  person must sign in again: it stops uploads, it is not retried), while a lock held
  too long by another process is :class:`TokenLockTimeout` (it passes: try later).

The HTTP side of a refresh is injected (:class:`Refresher`, implemented by
:class:`stravasync.strava.signin.OAuthClient`), so this module knows nothing of HTTP.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Protocol

from stravasync.errors import (
    AuthError,
    NotSignedIn,
    ReauthRequired,
    ScopeMissing,
    StateError,
    TokenLockTimeout,
    TransientError,
)
from stravasync.fsutil import atomic_write, ensure_private_dir
from stravasync.logs import get_logger, register_secret

__all__ = [
    "REFRESH_MARGIN",
    "Athlete",
    "Refresher",
    "TokenSet",
    "TokenStatus",
    "TokenStore",
    "problem_text",
]

log = get_logger(__name__)

#: Refresh when the access token has less than this many seconds left.
REFRESH_MARGIN = 600.0
#: Seconds to wait for another process that holds the refresh lock.
LOCK_TIMEOUT = 90.0
_FILE_VERSION = 1

DeadReason = Literal["refresh_token_invalid", "scope_missing"]


_PROBLEM_TEXT: dict[str, str] = {
    "refresh_token_invalid": (
        "the sign-in was revoked or has expired: run `stravasync auth` to sign in again"),
    "scope_missing": (
        "the sign-in lacks permission to upload: run `stravasync auth` and leave "
        "'Upload your activities' ticked"),
}


def problem_text(problem: str) -> str:
    """A sentence for a :attr:`TokenStatus.problem` code (other text is returned as is)."""
    return _PROBLEM_TEXT.get(problem, problem)


@dataclass(frozen=True)
class Athlete:
    """The Strava athlete the tokens act for."""

    id: int
    """Strava's athlete id."""
    firstname: str = ""
    """First name, as the athlete wrote it."""
    lastname: str = ""
    """Last name, as the athlete wrote it."""

    @property
    def name(self) -> str:
        """``firstname lastname``, or ``athlete <id>`` when Strava gave no name."""
        full = f"{self.firstname} {self.lastname}".strip()
        return full or f"athlete {self.id}"


@dataclass(frozen=True)
class TokenSet:
    """What Strava's token endpoint answered (tokens never appear in ``repr``)."""

    access_token: str = field(repr=False)
    """Bearer token for API calls; lives about six hours."""
    refresh_token: str = field(repr=False)
    """Token to get the next access token; may rotate on every refresh."""
    expires_at: int
    """Unix time at which ``access_token`` stops working."""
    scope: str | None = None
    """Granted scopes (from the redirect; Strava's token response omits it)."""
    athlete: Athlete | None = None
    """The athlete, on a code exchange; None on a refresh."""


class Refresher(Protocol):
    """Trades a refresh token for a new :class:`TokenSet` (the HTTP side of a refresh).

    Raises :class:`~stravasync.errors.ReauthRequired` when Strava says the refresh
    token is dead, :class:`~stravasync.errors.TransientError` when it cannot be reached.
    """

    def refresh(self, refresh_token: str) -> TokenSet:
        """Return fresh tokens for ``refresh_token``."""
        ...


@dataclass(frozen=True)
class TokenStatus:
    """What ``stravasync status`` shows about sign-in: no secrets."""

    athlete_id: int | None
    """Strava's athlete id."""
    athlete_name: str | None
    """The athlete's name as Strava gave it at sign-in."""
    scope: str | None
    """Granted scopes, e.g. ``read,activity:write``; None if unknown."""
    expires_at: int
    """Unix time at which the current access token expires."""
    problem: DeadReason | None
    """Why the tokens cannot be used (then the person must sign in again), else None.

    A machine code (``status --json``); :func:`problem_text` words it for people."""

    def as_json(self) -> dict[str, int | str | None]:
        """SPEC's ``status --json`` ``auth`` object (plus ``athlete_name``, ``problem``)."""
        return {
            "athlete_id": self.athlete_id,
            "scope": self.scope,
            "expires_at": self.expires_at,
            "athlete_name": self.athlete_name,
            "problem": self.problem,
        }


@dataclass(frozen=True)
class _Stored:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: int
    scope: str | None
    athlete_id: int | None
    athlete_name: str | None
    dead: DeadReason | None = None

    def to_bytes(self) -> bytes:
        data = {
            "version": _FILE_VERSION,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
            "scope": self.scope,
            "athlete_id": self.athlete_id,
            "athlete_name": self.athlete_name,
            "dead": self.dead,
        }
        return json.dumps(data, indent=1).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> _Stored:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("version") != _FILE_VERSION:
            raise ValueError("unknown token file version")
        access, refresh = data["access_token"], data["refresh_token"]
        if not isinstance(access, str) or not isinstance(refresh, str):
            raise TypeError("tokens are not text")
        raw_dead = data.get("dead")
        dead: DeadReason | None = None
        if raw_dead == "scope_missing":
            dead = "scope_missing"
        elif raw_dead is not None:
            dead = "refresh_token_invalid"
        return cls(
            access_token=access,
            refresh_token=refresh,
            expires_at=int(data["expires_at"]),
            scope=data.get("scope"),
            athlete_id=data.get("athlete_id"),
            athlete_name=data.get("athlete_name"),
            dead=dead,
        )


def _dead_error(reason: DeadReason) -> AuthError:
    if reason == "scope_missing":
        return ScopeMissing(
            "Strava says this sign-in lacks permission to upload activities "
            "(activity:write). Run `stravasync auth` and leave "
            "'Upload your activities' ticked."
        )
    return ReauthRequired(
        "Strava no longer accepts the stored sign-in (revoked, or replaced elsewhere). "
        "Run `stravasync auth` to sign in again."
    )


class TokenStore:
    """Strava tokens in ``state_dir/tokens.json``, refreshed ahead of expiry and on 401."""

    def __init__(
        self,
        *,
        state_dir: Path,
        refresher: Refresher | None = None,
        clock: Callable[[], float] = time.time,
        refresh_margin: float = REFRESH_MARGIN,
        lock_timeout: float = LOCK_TIMEOUT,
        admit: Callable[[TokenSet], None] | None = None,
        guard: Callable[[int | None], None] | None = None,
    ) -> None:
        """``admit``: called with a fresh sign-in's tokens before they are stored; it
        raises to refuse them (an athlete who must not act for this account).
        ``guard``: called with the stored sign-in's athlete id each time it is about to
        be used (a call, a refresh); it raises to refuse it (a file copied in by hand
        while a daemon runs is checked before its first use, not only at start)."""
        self.path = state_dir / "tokens.json"
        self._admit = admit
        self._guard = guard
        self._lock_path = state_dir / "tokens.lock"
        self._state_dir = state_dir
        self._refresher = refresher
        self._clock = clock
        self._margin = refresh_margin
        self._lock_timeout = lock_timeout
        self._lock = threading.RLock()

    # -- file ----------------------------------------------------------------------

    def _read(self) -> _Stored | None:
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ReauthRequired(
                f"Cannot read the token file {self.path}: {exc.strerror}. "
                "Run `stravasync auth` to sign in again (or fix the file's owner and "
                "permissions)."
            ) from exc
        try:
            if os.fstat(fd).st_mode & 0o077:
                os.fchmod(fd, 0o600)  # someone widened it: tokens are ours alone
            with os.fdopen(fd, "rb", closefd=False) as handle:
                raw = handle.read()
        finally:
            os.close(fd)
        try:
            stored = _Stored.from_bytes(raw)
        except (ValueError, TypeError, KeyError) as exc:
            raise ReauthRequired(
                f"The token file {self.path} is damaged. "
                "Run `stravasync auth` to sign in again."
            ) from exc
        register_secret(stored.access_token)
        register_secret(stored.refresh_token)
        return stored

    def _read_signed_in(self) -> _Stored:
        stored = self._read()
        if stored is None:
            raise NotSignedIn("No Strava sign-in is stored. Run `stravasync auth` first.")
        if stored.dead is not None:
            raise _dead_error(stored.dead)
        if self._guard is not None:
            self._guard(stored.athlete_id)
        return stored

    def _write(self, stored: _Stored) -> None:
        try:
            ensure_private_dir(self._state_dir)
            atomic_write(self.path, stored.to_bytes(), mode=0o600)
        except OSError as exc:
            raise StateError(
                f"Cannot write the token file {self.path}: {exc.strerror}. "
                "Check that the state folder is writable."
            ) from exc

    @contextlib.contextmanager
    def _process_lock(self) -> Iterator[None]:
        """Hold ``tokens.lock`` exclusively (one refresh across processes)."""
        ensure_private_dir(self._state_dir)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + self._lock_timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                        raise
                    if time.monotonic() > deadline:
                        raise TokenLockTimeout(
                            f"Another stravasync process holds {self._lock_path} "
                            "for too long while refreshing tokens. Try again."
                        ) from exc
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # -- public --------------------------------------------------------------------

    def ensure_signed_in(self) -> None:
        """Raise NotSignedIn, ReauthRequired or ScopeMissing now, without a network call."""
        self._read_signed_in()

    def save_initial(self, token_set: TokenSet) -> None:
        """Store the tokens of a fresh sign-in (replacing any old, possibly dead, ones)."""
        register_secret(token_set.access_token)
        register_secret(token_set.refresh_token)
        if self._admit is not None:
            self._admit(token_set)  # raises before anything is written
        athlete = token_set.athlete
        stored = _Stored(
            access_token=token_set.access_token,
            refresh_token=token_set.refresh_token,
            expires_at=int(token_set.expires_at),
            scope=token_set.scope,
            athlete_id=athlete.id if athlete else None,
            athlete_name=athlete.name if athlete else None,
        )
        with self._lock, self._process_lock():
            self._write(stored)
        log.info("tokens_saved", athlete_id=stored.athlete_id, expires_at=stored.expires_at,
                 scope=stored.scope)

    def access_token(self) -> str:
        """A usable access token, refreshed first if it expires within the margin.

        Raises NotSignedIn, ReauthRequired, ScopeMissing, or TransientError (Strava
        unreachable and the current token already expired).
        """
        with self._lock:
            stored = self._read_signed_in()
            if stored.expires_at - self._clock() > self._margin:
                return stored.access_token
            return self._refresh(stale=stored.access_token, reason="expiring")

    def force_refresh(self, stale_token: str) -> str:
        """Refresh because Strava refused ``stale_token`` (a 401); returns the new token.

        If another thread or process already replaced ``stale_token``, its replacement
        is returned without a second refresh.
        """
        with self._lock:
            stored = self._read_signed_in()
            if stored.access_token != stale_token and stored.expires_at > self._clock():
                return stored.access_token
            return self._refresh(stale=stale_token, reason="refused")

    def _refresh(self, *, stale: str, reason: str) -> str:
        if self._refresher is None:
            raise ReauthRequired(
                "The stored Strava sign-in has expired and cannot be renewed here. "
                "Run `stravasync auth`."
            )
        with self._process_lock():
            stored = self._read_signed_in()  # another process may have refreshed
            now = self._clock()
            if stored.access_token != stale and stored.expires_at - now > self._margin:
                log.debug("token_refreshed_elsewhere", expires_at=stored.expires_at)
                return stored.access_token
            try:
                fresh = self._refresher.refresh(stored.refresh_token)
            except ReauthRequired:
                self._write(replace(stored, dead="refresh_token_invalid"))
                log.error("refresh_token_dead", athlete_id=stored.athlete_id)
                raise
            except TransientError as exc:
                if reason == "expiring" and stored.expires_at - now > 30:
                    # Strava unreachable, but the current token still works for a while.
                    log.warning("token_refresh_deferred", error=str(exc),
                                expires_at=stored.expires_at)
                    return stored.access_token
                raise
            register_secret(fresh.access_token)
            register_secret(fresh.refresh_token)
            updated = replace(
                stored,
                access_token=fresh.access_token,
                refresh_token=fresh.refresh_token or stored.refresh_token,
                expires_at=int(fresh.expires_at),
                scope=fresh.scope or stored.scope,
            )
            self._write(updated)  # the rotated refresh token is durable before any use
            log.info("token_refreshed", reason=reason, expires_at=updated.expires_at,
                     rotated=updated.refresh_token != stored.refresh_token)
            return updated.access_token

    def mark_dead(self, reason: DeadReason) -> None:
        """Record that the stored tokens cannot work until the person signs in again."""
        with self._lock, self._process_lock():
            stored = self._read()
            if stored is not None and stored.dead != reason:
                self._write(replace(stored, dead=reason))
                log.error("tokens_unusable", reason=reason, athlete_id=stored.athlete_id)

    def stored_tokens(self) -> TokenSet | None:
        """The stored tokens as they are (for sign-out), or None when signed out."""
        with self._lock:
            stored = self._read()
        if stored is None:
            return None
        return TokenSet(access_token=stored.access_token, refresh_token=stored.refresh_token,
                        expires_at=stored.expires_at, scope=stored.scope)

    def status(self) -> TokenStatus | None:
        """Who is signed in, with which scopes, until when; None when signed out."""
        with self._lock:
            stored = self._read()
        if stored is None:
            return None
        return TokenStatus(
            athlete_id=stored.athlete_id,
            athlete_name=stored.athlete_name,
            scope=stored.scope,
            expires_at=stored.expires_at,
            problem=stored.dead,
        )

    def delete(self) -> bool:
        """Remove the stored tokens; True if there were any."""
        with self._lock, self._process_lock():
            try:
                self.path.unlink()
            except FileNotFoundError:
                return False
            except OSError as exc:
                raise StateError(
                    f"Cannot delete the token file {self.path}: {exc.strerror}."
                ) from exc
        log.info("tokens_deleted")
        return True
