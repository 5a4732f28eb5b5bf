"""Logging: structlog set up once, and a processor that keeps secrets out of every line.

Owns the output format (console renderer on a TTY, JSON lines with ``timestamp``,
``level`` and ``event`` otherwise), the level filter, the bridge that carries the
standard library's log records (httpx, APScheduler) through the same pipeline, the
syslog priority prefix under journald, and secret masking.

Under systemd, when ``$JOURNAL_STREAM`` (``DEV:INODE``) names the file our log stream
writes to, every line starts with its syslog priority (``<3>`` error and critical,
``<4>`` warning, ``<6>`` info, ``<7>`` debug), which journald strips and stores, so
``journalctl -p warning`` finds warnings; the rest of the line stays JSON (or console).

A value never breaks its line: JSON escapes control characters, and console lines
show them escaped (``\\x1b``, ``\\n``, ``\\u202e``), so a file name can neither
forge a line (nor a journal entry) nor steer the terminal.

A human command (``auth``, ``upload``, ``retry``, ``config``, ``status``) calls
:func:`configure_logging` with ``human=True``: its log events go to stderr as console
lines (never JSON, even in a pipe), warnings and above only, so they never read like
part of the command's own output on stdout.

Masking works three ways, so that a token cannot reach output by any road:

- values under sensitive keys (``access_token``, ``refresh_token``, ``code``,
  ``client_secret``, ``authorization`` ...) are replaced outright;
- every exact string handed to :func:`register_secret` (tokens as soon as they are
  read or received, the client secret when the config is loaded) is masked wherever
  it appears, in any value, in the event text, in a rendered exception;
- token-shaped text (``Bearer …``, ``access_token=…``, ``"refresh_token": "…"``,
  40-hex strings) is masked even if nobody registered it.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import traceback
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog

__all__ = [
    "MASK",
    "configure_logging",
    "get_logger",
    "journal_stream_matches",
    "redact_text",
    "register_secret",
]

MASK = "***"

get_logger = structlog.get_logger

_SENSITIVE_KEYS = frozenset(
    {
        "access_token",
        "refresh_token",
        "token",
        "code",
        "client_secret",
        "secret",
        "authorization",
        "password",
    }
)
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}
# syslog(3) priorities journald reads from a "<N>" line prefix.
_PRIORITIES = {"critical": 3, "error": 3, "exception": 3, "warning": 4, "warn": 4,
               "info": 6, "debug": 7}
_DEFAULT_PRIORITY = 6

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_secret_pattern: re.Pattern[str] | None = None

_TOKEN_PATTERNS = (
    # Authorization headers and their values.
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/=]{8,}"),
    # key=value in query strings and form bodies.
    re.compile(
        r"(?i)((?:access_token|refresh_token|client_secret|code|token)=)[^&\s\"'<>]+"
    ),
    # "key": "value" in JSON text.
    re.compile(
        r"(?i)(\"(?:access_token|refresh_token|client_secret|code|token)\"\s*:\s*\")[^\"]*"
    ),
    # Strava's tokens are 40 lower-case hex characters.
    re.compile(r"()\b[0-9a-f]{40}\b"),
)


def register_secret(value: str | None) -> None:
    """Mask this exact string in every log line from now on (ignores short values)."""
    global _secret_pattern  # noqa: PLW0603 - one registry for the whole process
    if not value or len(value) < 6:
        return
    with _secrets_lock:
        if value in _secrets:
            return
        _secrets.add(value)
        ordered = sorted(_secrets, key=len, reverse=True)
        _secret_pattern = re.compile("|".join(re.escape(s) for s in ordered))


def redact_text(text: str) -> str:
    """Return *text* with registered secrets and token-shaped substrings masked."""
    pattern = _secret_pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    for token_re in _TOKEN_PATTERNS:
        text = token_re.sub(lambda m: m.group(1) + MASK, text)
    return text


def _redact_value(key: str | None, value: Any) -> Any:
    if key is not None and key.lower() in _SENSITIVE_KEYS and value is not None:
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    if isinstance(value, Mapping):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(None, v) for v in value]
    return value


def _render_exc_info(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Turn ``exc_info`` into an ``exception`` string, so the redactor sees it."""
    exc_info = event_dict.pop("exc_info", None)
    if not exc_info:
        return event_dict
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    elif not isinstance(exc_info, tuple):
        exc_info = sys.exc_info()
    if exc_info[0] is not None:
        event_dict["exception"] = "".join(traceback.format_exception(*exc_info)).rstrip()
    return event_dict


