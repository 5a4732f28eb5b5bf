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

Never in the way: the caller only updates memory and queues the work; one worker
thread writes the file and sends, each send with a short timeout (HTTP 5 s, command
10 s). A failure is logged at debug level and never raised. Messages pass through
:func:`stravasync.logs.redact_text`, so no token or secret is ever sent.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from stravasync.errors import (
    AppInactive,
    AthleteLimitReached,
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

QUEUE_SIZE = 64
"""Notices waiting to be sent; beyond this a notice is dropped (and logged)."""
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
_CAUSES: tuple[tuple[type[StravaSyncError], str], ...] = (
    (NotSignedIn, "auth:signed_out"),
    (ReauthRequired, "auth:signed_out"),
    (ScopeMissing, "auth:scope_missing"),
    (AppInactive, "auth:app_inactive"),
    (AthleteLimitReached, "auth:athlete_limit"),
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


_STOP = object()


class Notices:
    """Sends notices off the caller's thread, once per cause, never raising.

    Without a ``url`` or a ``command`` every method does nothing (and no file is
    written). Call :meth:`close` at shutdown to send what is queued.
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
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._closed = False
        self._queue: queue.Queue[object] = queue.Queue(maxsize=QUEUE_SIZE)
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

    def problem(self, cause: str, message: str, *, title: str | None = None) -> None:
        """Tell the owner about *cause*, unless it was already told and not recovered."""
        self._tell(PROBLEM, self._ledger.problems, cause, message, title, present=False)

    def recovered(self, cause: str, message: str, *, title: str | None = None) -> None:
        """*cause* is fine again: tell so if it was a problem, and clear it."""
        self._tell(RECOVERED, self._ledger.problems, cause, message, title, present=True)

    def uploaded(self, cause: str, message: str, *, title: str | None = None) -> None:
        """A new activity is on Strava; told once per *cause* (e.g. ``file:<sha256>``)."""
        self._tell(UPLOADED, self._ledger.uploaded, cause, message, title, present=False)

    def _tell(
        self,
        kind: str,
        table: dict[str, float],
        cause: str,
        message: str,
        title: str | None,
        *,
        present: bool,
    ) -> None:
        """Change *table* when *cause* is (*present*) or is not in it, and queue the work."""
        if not self.enabled:
            return
        with self._lock:
            if self._closed or (cause in table) != present:
                return
            before = table.get(cause)
            if present:
                del table[cause]
            else:
                _remember(table, cause, self._clock())
            notice = None
            if kind in self._on:
                heading = f"stravasync: {title or _TITLES[kind]}"
                notice = Notice(kind=kind, cause=cause, title=one_line(heading, 200),
                                message=one_line(message))
            try:
                self._queue.put_nowait(notice)
            except queue.Full:
                if before is None:
                    table.pop(cause, None)
                else:
                    table[cause] = before
                log.debug("notice_dropped", kind=kind, cause=cause, reason="queue full")
                return
            self._pending += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name="stravasync-notices", daemon=True
                )
                self._thread.start()

    # -- lifetime -----------------------------------------------------------------------

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued is written and sent; False if *timeout* ran out."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self, timeout: float) -> None:
        """Send what is queued (waiting at most *timeout* seconds), then stop the worker."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        if thread is None:
            return
        deadline = time.monotonic() + timeout
        try:
            self._queue.put(_STOP, timeout=max(timeout, 0.0))
        except queue.Full:
            log.debug("notices_close_timeout", pending=self._pending)
            return
        thread.join(max(deadline - time.monotonic(), 0.0))
        if thread.is_alive():
            log.debug("notices_close_timeout", pending=self._pending)

    # -- the worker ---------------------------------------------------------------------

    def _work(self) -> None:
        client = None
        if self._url is not None:
            client = httpx.Client(transport=self._transport, timeout=HTTP_TIMEOUT)
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                try:
                    self._persist()
                    if isinstance(item, Notice):
                        self._send(item, client)
                except Exception as exc:  # noqa: BLE001 - a notice must never kill the worker
                    log.debug("notice_failed", via="worker", error=redact_text(repr(exc)))
                finally:
                    with self._idle:
                        self._pending -= 1
                        self._idle.notify_all()
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
