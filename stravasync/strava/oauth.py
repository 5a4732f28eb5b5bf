"""Strava's OAuth endpoints: code exchange, token refresh and sign-out.

Owns :class:`OAuthClient`: trading an authorization code for tokens, refreshing them
(it is the token store's :class:`~stravasync.strava.tokens.Refresher`), and signing out
through ``/revoke`` with a ``/deauthorize`` fallback (:class:`SignOut` tells how it
went). Failures are translated by the boundary in :mod:`stravasync.strava.wire`. The client
secret is registered with the log redaction before anything is sent.

Where tokens travel: an access token only in the ``Authorization: Bearer`` header
(``/deauthorize`` refuses one in a form field or query string from 1 June 2027); the
refresh token and the authorization code in the ``/token`` form and the token to
revoke in the ``/revoke`` form, as those endpoints define them; never in a URL.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import httpx

from stravasync.errors import (
    ApiError,
    AuthFlowError,
    ConfigError,
    ReauthRequired,
    TransientError,
)
from stravasync.logs import get_logger, register_secret
from stravasync.strava.tokens import TokenSet
from stravasync.strava.wire import (
    DEAD_END_RETRY,
    RETRY_LATER,
    SETTINGS_API_URL,
    USER_AGENT,
    athlete_from,
    dead_end,
    has_error,
    is_athlete_limit,
    json_body,
    make_timeout,
    raise_for_response,
    translate_errors,
)

if TYPE_CHECKING:
    from stravasync.config.settings import StravaConfig

__all__ = ["DEAUTHORIZE_RETIRES", "REVOKE_BY_HAND", "OAuthClient", "SignOut"]

log = get_logger(__name__)

DEAUTHORIZE_RETIRES = "1 June 2027"
"""When Strava retires ``/oauth/deauthorize`` (and refuses tokens in forms and queries)."""
REVOKE_BY_HAND = (
    "Revoke stravasync's access by hand at https://www.strava.com/settings/apps."
)
"""How a person signs out when stravasync cannot: Strava's list of connected apps."""
_SIGN_IN_AGAIN = "Then run `stravasync auth` again."
_ABSENT = (404, 405, 410, 501)  # the endpoint is not there (any more)


@dataclass(frozen=True)
class SignOut:
    """How a sign-out at Strava went."""

    confirmed: bool
    """Strava confirmed that the tokens no longer work."""
    via: Literal["revoke", "deauthorize", "none"]
    """The endpoint that answered last; "none" when no call could be made."""
    note: str = ""
    """What the person should know besides, as a sentence or two; empty if nothing.

    Unconfirmed: why. Confirmed through ``/deauthorize``: that it retires on
    :data:`DEAUTHORIZE_RETIRES` and what to do then.
    """


