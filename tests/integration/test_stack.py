"""The composition root against the emulator: open_api keeps tokens and governor state in the
state folder and refreshes through OAuth."""

from __future__ import annotations

from pathlib import Path

import pytest
from emulator_rig import serving
from fixtures import numbered_gpx

from stravasync import emulator as emulator_mod
from stravasync.config.settings import config_from_dict
from stravasync.stack import open_api
from stravasync.strava.tokens import TokenSet

SECRET = "client-secret-xyz-123"


@pytest.mark.integration
def test_open_api_wires_tokens_governor_and_oauth(tmp_path: Path) -> None:
    """open_api keeps tokens and governor state in state_dir and refreshes through OAuth."""

    clock = emulator_mod.ManualClock(1_772_446_050.0)
    with serving(seed=1, clock=clock, client_id="4242", client_secret=SECRET) as strava:
        strava.set_knobs(access_token_lifetime_s=300)
        config = config_from_dict({"strava": {
            "client_id": "4242", "client_secret": SECRET, "api_url": strava.api_url,
            "oauth_url": strava.oauth_url}, "state": {"dir": str(tmp_path / "state")}})
        api = open_api(config, clock=clock)
        client = api.client
        try:
            body = strava.issue_tokens()
            client.tokens.save_initial(TokenSet(
                access_token=str(body["access_token"]),
                refresh_token=str(body["refresh_token"]),
                expires_at=int(str(body["expires_at"]))))
            assert client.create_upload(data=numbered_gpx(1), data_type="gpx", external_id="w").processing
        finally:
            api.close()
    assert (tmp_path / "state" / "ratelimit.json").exists()
    assert 1 == len([r for r in strava.inspect()["requests"] if r["path"] == "/oauth/token"])
