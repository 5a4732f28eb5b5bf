"""The fake Strava application and tokens the API-client tests talk with."""

from __future__ import annotations

from stravasync.config.settings import StravaConfig

__all__ = ["ACCESS", "CONFIG", "NEW_ACCESS", "NEW_REFRESH", "REFRESH", "SECRET"]

ACCESS = "a" * 40
REFRESH = "r" * 40
NEW_ACCESS = "b" * 40
NEW_REFRESH = "s" * 40
SECRET = "client-secret-xyz-123"
CONFIG = StravaConfig(
    client_id="4242",
    client_secret=SECRET,
    api_url="http://strava.test/api/v3",
    oauth_url="http://strava.test/oauth",
)