def _printable(text: str) -> str:
    """*text* with every character :meth:`str.isprintable` refuses escaped (``\\x1b``)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _one_line_values(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Escape control characters in console values: a name cannot steer the terminal.

    A newline, an ``ESC[2J`` or a bidi override in a value (a file name) would start a
    forged line, clear the screen or reorder the line; JSON lines escape them anyway.
    A rendered exception keeps its line breaks (each line gets the journal prefix).
    """
    for key, value in event_dict.items():
        if not isinstance(value, str):
            continue
        if key == "exception":
            event_dict[key] = "\n".join(_printable(line) for line in value.split("\n"))
        else:
            event_dict[key] = _printable(value)
    return event_dict


def _redact(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Mask secrets in every key, value, the event text and rendered exceptions."""
    for key in list(event_dict):
        event_dict[key] = _redact_value(key if key != "event" else None, event_dict[key])
    return event_dict


class _StdlibBridge(logging.Handler):
    """Carries standard-library log records (httpx, APScheduler) into structlog."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken foreign log call must not crash us
            message = str(record.msg)
        log = structlog.get_logger(record.name)
        log.log(record.levelno, "library_log", logger=record.name, message=message)


def journal_stream_matches(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Whether *stream* is the journald stream systemd named in ``$JOURNAL_STREAM``."""
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    dev, sep, ino = value.partition(":")
    if not sep:
        return False
    try:
        st = os.fstat(stream.fileno())
        return (st.st_dev, st.st_ino) == (int(dev), int(ino))
    except (AttributeError, ValueError, OSError):  # io.StringIO, closed, not a number
        return False


class _JournalPriority:
    """Wraps a renderer: each rendered line starts with its syslog priority, ``<N>``."""

    def __init__(self, renderer: Any) -> None:
        self._renderer = renderer

    def __call__(self, logger: Any, name: str, event_dict: MutableMapping[str, Any]) -> str:
        level = str(event_dict.get("level", name)).lower()
        prefix = f"<{_PRIORITIES.get(level, _DEFAULT_PRIORITY)}>"
        text = str(self._renderer(logger, name, event_dict))
        # A console line with a traceback spans lines; journald reads each one alone.
        return "\n".join(prefix + line for line in text.split("\n"))


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def configure_logging(
    *, fmt: str = "auto", level: str = "info", stream: TextIO | None = None,
    human: bool = False,
) -> None:
    """Set up structlog (and the stdlib bridge) for the given format and level.

    *fmt* is ``auto`` (console on a TTY, JSON lines otherwise), ``console`` or
    ``json``. With ``human=True`` (commands that print for a person) every event is
    a console line without a timestamp, whatever *fmt* says, and only warnings and
    above pass, whatever *level* says. Under journald each line gets its priority.
    """
    out = stream if stream is not None else sys.stderr
    use_json = not human and (fmt == "json" or (fmt == "auto" and not _is_tty(out)))
    renderer: Any
    escape: list[Any] = []
    if use_json:
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=_is_tty(out))
        escape = [_one_line_values]
    if journal_stream_matches(out):
        renderer = _JournalPriority(renderer)
    numeric = _LEVELS.get(level.lower(), logging.INFO)
    if human:
        numeric = max(numeric, logging.WARNING)
    stamp: list[Any] = (
        [] if human else [structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp")]
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            *stamp,
            _render_exc_info,
            _redact,
            *escape,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StdlibBridge):
            root.removeHandler(handler)
    root.addHandler(_StdlibBridge())
    root.setLevel(numeric)
    # Chatty libraries: only their warnings matter to a person reading our logs.
    for name in ("httpx", "httpcore", "apscheduler", "watchdog", "urllib3"):
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
