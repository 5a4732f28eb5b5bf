"""Signing in to Strava: the authorization-code flow.

Owns the authorize URL, the one-shot callback listener on 127.0.0.1 (a free port,
``redirect_uri=http://localhost:PORT/callback``), the ``state`` check (an answer with a
foreign state is ignored, and the wait goes on), the granted-scope check, and handing
the exchanged tokens to the :class:`~stravasync.strava.tokens.TokenStore`. The
endpoints themselves are :class:`~stravasync.strava.oauth.OAuthClient`'s.
The redirected URL (or a bare code) may also be pasted on stdin, for machines where
the browser runs elsewhere. Nothing is stored unless ``activity:write`` was granted;
``activity:read_all`` is asked for too (it lets one list call settle many uploads) but
a sign-in without it still works, polling each upload.

Strava shows two refusals on its own page and never sends the browser back: the
application's athlete cap and an inactive application. A sign-in that hears nothing
names both, in the terminal after :data:`HINT_AFTER` seconds and in its timeout error.
"""

from __future__ import annotations

import contextlib
import html
import http.server
import secrets
import socket
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO
from urllib.parse import parse_qs, urlencode, urlsplit

from stravasync.errors import AuthFlowError, ScopeMissing
from stravasync.logs import get_logger, register_secret
from stravasync.strava.wire import SETTINGS_API_URL

if TYPE_CHECKING:
    from stravasync.strava.oauth import OAuthClient
    from stravasync.strava.tokens import Athlete, TokenStore

__all__ = [
    "HINT_AFTER",
    "LIST_SCOPE",
    "NO_ANSWER_CAUSES",
    "REQUESTED_SCOPE",
    "CallbackListener",
    "CallbackResult",
    "SignInResult",
    "authorize_url",
    "check_scope",
    "parse_callback",
    "sign_in",
    "sign_in_with_code",
]

log = get_logger(__name__)

REQUESTED_SCOPE = "read,activity:write,activity:read_all"
REQUIRED_SCOPE = "activity:write"
LIST_SCOPE = "activity:read_all"
"""The grant that lets one list call settle many uploads (private activities too)."""
CALLBACK_PATH = "/callback"
HINT_AFTER = 50.0
"""Seconds without an answer before the sign-in prints the likely causes while waiting."""
NO_ANSWER_CAUSES = (
    "Strava shows two refusals on its own page and never sends the browser back here. "
    "If the page says \"Limit of connected athletes exceeded\", the API application has "
    "reached its athlete cap: a new app starts at 1 athlete, and its owner raises the cap "
    f"in the app's settings at {SETTINGS_API_URL} (up to 10 athletes without Strava's "
    "review). If it says the application is inactive, the app's owner has no Strava "
    f"subscription: subscribe, then reactivate the app at {SETTINGS_API_URL}."
)
"""Why a sign-in may hear nothing: what the browser shows, and what to do."""

_SCOPE_ADVICE = (
    "Strava was not granted permission to upload activities (activity:write). "
    "Run `stravasync auth` again and leave 'Upload your activities to Strava' ticked."
)


@dataclass(frozen=True)
class CallbackResult:
    """What came back from Strava's authorize page (by redirect or paste)."""

    code: str | None
    """The authorization code; None when the athlete declined."""
    state: str | None
    """The ``state`` echoed back; None for a bare pasted code."""
    scope: str | None
    """Scopes the athlete granted; None when unknown (a bare pasted code)."""
    error: str | None
    """Strava's ``error`` parameter (``access_denied``), else None."""


@dataclass(frozen=True)
class SignInResult:
    """A finished sign-in: who, with which scopes, until when."""

    athlete: Athlete | None
    """The signed-in athlete."""
    scope: str | None
    """Granted scopes; None when they could not be seen (bare code)."""
    expires_at: int
    """When the first access token expires (it is refreshed automatically)."""


