"""The HTTP side: a `ThreadingHTTPServer` on loopback, and `Emulator`, the object tests hold.

The handler reads the body (Content-Length or chunked), hands an `EmulatorState` a
`Request` and writes its `Reply` (HTTP/1.1, keep-alive). Added latency is slept
here, outside the state lock; a dropped reply closes the socket without a byte.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from stravasync.emulator.app import EmulatorState
from stravasync.emulator.athletes import HouseholdAthlete
from stravasync.emulator.config import EmulatorConfig, Knobs
from stravasync.emulator.core import JSON_TYPE, Reply, Request
from stravasync.emulator.intervals import PREFIX as INTERVALS_PREFIX

log = logging.getLogger(__name__)


class _BodyError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], *, state: EmulatorState, max_body: int) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.state = state
        self.max_body = max_body
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "StravaEmulator/1.0"
    timeout = 120
    disable_nagle_algorithm = True  # small keep-alive answers must not wait for delayed ACKs
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log (see EmulatorConfig.on_request)."""

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except _BodyError as exc:
            self.close_connection = True
            self._send(Reply(status=exc.status, body=str(exc).encode(), content_type="text/plain"))
            return
        split = urlsplit(self.path)
        request = Request(
            method=self.command.upper(),
            path=split.path or "/",
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        state = self.server.state
        try:
            reply = state.handle(request)
        except Exception:
            log.exception("emulator_handler_failed")
            reply = Reply(status=500, body=b'{"message":"emulator bug"}', content_type=JSON_TYPE)
        latency = state.latency_for(request.path)
        if latency > 0:
            time.sleep(latency)
        if reply.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(reply)

    def _read_body(self) -> bytes:
        limit = self.server.max_body
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return b""
        try:
            length = int(length_text)
        except ValueError:
            raise _BodyError(400, "bad Content-Length") from None
        if length < 0:
            raise _BodyError(400, "bad Content-Length")
        if length > limit:
            raise _BodyError(413, "request body too large")
        body = self.rfile.read(length)
        if len(body) < length:
            raise _BodyError(400, "body shorter than Content-Length")
        return body

    def _read_chunked(self, limit: int) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BodyError(400, "bad chunk size") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > limit:
                raise _BodyError(413, "request body too large")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply.body)


class Emulator:
    """The Strava API emulator, served on loopback from a background thread.

    >>> with Emulator(EmulatorConfig(seed=1)) as strava:
    ...     tokens = strava.issue_tokens()
    ...     strava.api_url  # 'http://127.0.0.1:<port>/api/v3'
    """

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.state = EmulatorState(self.config)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Emulator:
        """Bind and serve in a daemon thread; returns self."""
        if self._server is not None:
            raise RuntimeError("emulator already started")
        server = _Server(
            (self.config.host, self.config.port),
            state=self.state,
            max_body=self.config.max_body_bytes,
        )
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"strava-emulator-{server.server_address[1]}",
        )
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port."""
        if self._server is None:
            raise RuntimeError("emulator not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """e.g. http://127.0.0.1:8723"""
        host = self.config.host
        if host in {"0.0.0.0", ""}:  # noqa: S104 (a URL for a client, not a bind)
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The `api_url` to configure: .../api/v3"""
        return self.base_url + "/api/v3"

    @property
    def pathless_api_url(self) -> str:
        """The same API without the path, as https://api-v3.strava.com serves it from 2027."""
        return self.base_url

    @property
    def oauth_url(self) -> str:
        """The `oauth_url` to configure: .../oauth"""
        return self.base_url + "/oauth"

    @property
    def intervals_url(self) -> str:
        """The intervals.icu `api_url` to configure: .../intervals/api/v1"""
        return self.base_url + INTERVALS_PREFIX

    def toml_snippet(self) -> str:
        """A ready `[strava]` section pointing at this emulator."""
        return (
            "[strava]\n"
            f'client_id = "{self.config.client_id}"\n'
            f'client_secret = "{self.config.client_secret}"\n'
            f'api_url = "{self.api_url}"\n'
            f'oauth_url = "{self.oauth_url}"\n'
        )

    # Delegates to the state, so tests need only the Emulator.

    @property
    def knobs(self) -> Knobs:
        """The knobs in force."""
        return self.state.knobs

    def now(self) -> float:
        """The emulator's clock."""
        return self.state.now()

    def inspect(self, *, requests: bool = True) -> dict[str, Any]:
        """See `EmulatorState.inspect`."""
        return self.state.inspect(requests=requests)

    def set_knobs(self, **changes: Any) -> Knobs:
        """See `EmulatorState.set_knobs`."""
        return self.state.set_knobs(**changes)

    def set_usage(self, **changes: int) -> dict[str, int | float]:
        """See `EmulatorState.set_usage`."""
        return self.state.set_usage(**changes)

    def issue_tokens(
        self, *, athlete_id: int | None = None, scope: str = "read,activity:write"
    ) -> dict[str, Any]:
        """See `EmulatorState.issue_tokens`."""
        return self.state.issue_tokens(athlete_id=athlete_id, scope=scope)

    def expire_access_tokens(self) -> int:
        """See `EmulatorState.expire_access_tokens`."""
        return self.state.expire_access_tokens()

    def revoke_athlete(self, athlete_id: int | None = None) -> int:
        """See `EmulatorState.revoke_athlete`."""
        return self.state.revoke_athlete(athlete_id)

    def add_activity(
        self,
        data: bytes,
        *,
        athlete_id: int | None = None,
        name: str = "Seeded activity",
        start_date: float | None = None,
        private: bool = False,
    ) -> int:
        """See `EmulatorState.add_activity`."""
        return self.state.add_activity(
            data, athlete_id=athlete_id, name=name, start_date=start_date, private=private
        )

    def delete_activity(self, activity_id: int) -> None:
        """See `EmulatorState.delete_activity`."""
        self.state.delete_activity(activity_id)

    def sign_in_as(self, athlete_id: int) -> None:
        """See `EmulatorState.sign_in_as`."""
        self.state.sign_in_as(athlete_id)

    def add_athlete(self, athlete: HouseholdAthlete) -> dict[str, Any]:
        """See `EmulatorState.add_athlete`."""
        return self.state.add_athlete(athlete)

    def members(self) -> list[dict[str, Any]]:
        """See `EmulatorState.members`."""
        return self.state.members()

    def activities_of(self, athlete_id: int) -> list[dict[str, Any]]:
        """See `EmulatorState.activities_of`."""
        return self.state.activities_of(athlete_id)

    def intervals_activities_of(self, athlete: int | str) -> list[dict[str, Any]]:
        """See `EmulatorState.intervals_activities_of`."""
        return self.state.intervals_activities_of(athlete)

    def intervals_key(self, athlete: int | str | None = None) -> str | None:
        """See `EmulatorState.intervals_key`."""
        return self.state.intervals_key(athlete)

    def revoke_intervals_key(self, athlete: int | str) -> int:
        """See `EmulatorState.revoke_intervals_key`."""
        return self.state.revoke_intervals_key(athlete)

    def replace_intervals_key(self, athlete: int | str, key: str) -> None:
        """See `EmulatorState.replace_intervals_key`."""
        self.state.replace_intervals_key(athlete, key)
