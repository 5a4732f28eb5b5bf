"""The household the daemon builds gives its Strava accounts' engines one fair slot arbiter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engine_rig import FAST, emulator_transport, workout_file

from stravasync.config.settings import config_from_dict
from stravasync.emulator import EmulatorConfig, EmulatorState, HouseholdAthlete, Knobs, ManualClock
from stravasync.household import open_household
from stravasync.state.accounts import account_folders
from stravasync.strava.tokens import Athlete, TokenSet, TokenStore

T0 = 1_772_445_600.0  # on a quarter-hour: the first window is a whole one
JANE, BOB = 1234567, 7654321


def test_bobs_new_ride_goes_before_janes_backlog_when_the_window_opens(tmp_path: Path) -> None:
    """jane's backlog spent the window; bob's ride, read meanwhile, is the next POST."""
    clock = ManualClock(start=T0)
    emulator = EmulatorState(EmulatorConfig(
        seed=3, clock=clock, athlete_id=JANE, athletes=(HouseholdAthlete(id=BOB),),
        knobs=Knobs(processing_min_s=0.5, processing_max_s=2.0, limit_15=10,
                    read_limit_15=1000, limit_day=2000, read_limit_day=1000)))
    folders = {"jane": tmp_path / "jane", "bob": tmp_path / "bob"}
    config = config_from_dict({
        "strava": {"client_id": "12345", "client_secret": "emulator-secret",
                   "api_url": "http://strava.test/api/v3",
                   "oauth_url": "http://strava.test/oauth"},
        "watch": {"max_age_days": 0}, "state": {"dir": str(tmp_path / "state")},
        "accounts": [{"name": name, "paths": [str(folder)]} for name, folder in folders.items()],
    })
    state_folders = account_folders(config.state_dir, config.accounts)
    for name, athlete in (("jane", JANE), ("bob", BOB)):
        body: dict[str, Any] = emulator.issue_tokens(athlete_id=athlete)
        TokenStore(state_dir=state_folders[name], clock=clock).save_initial(TokenSet(
            access_token=body["access_token"], refresh_token=body["refresh_token"],
            expires_at=int(body["expires_at"]), scope="read,activity:write",
            athlete=Athlete(id=athlete)))
    home = open_household(config, transport=emulator_transport(emulator), clock=clock,
                          timing=FAST)
    engines = {lane.name: lane.engine for lane in home.strava_lanes}
    now = datetime.fromtimestamp(T0, UTC)

    def posts() -> list[int]:
        return [int(u["athlete_id"]) for u in emulator.inspect(requests=False)["uploads"]]

    def run(until: Any) -> None:
        for _ in range(5000):
            dues = [engines["jane"].tick(), engines["bob"].tick()]  # jane always looks first
            if until():
                return
            clock.set(max(clock(), min(d for d in dues if d is not None)))
        raise AssertionError("never got there")

    try:
        backlog = [workout_file(folders["jane"], f"old{i:02d}.fit",
                                start=now - timedelta(days=200, hours=i)) for i in range(30)]
        engines["jane"].scan(backlog)
        run(lambda: home.governor.paused_until("upload") is not None)
        before = len(posts())
        engines["bob"].scan([workout_file(folders["bob"], "ride.fit",
                                          start=now - timedelta(hours=3))])
        run(lambda: BOB in posts())
        assert [BOB] == posts()[before:]
    finally:
        home.close()