def authorize_url(*, oauth_url: str, client_id: str, redirect_uri: str, state: str) -> str:
    """Strava's authorize page for our scopes, with ``state`` to bind the answer to us."""
    query = urlencode({
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "approval_prompt": "auto",
        "scope": REQUESTED_SCOPE,
        "state": state,
    }, safe=",:/")
    return f"{oauth_url.rstrip('/')}/authorize?{query}"


def parse_callback(text: str) -> CallbackResult | None:
    """Read a redirected URL, its query string, or a bare code; None if it holds neither."""
    text = text.strip()
    if not text:
        return None
    query = text
    if "://" in text or text.startswith("/"):
        query = urlsplit(text).query
    elif text.startswith("?"):
        query = text[1:]
    if "=" not in query:
        if all(c.isalnum() or c in "-_." for c in text):
            register_secret(text)
            return CallbackResult(code=text, state=None, scope=None, error=None)
        return None
    params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
    code = params.get("code") or None
    register_secret(code)
    if code is None and "error" not in params:
        return None
    return CallbackResult(code=code, state=params.get("state"), scope=params.get("scope"),
                          error=params.get("error"))


def check_scope(scope: str | None) -> None:
    """Raise ScopeMissing unless ``scope`` (when known) includes activity:write."""
    if scope is None:
        return
    granted = {s.strip() for s in scope.split(",")}
    if REQUIRED_SCOPE not in granted:
        raise ScopeMissing(_SCOPE_ADVICE)


def _page(title: str, text: str) -> bytes:
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>stravasync</title></head>"
        f"<body style='font-family:sans-serif;margin:3em'><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(text)}</p></body></html>"
    ).encode()


