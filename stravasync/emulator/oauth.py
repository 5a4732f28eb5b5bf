"""The OAuth endpoints: authorize, token (code and refresh grants), revoke, deauthorize.

Handlers take the `Core`, a `Request` and the time, and return a `Reply`; the caller
holds the lock. Error bodies follow Strava's documented shapes exactly.
"""

from __future__ import annotations

import base64
import binascii
import html
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from stravasync.emulator.athletes import HouseholdAthlete
from stravasync.emulator.config import KNOWN_SCOPES
from stravasync.emulator.core import (
    Core,
    Reply,
    Request,
    athlete_limit,
    auth_error,
    bad_request,
    fault,
    inactive,
    json_reply,
    not_found,
)
from stravasync.emulator.forms import FormError, parse_body
from stravasync.emulator.tokens import Issued

ALWAYS_ALLOWED_HOSTS = ("localhost", "127.0.0.1")


def params_of(request: Request) -> dict[str, str]:
    """Query parameters with body fields (form or JSON) merged over them."""
    params = dict(request.query)
    params.update(parse_body(request.body, request.headers.get("content-type")).fields)
    return params


def authorize(core: Core, request: Request, *, now: float) -> Reply:  # noqa: PLR0911  # a router
    """GET (or approval-page POST) /oauth/authorize, for the athlete who signs in.

    That is the ``athlete`` field (query, or the approval page's login step), else
    the household's signed-in athlete (see `athletes`).
    """
    if core.knobs.inactive:
        return inactive()
    params = dict(request.query)
    ticked: list[str] | None = None
    if request.method == "POST":
        pairs = parse_qsl(request.body.decode("utf-8", errors="replace"), keep_blank_values=True)
        params.update(pairs)
        ticked = [value for key, value in pairs if key == "grant"]
    problem = _check_authorize(core, params)
    if problem is not None:
        return problem
    athlete = core.roster.chosen(params.get("athlete"))
    if athlete is None:
        return bad_request("Athlete", "athlete", "invalid")
    limit, connected = core.knobs.athlete_limit, core.tokens.connected
    if limit is not None and athlete.id not in connected and len(connected) >= limit:
        return _athlete_cap_page()
    redirect_uri, state = params["redirect_uri"], params.get("state", "")
    requested = [s for s in params.get("scope", "read").split(",") if s] or ["read"]
    if ticked is None and core.knobs.approval_page:
        return _approval_page(params, requested, athlete=athlete.id, roster=core.roster.all())
    if ticked is not None and params.get("approve") != "yes":
        return _redirect(redirect_uri, [("state", state), ("error", "access_denied")])
    granted = [s for s in requested if ticked is None or s in ticked]
    if core.knobs.granted_scope is not None:
        allowed = set(core.knobs.granted_scope.split(","))
        granted = [s for s in granted if s in allowed]
    scope = ",".join(granted)
    code = core.tokens.new_code(
        athlete_id=athlete.id,
        scope=scope,
        expires_at=now + core.knobs.code_lifetime_s,
    )
    return _redirect(redirect_uri, [("state", state), ("code", code), ("scope", scope)])


def _check_authorize(core: Core, params: dict[str, str]) -> Reply | None:
    if params.get("client_id") != core.config.client_id:
        return bad_request("Application", "client_id", "invalid")
    redirect_uri = params.get("redirect_uri", "")
    try:
        parts = urlsplit(redirect_uri)
        host = (parts.hostname or "").lower()
    except ValueError:
        return bad_request("Application", "redirect_uri", "invalid")
    domains = tuple(d.lower() for d in core.config.callback_domains)
    allowed = host in ALWAYS_ALLOWED_HOSTS or any(
        host == d or host.endswith("." + d) for d in domains
    )
    if not parts.scheme or not allowed:
        return bad_request("Application", "redirect_uri", "invalid")
    if params.get("response_type") != "code":
        return bad_request("Application", "response_type", "invalid")
    scopes = [s for s in params.get("scope", "read").split(",") if s]
    if any(s not in KNOWN_SCOPES for s in scopes):
        return bad_request("Application", "scope", "invalid")
    return None


def _athlete_cap_page() -> Reply:
    """Strava's own 403 page for a new athlete beyond the cap: no redirect, no code."""
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<title>Strava | Forbidden</title></head><body><div class='container'>"
        "<h1>Forbidden</h1><p>Limit of connected athletes exceeded</p>"
        "<p><a href='https://www.strava.com/dashboard'>Return to Strava</a></p>"
        "</div></body></html>"
    )
    return Reply(
        status=403, body=page.encode(), content_type="text/html; charset=utf-8", note="athlete_cap"
    )


def _redirect(redirect_uri: str, pairs: list[tuple[str, str]]) -> Reply:
    query = "&".join(f"{key}={quote(value, safe=',:')}" for key, value in pairs)
    separator = "&" if "?" in redirect_uri else "?"
    location = redirect_uri + separator + query
    return Reply(status=302, headers=(("Location", location),), content_type="text/plain")