class OAuthClient:
    """Strava's OAuth endpoints: code exchange, refresh (a ``Refresher``), sign-out."""

    def __init__(
        self,
        *,
        config: StravaConfig,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._clock = clock
        register_secret(config.client_secret)
        self._http = httpx.Client(
            base_url=config.oauth_url.rstrip("/") + "/",
            transport=transport,
            timeout=make_timeout(timeout),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=False,
        )

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    def __enter__(self) -> OAuthClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _need_secret(self) -> None:
        if not self._config.client_secret:
            raise ConfigError(
                "No Strava client secret is configured. Set [strava] client_secret, "
                "client_secret_file, or $STRAVASYNC_CLIENT_SECRET "
                "(from https://www.strava.com/settings/api)."
            )

    def _sign_in_advice(self) -> str:
        """What to do when the sign-in cannot reach Strava (nothing retries it)."""
        return (f"Check the network connection and [strava] oauth_url "
                f"({self._config.oauth_url}) in the config, then run `stravasync auth` again.")

    def _post_token(
        self, form: dict[str, str], *, what: str, advice: str = RETRY_LATER,
        dead_end_advice: str = DEAD_END_RETRY,
    ) -> httpx.Response:
        self._need_secret()
        form = {"client_id": self._config.client_id,
                "client_secret": self._config.client_secret, **form}
        with translate_errors(what, advice=advice):
            response = self._http.post("token", data=form)
            response.read()
        status = response.status_code
        body = json_body(response)
        if is_athlete_limit(response):
            raise dead_end("athlete_limit", status_code=status, advice=dead_end_advice)
        if 400 <= status < 500 and has_error(body, resource="Application", code="Inactive"):
            raise dead_end("app_inactive", status_code=status, advice=dead_end_advice)
        if status in (400, 401, 403) and has_error(body, resource="Application"):
            raise _bad_credentials()
        return response

    def exchange_code(self, code: str, *, scope: str | None = None) -> TokenSet:
        """Trade an authorization code for tokens and the athlete (``scope`` as granted)."""
        register_secret(code)
        response = self._post_token(
            {"code": code, "grant_type": "authorization_code"}, what="sign-in",
            advice=self._sign_in_advice(), dead_end_advice=_SIGN_IN_AGAIN,
        )
        body = json_body(response)
        if response.status_code == 400 and (
            has_error(body, resource="AuthorizationCode") or has_error(body, field="code")
        ):
            raise AuthFlowError(
                "Strava refused the authorization code (invalid, expired or already used). "
                "Run `stravasync auth` again."
            )
        raise_for_response(response, governor=None, clock=self._clock,
                           advice=self._sign_in_advice(), dead_end_advice=_SIGN_IN_AGAIN)
        tokens = _token_set(body, scope=scope, now=self._clock())
        log.info("code_exchanged", athlete_id=tokens.athlete.id if tokens.athlete else None)
        return tokens

    def refresh(self, refresh_token: str) -> TokenSet:
        """Trade a refresh token for fresh tokens; ReauthRequired if it is dead."""
        register_secret(refresh_token)
        response = self._post_token(
            {"refresh_token": refresh_token, "grant_type": "refresh_token"},
            what="token refresh",
        )
        body = json_body(response)
        if response.status_code in (400, 401) and (
            has_error(body, resource="RefreshToken") or has_error(body, field="refresh_token")
        ):
            raise ReauthRequired(
                "Strava no longer accepts the stored sign-in (revoked, or replaced "
                "elsewhere). Run `stravasync auth` to sign in again."
            )
        raise_for_response(response, governor=None, clock=self._clock)
        return _token_set(body, scope=None, now=self._clock())

    def revoke(
        self, *, access_token: str, refresh_token: str | None = None,
        expires_at: float | None = None,
    ) -> SignOut:
        """Sign out at Strava and say how it went (see :class:`SignOut`).

        Uses ``POST /revoke`` (HTTP Basic client credentials, ``token=``). Without a
        client secret, or when ``/revoke`` is absent or refuses the credentials, it falls
        back to the older ``POST /deauthorize``, which takes the access token in the
        ``Authorization`` header only; an access token past ``expires_at`` is renewed
        first when a secret allows it. Raises TransientError when Strava cannot be
        reached, ApiError (a dead end included) when it answers otherwise.
        """
        register_secret(access_token)
        register_secret(refresh_token)
        fallback: _Fallback = "no_secret"
        if self._config.client_secret:
            with translate_errors("sign-out", advice=""):
                response = self._http.post(
                    "revoke",
                    data={"token": refresh_token or access_token},
                    auth=(self._config.client_id, self._config.client_secret),
                )
                response.read()
            if response.is_success:
                log.info("signed_out", via="revoke")
                return SignOut(confirmed=True, via="revoke")
            if response.status_code in _ABSENT:
                fallback = "revoke_absent"
            elif response.status_code in (400, 401) and has_error(
                json_body(response), resource="Application"
            ):
                fallback = "credentials_refused"
            else:
                raise_for_response(response, governor=None, clock=self._clock,
                                   dead_end_advice="")
        log.info("sign_out_fallback", reason=fallback)
        return self._deauthorize(access_token=access_token, refresh_token=refresh_token,
                                 expires_at=expires_at, fallback=fallback)

    def _deauthorize(
        self, *, access_token: str, refresh_token: str | None, expires_at: float | None,
        fallback: _Fallback,
    ) -> SignOut:
        """``POST /deauthorize`` with the access token in the Authorization header only."""
        token = access_token
        if expires_at is not None and expires_at <= self._clock() + 60:
            if fallback == "no_secret" or not refresh_token:
                return SignOut(confirmed=False, via="none", note=(
                    "The stored access token has expired, and without the client secret "
                    "it cannot be renewed to sign out with."))
            try:
                token = self.refresh(refresh_token).access_token
            except ReauthRequired:
                return SignOut(confirmed=False, via="none", note=(
                    "Strava no longer accepts the stored sign-in (already revoked, or "
                    "renewed by another copy of stravasync), so it cannot sign out with it."))
        with translate_errors("sign-out", advice=""):
            # Header only: from 1 June 2027 a token in a form field or query is refused.
            response = self._http.post("deauthorize",
                                       headers={"Authorization": f"Bearer {token}"})
            response.read()
        if response.is_success:
            log.info("signed_out", via="deauthorize")
            return SignOut(confirmed=True, via="deauthorize", note=_FALLBACK_NOTES[fallback])
        if response.status_code in _ABSENT:
            return SignOut(confirmed=False, via="deauthorize", note=_RETIRED_NOTES[fallback])
        if response.status_code == 401:
            return SignOut(confirmed=False, via="deauthorize", note=(
                "Strava did not accept the access token at /oauth/deauthorize (already "
                "revoked, or expired)."))
        raise_for_response(response, governor=None, clock=self._clock, dead_end_advice="")
        return SignOut(confirmed=False, via="deauthorize")  # pragma: no cover - raised above


_Fallback = Literal["no_secret", "revoke_absent", "credentials_refused"]
_REFUSED = ("Strava refused the configured client_id/client_secret at /oauth/revoke "
            f"(check [strava] against {SETTINGS_API_URL})")
_FALLBACK_NOTES: dict[str, str] = {
    "no_secret": (
        "No client secret is configured, so stravasync signed out through Strava's "
        f"older /oauth/deauthorize, which Strava retires on {DEAUTHORIZE_RETIRES}. From "
        "then on, signing out needs the client secret in [strava] (for /oauth/revoke); "
        "without it, revoke stravasync's access by hand at "
        "https://www.strava.com/settings/apps."),
    "revoke_absent": (
        "Strava's /oauth/revoke was not there, so the older /oauth/deauthorize was used; "
        f"it retires on {DEAUTHORIZE_RETIRES}."),
    "credentials_refused": f"{_REFUSED}, so the older /oauth/deauthorize was used.",
}
"""Said after a confirmed sign-out through ``/deauthorize``: why it was used."""
_RETIRED = f"Strava no longer offers /oauth/deauthorize (retired on {DEAUTHORIZE_RETIRES})"
_RETIRED_NOTES: dict[str, str] = {
    "no_secret": (f"{_RETIRED}, and signing out through /oauth/revoke needs the client "
                  "secret, which is not configured."),
    "revoke_absent": f"{_RETIRED}, and /oauth/revoke was not there either.",
    "credentials_refused": (f"{_REFUSED}, and /oauth/deauthorize is retired (since "
                            f"{DEAUTHORIZE_RETIRES})."),
}
"""Said when ``/deauthorize`` is gone too: why nobody could sign out."""


def _bad_credentials() -> ConfigError:
    return ConfigError(
        "Strava does not accept the configured client_id/client_secret. "
        f"Check [strava] against {SETTINGS_API_URL}."
    )


def _token_set(body: Any, *, scope: str | None, now: float) -> TokenSet:
    if not isinstance(body, dict):
        raise TransientError("Strava's token answer was not JSON. Try again later.")
    try:
        access = str(body["access_token"])
        refresh = str(body["refresh_token"])
        expires_at = int(body.get("expires_at") or now + int(body["expires_in"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ApiError("Strava's token answer lacked the tokens. Try again later.") from exc
    register_secret(access)
    register_secret(refresh)
    granted = scope if scope is not None else body.get("scope")
    return TokenSet(
        access_token=access,
        refresh_token=refresh,
        expires_at=expires_at,
        scope=str(granted) if granted else None,
        athlete=athlete_from(body) if "athlete" in body else None,
    )