class CallbackListener:
    """A one-answer HTTP listener on loopback for Strava's redirect.

    Use as a context manager. :meth:`wait` returns the first answer that belongs to
    this sign-in, from the browser or from :meth:`submit` (a pasted URL), or None
    after the timeout. An answer with a foreign ``state`` (any local process can send
    one) is refused, logged and otherwise ignored: the listener keeps waiting.
    """

    def __init__(self, *, expected_state: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.expected_state = expected_state
        self._done = threading.Event()
        self._result: CallbackResult | AuthFlowError | ScopeMissing | None = None
        self._lock = threading.Lock()
        self._servers: list[http.server.HTTPServer] = []
        self._threads: list[threading.Thread] = []
        handler = self._handler_class()
        try:
            self._servers.append(http.server.HTTPServer((host, port), handler))
        except OSError as exc:
            raise AuthFlowError(
                f"Cannot listen for Strava's answer on {host}:{port} ({exc.strerror}). "
                "Choose another --port, or leave it out to take any free one."
            ) from exc
        self.port: int = self._servers[0].server_address[1]
        if host == "127.0.0.1":
            # Browsers may resolve "localhost" to ::1 first; answer there too if we can.
            with contextlib.suppress(OSError):
                self._servers.append(_IPv6Server(("::1", self.port), handler))

    @property
    def redirect_uri(self) -> str:
        """Where Strava sends the browser back to."""
        return f"http://localhost:{self.port}{CALLBACK_PATH}"

    def __enter__(self) -> CallbackListener:
        for server in self._servers:
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                      name="auth-callback", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *_exc: object) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    @property
    def answered(self) -> bool:
        """Whether the sign-in has its answer (accepted, declined or refused by scope)."""
        return self._done.is_set()

    def submit(self, result: CallbackResult) -> bool:
        """Offer a pasted answer; False if it was refused, ignored or late.

        A bare code (no ``state``) is taken as the person's own; a pasted address whose
        ``state`` is foreign is ignored (:attr:`answered` stays False).
        """
        return self._offer(result, via="paste")[0]

    def _offer(
        self, result: CallbackResult, *, via: str
    ) -> tuple[bool, CallbackResult | AuthFlowError | ScopeMissing | None]:
        foreign = self._foreign(result, via=via)
        if foreign is not None:
            return False, foreign
        verdict = self._judge(result)
        with self._lock:
            if self._done.is_set():
                return False, None
            self._result = verdict
            self._done.set()
        return isinstance(verdict, CallbackResult), verdict

    def _foreign(self, result: CallbackResult, *, via: str) -> AuthFlowError | None:
        """Why an answer is not this sign-in's (its state), or None when it is.

        Over HTTP the state must match: any local process can call the listener. A
        paste may be a bare code (no state), which only the person at the terminal has.
        """
        state = result.state
        if state is None and via == "paste":
            return None
        if state is not None and secrets.compare_digest(
            state.encode(), self.expected_state.encode()
        ):
            return None
        log.warning("auth_callback_ignored", via=via,
                    reason="state missing" if state is None else "state mismatch")
        return AuthFlowError(
            "This answer does not belong to the sign-in waiting here (state mismatch), "
            "so it was ignored. Use the link `stravasync auth` printed, or run it again."
        )

    def _judge(self, result: CallbackResult) -> CallbackResult | AuthFlowError | ScopeMissing:
        if result.error is not None or result.code is None:
            return AuthFlowError(
                "Strava access was not granted"
                f" ({result.error or 'no code'}). Run `stravasync auth` and choose Authorize."
            )
        try:
            check_scope(result.scope)
        except ScopeMissing as exc:
            return exc
        return result

    def wait(self, timeout: float) -> CallbackResult | None:
        """The accepted answer; raises its error; None if nothing came within ``timeout``."""
        if not self._done.wait(timeout):
            return None
        result = self._result
        if isinstance(result, AuthFlowError | ScopeMissing):
            raise result
        return result

    def _handler_class(self) -> type[http.server.BaseHTTPRequestHandler]:
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            server_version = "stravasync"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != CALLBACK_PATH:
                    self._send(404, _page("Not found", "This is stravasync's sign-in helper."))
                    return
                result = parse_callback("?" + parts.query)
                if result is None:
                    self._send(400, _page("No answer", "This address expects Strava's reply."))
                    return
                accepted, verdict = listener._offer(result, via="http")
                if accepted:
                    self._send(200, _page(
                        "stravasync received Strava's answer",
                        "You can close this tab and return to the terminal.",
                    ))
                else:
                    text = "This sign-in has already finished." if verdict is None else str(
                        verdict)
                    title = "Sign-in failed" if listener.answered else "Not this sign-in"
                    self._send(400, _page(title, text))

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                # The request line holds the authorization code: never print it.
                return

        return Handler


class _IPv6Server(http.server.HTTPServer):
    address_family = socket.AF_INET6


def _read_pastes(stream: TextIO, listener: CallbackListener,
                 echo: Callable[[str], None], ended: threading.Event) -> None:
    """Feed pasted lines to the listener until one is accepted or input ends (``ended``)."""
    for line in stream:
        result = parse_callback(line)
        if result is None:
            if line.strip():
                echo("That is not a redirected URL or a code; paste the whole address.")
            continue
        if listener.submit(result) or listener.answered:
            return
        echo("That address belongs to another sign-in (its state does not match); "
             "paste the address this sign-in's link led to.")
    ended.set()
    echo("Input is closed: nothing can be pasted here; still waiting for the browser "
         "to come back to this machine.")


def _timeout_message(*, timeout: float, opened: bool, open_browser: bool,
                     can_paste: bool) -> str:
    """Why the sign-in gave up, its likely causes, and the next step that fits the mode."""
    text = f"No answer from Strava within {timeout:g} seconds. {NO_ANSWER_CAUSES}"
    by_code = ("pass the address the browser was sent to (http://localhost:...) with "
               "`stravasync auth --code ADDRESS`")
    command = "stravasync auth" if open_browser else "stravasync auth --no-browser"
    if opened and can_paste:
        return (f"{text} Run `stravasync auth` again (with --no-browser to paste the "
                "redirected address by hand).")
    if opened:
        return f"{text} Run `stravasync auth` again, or {by_code}."
    if can_paste:
        return (f"{text} Run `{command}` again, open the address it prints, authorize "
                "stravasync and paste the address the browser is sent to "
                "(http://localhost:...); or " + by_code + ".")
    return f"{text} Input was closed, so no address could be pasted: {by_code}."


