"""Several athletes on one app: the athlete cap refuses one athlete, the others go on."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from strava_rig import ACCESS, CONFIG, REFRESH

from stravasync.errors import AthleteLimitReached
from stravasync.strava.client import StravaClient
from stravasync.strava.governor import Governor
from stravasync.strava.tokens import TokenSet, TokenStore

BOB_ACCESS = "c" * 40
RATE = {"X-RateLimit-Limit": "200,2000", "X-RateLimit-Usage": "1,1"}


def signed_in(folder: Path, access: str) -> TokenStore:
    """A token store holding a valid sign-in with ``access``."""
    tokens = TokenStore(state_dir=folder)
    tokens.save_initial(TokenSet(access_token=access, refresh_token=REFRESH,
                                 expires_at=int(time.time()) + 21600,
                                 scope="read,activity:write"))
    return tokens


def strava(request: httpx.Request) -> httpx.Response:
    """Strava with Bob beyond the app's athlete cap."""
    if request.headers["Authorization"] == f"Bearer {BOB_ACCESS}":
        return httpx.Response(403, headers=RATE, json={
            "message": "Limit of connected athletes exceeded", "errors": []})
    return httpx.Response(201, headers=RATE, json={
        "id": 9, "id_str": "9", "external_id": "ext1", "error": None,
        "status": "Your activity is still being processed.", "activity_id": None})


@pytest.mark.parametrize("shared_app", [True, False])
def test_the_athlete_cap_stops_only_that_athlete_in_a_household(
        tmp_path: Path, shared_app: bool) -> None:
    """Bob beyond the cap is refused (once asked); Jane on the same app still uploads."""
    governor = Governor(state_file=None)
    calls: list[str] = []

    def transport(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers["Authorization"][-4:])
        return strava(request)

    def client(folder: Path, access: str) -> StravaClient:
        folder.mkdir()
        return StravaClient(config=CONFIG, tokens=signed_in(folder, access), governor=governor,
                            transport=httpx.MockTransport(transport), shared_app=shared_app)

    jane, bob = client(tmp_path / "jane", ACCESS), client(tmp_path / "bob", BOB_ACCESS)
    send = {"data": b"\x1f\x8bpayload", "data_type": "fit.gz", "external_id": "ext1"}

    with pytest.raises(AthleteLimitReached, match="up to 10 athletes"):
        bob.create_upload(**send)  # type: ignore[arg-type]
    with pytest.raises(AthleteLimitReached):
        bob.create_upload(**send)  # type: ignore[arg-type]
    if shared_app:
        assert "9" == jane.create_upload(**send).id  # type: ignore[arg-type]
        assert None is governor.active_pause("upload")
        assert "athlete_limit" == getattr(bob.athlete_pause(), "reason", None)
        assert [BOB_ACCESS[-4:], ACCESS[-4:]] == calls
    else:  # one athlete: the cap is the app's problem, as in 0.2
        with pytest.raises(AthleteLimitReached):
            jane.create_upload(**send)  # type: ignore[arg-type]
        assert [BOB_ACCESS[-4:]] == calls