def _approval_page(
    params: dict[str, str], requested: list[str], *, athlete: int, roster: list[HouseholdAthlete]
) -> Reply:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
        if k in {"client_id", "redirect_uri", "response_type", "scope", "state"}
    )
    login = "".join(
        f'<option value="{a.id}"{" selected" if a.id == athlete else ""}>'
        f"{html.escape(a.firstname)} {html.escape(a.lastname)} ({a.id})</option>"
        for a in roster
    )
    boxes = "".join(
        f'<label><input type="checkbox" name="grant" value="{html.escape(s)}" checked> '
        f"{html.escape(s)}</label><br>"
        for s in requested
    )
    page = (
        "<!doctype html><html><head><title>Authorize (Strava emulator)</title></head><body>"
        "<h1>Authorize application</h1><form method=post action=/oauth/authorize>"
        f'{hidden}<label>Signed in as <select name="athlete">{login}</select></label><br>'
        f"{boxes}"
        '<button name="approve" value="yes">Authorize</button> '
        '<button name="approve" value="no">Cancel</button></form></body></html>'
    )
    return Reply(status=200, body=page.encode(), content_type="text/html; charset=utf-8")


def _client_problem(core: Core, *, client_id: str | None, secret: str | None) -> Reply | None:
    if client_id != core.config.client_id:
        return bad_request("Application", "client_id", "invalid")
    if core.config.client_secret and secret != core.config.client_secret:
        return fault(401, "Authorization Error", ("Application", "client_secret", "invalid"))
    return None


def token(core: Core, request: Request, *, now: float) -> Reply:  # noqa: PLR0911  # a router
    """POST /oauth/token."""
    if core.knobs.inactive:
        return inactive()
    try:
        params = params_of(request)
    except FormError:
        return bad_request("Application", "body", "invalid")
    problem = _client_problem(
        core, client_id=params.get("client_id"), secret=params.get("client_secret")
    )
    if problem is not None:
        return problem
    grant_type = params.get("grant_type")
    lifetime = core.knobs.access_token_lifetime_s
    if grant_type == "authorization_code":
        taken = core.tokens.take_code(params.get("code", ""), now=now)
        if isinstance(taken, str):
            return bad_request("AuthorizationCode", "code", taken)
        limit = core.knobs.athlete_limit
        connected = core.tokens.connected
        if limit is not None and taken.athlete_id not in connected and len(connected) >= limit:
            return athlete_limit()
        issued = core.tokens.open_grant(
            athlete_id=taken.athlete_id, scope=taken.scope, now=now, lifetime=lifetime
        )
        return json_reply(200, token_body(core, issued, now=now, with_athlete=True))
    if grant_type == "refresh_token":
        refreshed = core.tokens.refresh(
            params.get("refresh_token", ""),
            now=now,
            lifetime=lifetime,
            rotate=core.knobs.rotate_refresh_tokens,
        )
        if refreshed is None:
            return bad_request("RefreshToken", "refresh_token", "invalid")
        return json_reply(200, token_body(core, refreshed, now=now, with_athlete=False))
    return bad_request("Application", "grant_type", "invalid")


def token_body(core: Core, issued: Issued, *, now: float, with_athlete: bool) -> dict[str, Any]:
    """The token response: the exchange form has the athlete, the refresh form not."""
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "expires_at": issued.expires_at,
        "expires_in": issued.expires_at - int(now),
        "refresh_token": issued.grant.refresh_token,
        "access_token": issued.access_token,
    }
    if with_athlete:
        body["athlete"] = dict(core.athlete(issued.grant.athlete_id))
    return body


def revoke(core: Core, request: Request, *, now: float) -> Reply:
    """POST /oauth/revoke: HTTP Basic client credentials, body token=...; kills the grant.

    Either token of a grant (access or refresh, expired or not) revokes both. The
    client credentials are taken from the Basic header only.
    """
    del now
    if core.knobs.inactive:
        return inactive()
    try:
        params = params_of(request)
    except FormError:
        return bad_request("Application", "body", "invalid")
    client_id, secret = _basic_credentials(request.headers.get("authorization", ""))
    problem = _client_problem(core, client_id=client_id, secret=secret)
    if problem is not None:
        return problem
    value = params.get("token")
    if not value:
        return bad_request("Token", "token", "missing")
    grant = core.tokens.grant_of(value)
    if grant is not None:
        core.tokens.revoke_grant(grant)
    return json_reply(200, {})  # RFC 7009: unknown tokens are not an error


def deauthorize(core: Core, request: Request, *, now: float) -> Reply:
    """POST /oauth/deauthorize with a Bearer header: disconnects the athlete.

    With `header_only_tokens` (the default, Strava from 1 June 2027) a request that
    carries `access_token` in its query string or form is refused with 401, even if
    the header is right. With `deauthorize_retired` the endpoint is gone (404).
    """
    if core.knobs.deauthorize_retired:
        return not_found("Application", "path")
    if core.knobs.inactive:
        return inactive()
    try:
        params = params_of(request)
    except FormError:
        return bad_request("Application", "body", "invalid")
    header = bearer_token(request.headers.get("authorization", ""))
    in_form = params.get("access_token")
    if core.knobs.header_only_tokens and in_form is not None:
        return auth_error("form_token")
    value = header or in_form
    grant = core.tokens.check_access(value or "", now=now)
    if grant is None:
        return auth_error()
    core.tokens.revoke_athlete(grant.athlete_id)
    return json_reply(200, {"access_token": value})


def _basic_credentials(header: str) -> tuple[str | None, str | None]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    client_id, _, secret = decoded.partition(":")
    return client_id, secret


def bearer_token(header: str) -> str | None:
    """The token of an `Authorization: Bearer ...` header, if that is what it holds."""
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None