def sign_in(
    *,
    oauth: OAuthClient,
    tokens: TokenStore,
    client_id: str,
    oauth_url: str,
    open_browser: bool = True,
    timeout: float = 300.0,
    echo: Callable[[str], None] = print,
    stdin: TextIO | None = None,
    browser: Callable[[str], bool] | None = None,
    port: int = 0,
    hint_after: float = HINT_AFTER,
) -> SignInResult:
    """Run the whole browser sign-in and store the tokens; raises AuthError subclasses.

    ``browser`` opens a URL (default: :func:`webbrowser.open`); ``stdin``, when given,
    is read for a pasted redirected URL or code while the listener waits. After
    ``hint_after`` seconds without an answer the likely causes are echoed, and the
    wait goes on until ``timeout``.
    """
    state = secrets.token_urlsafe(24)
    with CallbackListener(expected_state=state, port=port) as listener:
        url = authorize_url(oauth_url=oauth_url, client_id=client_id,
                            redirect_uri=listener.redirect_uri, state=state)
        opened = False
        if open_browser:
            try:
                opened = bool((browser or webbrowser.open)(url))
            except webbrowser.Error:
                opened = False
        if opened:
            echo("Opened Strava's authorization page in your browser. If nothing appeared, "
                 "open this address:")
        else:
            echo("Open this address in a browser and authorize stravasync:")
        echo(url)
        ended = threading.Event()
        if stdin is not None:
            echo("Waiting for Strava. If the browser runs on another machine, paste the "
                 "address it was sent to (http://localhost:...) here and press Enter.")
            threading.Thread(target=_read_pastes, args=(stdin, listener, echo, ended),
                             name="auth-paste", daemon=True).start()
        else:
            ended.set()
        result = listener.wait(min(hint_after, timeout))
        if result is None and timeout > hint_after:
            log.info("auth_no_answer_yet", waited_s=hint_after)
            echo(f"Still no answer from Strava after {hint_after:g} seconds. "
                 f"{NO_ANSWER_CAUSES} Still waiting, up to {timeout:g} seconds in all.")
            result = listener.wait(timeout - hint_after)
    if result is None or result.code is None:
        raise AuthFlowError(_timeout_message(
            timeout=timeout, opened=opened, open_browser=open_browser,
            can_paste=not ended.is_set()))
    return _finish(oauth=oauth, tokens=tokens, code=result.code, scope=result.scope)


def sign_in_with_code(
    *, oauth: OAuthClient, tokens: TokenStore, code_or_url: str
) -> SignInResult:
    """Exchange a code obtained by hand (or the redirected URL holding it) and store tokens."""
    result = parse_callback(code_or_url)
    if result is None or result.code is None:
        raise AuthFlowError(
            "That is neither an authorization code nor a redirected address holding one."
            if result is None or result.error is None
            else f"Strava access was not granted ({result.error}). Run `stravasync auth`."
        )
    check_scope(result.scope)
    return _finish(oauth=oauth, tokens=tokens, code=result.code, scope=result.scope)


def _finish(*, oauth: OAuthClient, tokens: TokenStore, code: str,
            scope: str | None) -> SignInResult:
    token_set = oauth.exchange_code(code, scope=scope)
    check_scope(token_set.scope)
    tokens.save_initial(token_set)
    log.info("signed_in", athlete_id=token_set.athlete.id if token_set.athlete else None,
             scope=token_set.scope)
    return SignInResult(athlete=token_set.athlete, scope=token_set.scope,
                        expires_at=token_set.expires_at)
