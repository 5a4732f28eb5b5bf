"""Owns telling the owner when something needs them: the ``[notify]`` notices.

Three kinds of notice: ``problem`` (something only a person can fix: signed out, the
app inactive, the athlete cap, a scope missing, a folder unusable, the state not
writable, a file refused by Strava or invalid), ``uploaded`` (a new activity) and
``recovered`` (a problem went away). Each is sent to an HTTP(S) ``url`` as an
ntfy-style POST (one line of plain text, headers ``Title`` and ``Priority``) and/or
to a ``command`` (the message appended as its last argument, and given in
``$STRAVASYNC_MESSAGE``; the kind in ``$STRAVASYNC_EVENT``). A message is one line, its
control characters escaped (:func:`one_line`).

No repeats: every notice names a stable *cause* (``auth:signed_out``,
``folder:/abs/path``, ``file:<sha256>``; see :func:`folder_cause`, :func:`file_cause`,
:func:`error_cause`). A problem is told once per cause however long it lasts, and a
restart does not tell it again: the causes told are kept in a small JSON file (0600,
written atomically). :meth:`Notices.recovered` clears a cause, so a later recurrence
is told again; it tells nothing for a cause that was never a problem, so callers may
call it whenever a thing is found healthy.

Never a flood: at most one notice per kind per minute (:data:`WINDOW_S`); the first
goes at once, the others of that minute are summed into one sent at its end ("12
activities uploaded: …").

Several accounts: a notice may name its ``account``. The same cause of two accounts
(``auth:signed_out`` of jane and of bob) is two problems, told once each, and each
account is paced on its own: two accounts' problems are two notices, both at once.

Never in the way: the caller only updates memory and hands the work on; one worker
thread writes the file and sends, each send with a short timeout (HTTP 5 s, command
10 s). A failure is logged at debug level and never raised. Messages pass through
:func:`stravasync.logs.redact_text`, so no token or secret is ever sent.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from stravasync.errors import (
    AppInactive,
    AthleteLimitReached,
    KeyRefused,
    NotSignedIn,
    ReauthRequired,
    ScopeMissing,
    StateError,
    StravaSyncError,
)
from stravasync.fsutil import atomic_write, legible
from stravasync.logs import get_logger, redact_text, register_secret

__all__ = [
    "COMMAND_TIMEOUT",
    "HTTP_TIMEOUT",
    "KINDS",
    "PROBLEM",
    "RECOVERED",
    "UPLOADED",
    "Notice",
    "NoticeSettings",
    "Notices",
    "error_cause",
    "file_cause",
    "folder_cause",
    "url_problem",
]

log = get_logger(__name__)

PROBLEM = "problem"
UPLOADED = "uploaded"
RECOVERED = "recovered"
KINDS = frozenset({PROBLEM, UPLOADED, RECOVERED})
"""Every kind of notice, as ``[notify] on`` names them."""

HTTP_TIMEOUT = 5.0
"""Seconds an HTTP notice may take, all phases together."""
COMMAND_TIMEOUT = 10.0
"""Seconds a notice command may run before it is killed."""

WINDOW_S = 60.0
"""At most one notice of a kind per this many seconds; the rest are summed into one."""
MAX_NAMED = 20
"""Notices of a sum quoted in it (the message is cut at :data:`MAX_MESSAGE` anyway)."""
MAX_MESSAGE = 1000
"""Characters of message sent; a longer one is cut with an ellipsis."""
MAX_REMEMBERED = 1000
"""Causes remembered per kind; the oldest are forgotten beyond this."""

_TITLES = {
    PROBLEM: "needs you",
    UPLOADED: "new activity on Strava",
    RECOVERED: "fixed",
}
_PRIORITIES = {PROBLEM: "high", UPLOADED: "default", RECOVERED: "default"}
_SUMMED = {
    PROBLEM: "problems need you",
    UPLOADED: "activities uploaded",
    RECOVERED: "problems fixed",
}
_CAUSES: tuple[tuple[type[StravaSyncError], str], ...] = (
    (NotSignedIn, "auth:signed_out"),
    (ReauthRequired, "auth:signed_out"),
    (ScopeMissing, "auth:scope_missing"),
    (AppInactive, "auth:app_inactive"),
    (AthleteLimitReached, "auth:athlete_limit"),
    (KeyRefused, "auth:key_refused"),
    (StateError, "state:unwritable"),
)


class NoticeSettings(Protocol):
    """The ``[notify]`` section, as :meth:`Notices.from_settings` reads it."""

    @property
    def url(self) -> str | None:
        """Where to POST each notice; None or "" for nowhere."""

    @property
    def command(self) -> tuple[str, ...]:
        """The argv run per notice; empty for none."""

    @property
    def on(self) -> frozenset[str]:
        """Which kinds are sent (a subset of :data:`KINDS`)."""


@dataclass(frozen=True)
class Notice:
    """One notice, ready to send."""

    kind: str
    """``problem``, ``uploaded`` or ``recovered``."""
    cause: str
    """The stable key it is about, e.g. ``folder:/home/me/Garmin``."""
    title: str
    """A short title (ntfy's ``Title``), ``stravasync: ...``, already redacted."""
    message: str
    """One line of text, already redacted and cut to :data:`MAX_MESSAGE`."""
    account: str | None = None
    """The account it is about, when there are several (paced on its own)."""


def folder_cause(path: str | os.PathLike[str]) -> str:
    """The cause key of a watched folder's problem."""
    return f"folder:{os.path.abspath(os.path.expanduser(os.fspath(path)))}"


def file_cause(sha256: str) -> str:
    """The cause key of a file's problem (its content, so a renamed copy is the same)."""
    return f"file:{sha256}"


def error_cause(error: BaseException) -> str | None:
    """The cause key of an error that needs the owner, or None if it needs nobody."""
    for cls, cause in _CAUSES:
        if isinstance(error, cls):
            return cause
    return None


def url_problem(url: str) -> str | None:
    """What is wrong with a notice URL (for config validation), or None if it is usable."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "must start with http:// or https:// (e.g. https://ntfy.sh/my-topic)"
    if not parts.hostname:
        return "has no host name (e.g. https://ntfy.sh/my-topic)"
    return None


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """*text* redacted, on one line, at most *limit* characters.

    Control characters (a file name's ``ESC``, newline or bidi override) are escaped,
    ``\\x1b``, ``\\n``, ``\\u202e``: a notice cannot steer the terminal or the
    desktop that shows it, nor forge a line.
    """
    flat = " ".join(legible(redact_text(text)).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def header_value(text: str) -> str:
    """*text* as an HTTP header value: ASCII as is, else RFC 2047 (which ntfy reads)."""
    if text.isascii():
        return text
    return "=?UTF-8?B?" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "?="


class _Ledger:
    """The causes already told, by kind; what survives a restart."""

    def __init__(self, problems: dict[str, float], uploaded: dict[str, float]) -> None:
        self.problems = problems
        self.uploaded = uploaded

    @classmethod
    def load(cls, path: Path) -> _Ledger:
        try:
            data = json.loads(path.read_bytes())
            return cls(_causes(data.get("problems")), _causes(data.get("uploaded")))
        except FileNotFoundError:
            return cls({}, {})
        except (OSError, ValueError, AttributeError) as exc:
            log.debug("notice_ledger_unreadable", path=str(path), error=str(exc))
            return cls({}, {})

    def dump(self) -> bytes:
        data = {"version": 1, "problems": self.problems, "uploaded": self.uploaded}
        return json.dumps(data, sort_keys=True, indent=1).encode("utf-8") + b"\n"


def _causes(value: object) -> dict[str, float]:
    if not isinstance(value, dict):
        return {}
    return {str(k): float(v) for k, v in value.items() if isinstance(v, int | float)}


def _remember(table: dict[str, float], cause: str, now: float) -> None:
    table[cause] = now
    if len(table) > MAX_REMEMBERED:
        oldest = sorted(table, key=table.__getitem__)[: len(table) - MAX_REMEMBERED]
        for old in oldest:
            del table[old]


@dataclass
class _HeldBack:
    """Notices of one kind waiting for the end of their minute, to go as one."""

    notices: list[Notice]
    """The first :data:`MAX_NAMED` of them."""
    count: int = 0
    """How many there are."""


def summary(kind: str, held: Sequence[Notice], count: int) -> Notice:
    """One notice that sums ``count`` notices of ``kind`` (``held``: the first of them)."""
    if count == 1:
        return held[0]
    noun = _SUMMED[kind]
    named = "; ".join(n.message for n in held)
    more = f"; and {count - len(held)} more" if count > len(held) else ""
    whose = f"{held[0].account}: " if held[0].account else ""
    return Notice(kind=kind, cause=f"{held[0].cause} and {count - 1} more",
                  title=one_line(f"stravasync: {whose}{count} {noun}", 200),
                  message=one_line(f"{count} {noun}: {named}{more}"),
                  account=held[0].account)


class Notices:
    """Sends notices off the caller's thread, once per cause, never raising.

    At most one notice per kind goes out per :data:`WINDOW_S`: the first at once, the
    rest of that minute summed into one at its end ("12 activities uploaded: …"), so a
    backfill of hundreds of files is two notices, and a problem is never held back
    behind others' (the first of a quiet minute goes at once).

    Without a ``url`` or a ``command`` every method does nothing (and no file is
    written). Call :meth:`close` at shutdown to send what is waiting.
    """

    def __init__(
        self,
        *,
        url: str | None,
        command: Iterable[str],
        on: Iterable[str],
        state_path: Path,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        window_s: float = WINDOW_S,
    ) -> None:
        if url and (problem := url_problem(url)) is not None:
            log.warning("notify_url_refused", scheme=urlsplit(url).scheme, reason=problem)
            url = None
        if url and (password := urlsplit(url).password):
            register_secret(password)  # https://user:password@host/topic: basic auth
        self._url = url or None
        self._command = tuple(command)
        self._on = frozenset(on) & KINDS
        self._path = state_path
        self._transport = transport
        self._clock = clock
        self._window_s = window_s
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._outbox: list[Notice] = []
        self._held: dict[tuple[str, str | None], _HeldBack] = {}
        self._open_at: dict[tuple[str, str | None], float] = {}
        self._dirty = False
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._ledger = _Ledger.load(state_path) if self.enabled else _Ledger({}, {})

    @classmethod
    def from_settings(
        cls,
        settings: NoticeSettings,
        *,
        state_path: Path,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> Notices:
        """Notices as the ``[notify]`` section asks."""
        return cls(url=settings.url, command=settings.command, on=settings.on,
                   state_path=state_path, transport=transport, clock=clock)

    @property
    def enabled(self) -> bool:
        """Whether notices go anywhere at all."""
        return bool(self._url or self._command)

    # -- what callers say ---------------------------------------------------------------

    def problem(self, cause: str, message: str, *, title: str | None = None,
                account: str | None = None) -> None:
        """Tell the owner about *cause* (of *account*, if named), unless it was already
        told and not recovered."""
        self._tell(PROBLEM, self._ledger.problems, cause, message, title, account=account,
                   present=False)

    def recovered(self, cause: str, message: str, *, title: str | None = None,
                  account: str | None = None) -> None:
        """*cause* (of *account*) is fine again: tell so if it was a problem, and clear it."""
        self._tell(RECOVERED, self._ledger.problems, cause, message, title, account=account,
                   present=True)

    def uploaded(self, cause: str, message: str, *, title: str | None = None,
                 account: str | None = None) -> None:
        """A new activity; told once per *cause* (e.g. ``file:<sha256>``) and *account*."""
        self._tell(UPLOADED, self._ledger.uploaded, cause, message, title, account=account,
                   present=False)

    def _tell(
        self,
        kind: str,
        table: dict[str, float],
        cause: str,
        message: str,
        title: str | None,
        *,
        account: str | None,
        present: bool,
    ) -> None:
        """Change *table* when *cause* is (*present*) or is not in it, and hand the work on."""
        if not self.enabled:
            return
        # An account's cause is its own: jane's signed_out is not bob's (names hold no "/").
        key = cause if account is None else f"{account}/{cause}"
        with self._wakeup:
            if self._closed or (key in table) != present:
                return
            if present:
                del table[key]
            else:
                _remember(table, key, self._clock())
            self._dirty = True
            if kind in self._on:
                heading = f"stravasync: {title or _TITLES[kind]}"
                self._pace(Notice(kind=kind, cause=cause, title=one_line(heading, 200),
                                  message=one_line(message), account=account))
            self._wakeup.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name="stravasync-notices", daemon=True
                )
                self._thread.start()

    def _pace(self, notice: Notice) -> None:
        """Send ``notice`` now if its kind's minute is open (for its account), else hold it
        (lock held)."""
        now = time.monotonic()
        pace = (notice.kind, notice.account)
        held = self._held.get(pace)
        if held is None and self._open_at.get(pace, 0.0) <= now:
            self._outbox.append(notice)
            self._open_at[pace] = now + self._window_s
            return
        if held is None:
            held = self._held[pace] = _HeldBack([])
        if len(held.notices) < MAX_NAMED:
            held.notices.append(notice)
        held.count += 1

    # -- lifetime -----------------------------------------------------------------------

    def flush(self, timeout: float) -> bool:
        """Wait until everything is written and sent, held notices too; False if *timeout*
        ran out first."""
        deadline = time.monotonic() + timeout
        with self._wakeup:
            while self._dirty or self._outbox or self._held or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wakeup.wait(left)
        return True

    def close(self, timeout: float) -> None:
        """Send what is waiting, held notices at once (waiting at most *timeout* seconds),
        then stop the worker."""
        with self._wakeup:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            self._wakeup.notify_all()
        if thread is None:
            return
        thread.join(max(timeout, 0.0))
        if thread.is_alive():
            log.debug("notices_close_timeout", held=sum(h.count for h in self._held.values()))

    # -- the worker ---------------------------------------------------------------------

    def _next_batch(self) -> tuple[bool, list[Notice]] | None:
        """Wait for work: (whether to persist, notices to send); None once closed and done."""
        with self._wakeup:
            while True:
                now = time.monotonic()
                due = [pace for pace in self._held
                       if self._closed or self._open_at.get(pace, 0.0) <= now]
                if self._dirty or self._outbox or due:
                    break
                if self._closed:
                    return None
                waits = [self._open_at[pace] - now for pace in self._held]
                self._wakeup.wait(min(waits) if waits else None)
            batch, self._outbox = self._outbox, []
            for pace in due:
                held = self._held.pop(pace)
                batch.append(summary(pace[0], held.notices, held.count))
                self._open_at[pace] = now + self._window_s
            persist, self._dirty = self._dirty, False
            self._busy = True
            return persist, batch

    def _work(self) -> None:
        client = None
        if self._url is not None:
            client = httpx.Client(transport=self._transport, timeout=HTTP_TIMEOUT)
        try:
            while (work := self._next_batch()) is not None:
                persist, batch = work
                try:
                    if persist:
                        self._persist()
                    for notice in batch:
                        self._send(notice, client)
                except Exception as exc:  # noqa: BLE001 - a notice must never kill the worker
                    log.debug("notice_failed", via="worker", error=redact_text(repr(exc)))
                finally:
                    with self._wakeup:
                        self._busy = False
                        self._wakeup.notify_all()
        finally:
            if client is not None:
                client.close()

    def _persist(self) -> None:
        with self._lock:
            data = self._ledger.dump()
        try:
            atomic_write(self._path, data)
        except OSError as exc:
            log.debug("notice_ledger_not_written", path=str(self._path), error=str(exc))

    def _send(self, notice: Notice, client: httpx.Client | None) -> None:
        if client is not None and self._url is not None:
            _post(client, self._url, notice)
        if self._command:
            _run(self._command, notice)


def _post(client: httpx.Client, url: str, notice: Notice) -> None:
    headers = {
        "Title": header_value(notice.title),
        "Priority": _PRIORITIES[notice.kind],
        "Content-Type": "text/plain; charset=utf-8",
    }
    try:
        response = client.post(url, content=notice.message.encode("utf-8"), headers=headers)
    except httpx.HTTPError as exc:
        log.debug("notice_failed", via="http", kind=notice.kind, cause=notice.cause,
                  error=redact_text(f"{type(exc).__name__}: {exc}"))
        return
    if not response.is_success:
        log.debug("notice_failed", via="http", kind=notice.kind, cause=notice.cause,
                  status=response.status_code)
        return
    log.info("notice_sent", via="http", kind=notice.kind, cause=notice.cause)


def _run(command: tuple[str, ...], notice: Notice) -> None:
    env: Mapping[str, str] = {
        **os.environ,
        "STRAVASYNC_MESSAGE": notice.message,
        "STRAVASYNC_EVENT": notice.kind,
        "STRAVASYNC_TITLE": notice.title,
    }
    # stderr goes to a file, not a pipe: a child the command leaves behind cannot hold us.
    with tempfile.TemporaryFile() as err:
        try:
            done = subprocess.run(  # noqa: S603 - the owner's own configured command
                [*command, notice.message], env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=err, timeout=COMMAND_TIMEOUT, check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            log.debug("notice_failed", via="command", kind=notice.kind, cause=notice.cause,
                      error=redact_text(f"{type(exc).__name__}: {exc}"))
            return
        if done.returncode != 0:
            err.seek(0)
            said = one_line(err.read(4000).decode("utf-8", "replace"), 300)
            log.debug("notice_failed", via="command", kind=notice.kind, cause=notice.cause,
                      status=done.returncode, stderr=said)
            return
    log.info("notice_sent", via="command", kind=notice.kind, cause=notice.cause)
