"""Every error a person can meet, in one leaf module (no imports of ours, no loops).

Each error carries a short ``title`` and a ``message`` that says what happened and
what to do about it. Foreign exceptions (httpx, sqlite3, OS errors) are translated
into these at one boundary per subsystem and chained with ``raise ... from exc``.
No message ever holds a token, an authorization code or a client secret.

Each error also says what it means for the work, so that callers branch once on
these and never sort error classes again:

- :attr:`StravaSyncError.needs_person`: nothing can work until a person acts (sign
  in again, fix the configuration or the state folder): stop every call, say so once;
- :meth:`StravaSyncError.wait_until`: no call before this time (a rate limit, a dead
  end); :attr:`StravaSyncError.stops_every_call` tells whether that holds for every
  kind of call or only the kind that met it;
- otherwise the failure may pass by itself: retry after a backoff.

The tree::

    StravaSyncError
    ├── ConfigError                 bad or missing configuration (exit 2)
    ├── ServiceError                systemd/launchd refused to install or start us
    ├── StateError                  the state store cannot be used
    │   ├── AlreadyRunning          another daemon holds the state-dir lock
    │   ├── TokenLockTimeout        another process held the token lock too long
    │   ├── StateUnwritable         the database cannot be written now (full disk,
    │   │                           read-only, I/O error): passes, retried
    │   └── StateCorrupt            the database is damaged: `stravasync state reset`
    │                               (exit 65)
    ├── AuthError                   nothing to call Strava with
    │   ├── NotSignedIn             no tokens stored yet
    │   ├── ReauthRequired          refresh token dead or revoked: sign in again
    │   ├── ScopeMissing            the athlete did not grant activity:write
    │   ├── AuthFlowError           the sign-in flow itself failed (state, timeout)
    │   ├── AccountCrossed          the stored sign-in is another athlete's
    │   └── KeyRefused              intervals.icu refused an account's API key
    └── ApiError                    Strava answered, or could not be reached
        ├── AccessTokenInvalid      401 on the access token (refresh once, retry once)
        ├── DeadEnd                 calls cannot succeed until a person acts
        │   ├── AppInactive         403 Application Status Inactive (no subscription)
        │   └── AthleteLimitReached 403 Limit of connected athletes exceeded (the cap)
        ├── RateLimited             over (or predicted over) a rate limit; ``until``
        ├── TransientError          5xx, timeouts, connection errors: try later
        │   ├── ForeignAnswer       an answer that describes another file (never trusted)
        │   └── ReplyTooLarge       a reply larger than any real answer (not read whole)
        ├── UploadRejected          the service refused the file; ``reason`` verbatim
        ├── DuplicateActivity       Strava already has it; ``activity_id``
        ├── UpdateRefused           Strava refused an activity update; ``reason``
        │                           verbatim; permanent, never retried
        └── ListScopeMissing        no activity:read grant: activities cannot be
                                    listed (uploads still work; poll each one)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "AccessTokenInvalid",
    "AlreadyRunning",
    "ApiError",
    "AppInactive",
    "AthleteLimitReached",
    "AuthError",
    "AuthFlowError",
    "ConfigError",
    "DeadEnd",
    "DuplicateActivity",
    "ForeignAnswer",
    "KeyRefused",
    "ListScopeMissing",
    "NotSignedIn",
    "RateLimited",
    "ReauthRequired",
    "ReplyTooLarge",
    "ScopeMissing",
    "ServiceError",
    "StateCorrupt",
    "StateError",
    "StateUnwritable",
    "StravaSyncError",
    "TokenLockTimeout",
    "TransientError",
    "UpdateRefused",
    "UploadRejected",
]


class StravaSyncError(Exception):
    """Base of every error we raise on purpose; ``str()`` is the user-facing text."""

    title: str = "stravasync error"
    #: Process exit status when this error ends a command.
    exit_code: int = 1
    #: Nothing can work until a person acts: stop calling, tell the owner once.
    needs_person: bool = False
    #: A :meth:`wait_until` holds for every call, not only the kind that met it.
    stops_every_call: bool = False

    def __init__(self, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title

    def __str__(self) -> str:
        return self.message

    def wait_until(self, now: float) -> float | None:
        """No call (of the kind that met this) before this Unix time; None: back off."""
        del now
        return None


class ConfigError(StravaSyncError):
    """The configuration is missing or invalid; ``problems`` lists each with its key path."""

    title = "Invalid configuration"
    exit_code = 2
    needs_person = True

    def __init__(self, message: str, *, problems: list[str] | None = None) -> None:
        self.problems = list(problems or [])
        if self.problems:
            message = message + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message)


class ServiceError(StravaSyncError):
    """The service manager answered but refused (the unit would not start, etc.)."""

    title = "Service"


class StateError(StravaSyncError):
    """The state store (SQLite database, lock, token file) cannot be used."""

    title = "State store problem"
    needs_person = True


class AlreadyRunning(StateError):
    """Another ``stravasync run`` holds the lock on this state directory."""

    title = "Already running"


class TokenLockTimeout(StateError):
    """Another process held ``tokens.lock`` too long: passes by itself, try again later."""

    title = "Tokens busy"
    needs_person = False


class StateUnwritable(StateError):
    """The state database cannot be written (or read) right now: it passes; retry."""

    title = "State not writable"
    needs_person = False

    def __init__(self, path: Path, reason: str, detail: str) -> None:
        super().__init__(
            f"Cannot use the state in {path.parent}: {reason} ({detail}). Nothing is lost: "
            "stravasync tries again and carries on once the folder can be written; free "
            "some space or make the folder writable."
        )
        self.reason = reason


class StateCorrupt(StateError):
    """The state database is damaged: a person moves it aside (``stravasync state reset``)."""

    title = "State database damaged"
    needs_person = True
    exit_code = 65  # EX_DATAERR: the unit does not restart us in a loop

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(
            f"The state database {path} is damaged ({detail}). Stop stravasync and run "
            "`stravasync state reset`: it moves the file aside and starts afresh; files "
            "already on Strava are recognised as duplicates, nothing uploads twice."
        )


class AuthError(StravaSyncError):
    """We hold no usable authorization for Strava."""

    title = "Not authorized"
    needs_person = True


class NotSignedIn(AuthError):
    """No tokens are stored: run ``stravasync auth``."""

    title = "Not signed in"


class ReauthRequired(AuthError):
    """The refresh token is dead (revoked, rotated away, app deauthorized)."""

    title = "Sign in again"


class ScopeMissing(AuthError):
    """The athlete did not grant ``activity:write``."""

    title = "Permission missing"


class AuthFlowError(AuthError):
    """The sign-in flow failed: state mismatch, timeout, denied, bad code."""

    title = "Sign-in failed"


class AccountCrossed(AuthError):
    """The stored sign-in is another athlete's than the one recorded for its account.

    Nothing is sent with it: one athlete's workouts never go out with another's tokens.
    """

    title = "Wrong athlete"


class KeyRefused(AuthError):
    """intervals.icu answered 401/403: the account's API key is wrong or was revoked.

    Only that account stops; a person makes a new key and puts it where the
    configuration reads it.
    """

    title = "API key refused"

    def __init__(self, message: str, *, account: str) -> None:
        super().__init__(message)
        self.account = account


class ApiError(StravaSyncError):
    """Strava answered with an error, or could not be reached."""

    title = "Strava API error"

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class AccessTokenInvalid(ApiError):
    """401 for the access token: refresh once and retry once."""

    title = "Access token refused"
    needs_person = True


class DeadEnd(ApiError):
    """No call can succeed until a person acts; stop calling, retry rarely."""

    title = "Strava refuses all calls"
    stops_every_call = True
    #: Seconds to wait before trying again at all.
    retry_after: float = 3600.0

    def wait_until(self, now: float) -> float | None:
        """No call at all for :attr:`retry_after` seconds."""
        return now + self.retry_after


class AppInactive(DeadEnd):
    """403 ``Application / Status / Inactive``: the app works only while its owner has a
    Strava subscription; the owner subscribes, then reactivates it at
    https://www.strava.com/settings/api."""

    title = "Strava application inactive"


