"""intervals.icu over loopback: a crash between its POST and the record still makes one activity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from emulator_rig import serving
from engine_rig import Crash, workout_file

from stravasync.config.settings import config_from_dict
from stravasync.fsutil import ensure_private_dir
from stravasync.intervals.client import IntervalsActivity, IntervalsClient
from stravasync.stack import build_intervals_engine, open_intervals_client
from stravasync.state import State, Store
from stravasync.state.accounts import account_folders


class DiesAfterPost:
    """The real client, and the process dies the moment intervals.icu answered the POST."""

    def __init__(self, client: IntervalsClient) -> None:
        self._client = client
        self.posted: list[IntervalsActivity] = []

    def upload(self, **fields: object) -> IntervalsActivity:
        self.posted.append(self._client.upload(**fields))  # type: ignore[arg-type]
        raise Crash

    def activities(self, **span: object) -> list[IntervalsActivity]:
        return self._client.activities(**span)  # type: ignore[arg-type]


def test_a_crash_after_the_intervals_post_is_finished_by_the_next_engine(tmp_path: Path) -> None:
    """The next engine on the same store finds the activity; intervals.icu holds exactly one."""
    watch, state_dir = tmp_path / "watch", tmp_path / "state"
    with serving(seed=5) as emulator:
        key = emulator.intervals_key()
        assert key is not None
        config = config_from_dict({
            "strava": {"client_id": "12345", "client_secret": "emulator-secret"},
            "accounts": [{"name": "me", "paths": [str(watch)]},
                         {"name": "jane-icu", "service": "intervals", "paths": [str(watch)],
                          "api_url": emulator.intervals_url}],
            "state": {"dir": str(state_dir)},
        }, env={"HOME": str(tmp_path), "STRAVASYNC_INTERVALS_KEY_JANE_ICU": key})
        account = config.accounts[1]
        folder = account_folders(state_dir, config.accounts)[account.name]
        ensure_private_dir(folder)
        path = workout_file(watch, "ride.fit",
                            start=datetime.now(UTC) - timedelta(hours=20))

        with open_intervals_client(config, account) as client:
            dying = DiesAfterPost(client)
            store = Store.open(folder)
            first = build_intervals_engine(config=config, account=account, store=store,
                                           client=dying)
            first.scan([path])
            with pytest.raises(Crash):
                first.tick()
            store.close()
            assert 1 == len(dying.posted)

            store = Store.open(folder)
            second = build_intervals_engine(config=config, account=account, store=store,
                                            client=client)
            second.scan([path])
            second.start()
            try:
                result = second.wait_idle(timeout=30.0)
            finally:
                second.stop()
            rows = store.workouts()
            store.close()

        activities = emulator.intervals_activities_of(emulator.config.athlete_id)
        assert "done" == result.status
        assert [dying.posted[0].id] == [a["id"] for a in activities]
        assert [(State.UPLOADED, int(dying.posted[0].id.removeprefix("i")))] \
            == [(w.state, w.activity_id) for w in rows]
