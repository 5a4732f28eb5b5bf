"""Strava's OAuth endpoints: code exchange, token refresh and sign-out.

Owns :class:`OAuthClient`: trading an authorization code for tokens, refreshing them
(it is the token store's :class:`~stravasync.tokens.Refresher`), and signing out
through ``/revoke`` with a ``/deauthorize`` fallback. Failures are translated by the
boundary in :mod:`stravasync.wire`. The client secret is registered with the log
redaction before anything is sent, and no token ever travels in a URL.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from stravasync.errors import (
    ApiError,
    AuthFlowError,
    ConfigError,
    ReauthRequired,
    TransientError,
)
from stravasync.logs import get_logger, register_secret
from stravasync.tokens import TokenSet
from stravasync.wire import (
    RETRY_LATER,
    USER_AGENT,
    athlete_from,
    has_error,
    json_body,
    make_timeout,
    raise_for_response,
    translate_errors,
)

if TYPE_CHECKING:
    from stravasync.config import StravaConfig

__all__ = ["OAuthClient"]

log = get_logger(__name__)


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
        self, form: dict[str, str], *, what: str, advice: str = RETRY_LATER
    ) -> httpx.Response:
        self._need_secret()
        form = {"client_id": self._config.client_id,
                "client_secret": self._config.client_secret, **form}
        with translate_errors(what, advice=advice):
            response = self._http.post("token", data=form)
            response.read()
        body = json_body(response)
        if response.status_code in (400, 401, 403) and has_error(body, resource="Application"):
            if has_error(body, code="Inactive"):
                raise_for_response(response, governor=None, clock=self._clock)
            raise ConfigError(
                "Strava does not accept the configured client_id/client_secret. "
                "Check [strava] against https://www.strava.com/settings/api."
            )
        return response

    def exchange_code(self, code: str, *, scope: str | None = None) -> TokenSet:
        """Trade an authorization code for tokens and the athlete (``scope`` as granted)."""
        register_secret(code)
        response = self._post_token(
            {"code": code, "grant_type": "authorization_code"}, what="sign-in",
            advice=self._sign_in_advice(),
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
                           advice=self._sign_in_advice())
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

    def revoke(self, *, access_token: str, refresh_token: str | None = None) -> bool:
        """Sign out at Strava; True if Strava confirmed (or the token was already dead).

        Uses ``POST /revoke`` (HTTP Basic client credentials, ``token=``) and falls back
        to the older ``POST /deauthorize`` when ``/revoke`` is absent or no secret is set.
        Raises TransientError when Strava cannot be reached.
        """
        register_secret(access_token)
        register_secret(refresh_token)
        if self._config.client_secret:
            with translate_errors("sign-out", advice=""):
                response = self._http.post(
                    "revoke",
                    data={"token": refresh_token or access_token},
                    auth=(self._config.client_id, self._config.client_secret),
                )
                response.read()
            if response.is_success:
                return True
            if response.status_code not in (404, 405, 410, 501):
                return self._revoked_anyway(response)
        with translate_errors("sign-out", advice=""):
            response = self._http.post(
                "deauthorize", headers={"Authorization": f"Bearer {access_token}"},
                data={"access_token": access_token},
            )
            response.read()
        if response.is_success:
            return True
        return self._revoked_anyway(response)

    def _revoked_anyway(self, response: httpx.Response) -> bool:
        if response.status_code in (400, 401):
            return True  # the token is already invalid at Strava: nothing left to revoke
        raise_for_response(response, governor=None, clock=self._clock)
        return False


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