class AthleteLimitReached(DeadEnd):
    """403 ``Limit of connected athletes exceeded``: the app's athlete cap is reached.

    Since June 2026 the Standard tier allows 10 athletes without review; a new app
    starts at a cap of 1, which its owner raises in the app's settings
    (https://www.strava.com/settings/api); more than 10 needs Strava's review.
    """

    title = "Athlete limit reached"


class RateLimited(ApiError):
    """Over a rate limit, or the headers predict we would be; nothing before ``until``."""

    title = "Rate limited"

    def __init__(self, message: str, *, until: float, status_code: int | None = None) -> None:
        super().__init__(message, status_code=status_code)
        #: Unix time (seconds) before which no call of this kind should be made.
        self.until = until

    def wait_until(self, now: float) -> float | None:
        """No call of this kind before :attr:`until`."""
        del now
        return self.until


class TransientError(ApiError):
    """A failure that may pass by itself: 5xx, timeout, connection refused or dropped."""

    title = "Strava unreachable"


class ForeignAnswer(TransientError):
    """Strava's answer describes another file (its external_id or upload id is not ours).

    Nothing is recorded or deleted on it: the file is tried again after a backoff,
    and after a few such answers in a row it needs the owner.
    """

    title = "Strava answered about another file"


class ReplyTooLarge(TransientError):
    """A reply larger than any real answer: not read whole, tried again later."""

    title = "Strava's reply is too large"


class UploadRejected(ApiError):
    """The service (Strava unless said) refused the file; ``reason`` is its text, verbatim."""

    title = "Upload rejected"

    def __init__(self, reason: str, *, status_code: int | None = None,
                 service: str = "Strava") -> None:
        super().__init__(f"{service} rejected the upload: {reason}", status_code=status_code)
        self.reason = reason


class DuplicateActivity(ApiError):
    """Strava already has this workout as ``activity_id``."""

    title = "Duplicate activity"

    def __init__(
        self, reason: str, *, activity_id: int | None, status_code: int | None = None
    ) -> None:
        super().__init__(f"Strava already has this workout: {reason}", status_code=status_code)
        self.reason = reason
        self.activity_id = activity_id


class UpdateRefused(ApiError):
    """Strava refused to update an activity (a 4xx: unknown gear, a gone activity ...).

    Permanent: sending the same update again cannot succeed, so it is never retried;
    ``reason`` is Strava's text, verbatim.
    """

    title = "Activity update refused"

    def __init__(self, reason: str, *, status_code: int | None = None) -> None:
        super().__init__(f"Strava refused to update the activity: {reason}",
                         status_code=status_code)
        self.reason = reason


class ListScopeMissing(ApiError):
    """The sign-in may not list activities (no ``activity:read`` grant).

    Not a dead sign-in: uploads and upload polls still work, only the one-call listing
    of activities does not. Nobody needs to act; callers poll each upload instead.
    """

    title = "Cannot list activities"
    needs_person = False
