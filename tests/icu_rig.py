"""The intervals.icu engine rig: an intervals.icu account's engine over the emulator.

No sockets and no sleeping: the real IntervalsClient (built by ``stack``) talks to an
in-process EmulatorState through a MockTransport, one ManualClock drives the emulator,
the store and the engine. A test may answer requests itself (``script``: responses or
exceptions handed out in order, then the emulator answers) and look at each request
before it is answered (``before``). (No tests here.)
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from engine_rig import FAST, emulator_transport, workout_file

from stravasync.config.settings import Config, config_from_dict
from stravasync.emulator import EmulatorConfig, EmulatorState, Knobs, ManualClock
from stravasync.fsutil import ensure_private_dir
from stravasync.stack import build_intervals_engine, open_intervals_client
from stravasync.state import Store
from stravasync.state.accounts import account_folders
from stravasync.upload.engine import Engine
from stravasync.upload.polling import Pacing

ICU_URL = "http://emulator.test/intervals/api/v1"
ACCOUNT = "jane-icu"
T0 = 1_772_445_600.0  # 2026-03-02 10:00:00 UTC


@dataclass
class IcuWorld:
    """Emulator, clock, a config with ``me`` (Strava) and ``jane-icu`` on one folder, the
    intervals.icu account's store and client, and a factory for its engines."""

    tmp: Path
    rules: list[dict[str, Any]] = field(default_factory=list)
    upload: dict[str, Any] = field(default_factory=dict)
    knobs: dict[str, Any] = field(default_factory=dict)
    strava: bool = True
    """Whether a Strava account ``me`` holds the folder too."""
    timing: Pacing = FAST
    script: list[httpx.Response | Exception | BaseException] = field(default_factory=list)
    before: Callable[[httpx.Request], None] | None = None
    after: Callable[[httpx.Request, httpx.Response], None] | None = None

    def __post_init__(self) -> None:
        self.clock = ManualClock(start=T0)
        self.emulator = EmulatorState(EmulatorConfig(
            seed=7, clock=self.clock, knobs=Knobs().replace(**self.knobs)))
        self.athlete = EmulatorConfig().athlete_id
        key = self.emulator.intervals_key()
        assert key is not None
        self.key = key
        self.watch = self.tmp / "watch"
        self.watch.mkdir(parents=True, exist_ok=True)
        state_dir = self.tmp / "state"
        data: dict[str, Any] = {
            "strava": {"client_id": "12345", "client_secret": "emulator-secret"},
            "accounts": [
                *([{"name": "me", "paths": [str(self.watch)]}] if self.strava else []),
                {"name": ACCOUNT, "service": "intervals", "paths": [str(self.watch)],
                 "api_url": ICU_URL},
            ],
            "watch": {"max_age_days": 0},
            "upload": {"concurrency": 2, **self.upload},
            "state": {"dir": str(state_dir)},
        }
        if self.rules:
            data["rules"] = self.rules
        self.config: Config = config_from_dict(
            data, env={"HOME": str(self.tmp), "STRAVASYNC_INTERVALS_KEY_JANE_ICU": self.key})
        self.account = next(a for a in self.config.accounts if a.name == ACCOUNT)
        self.requests: list[httpx.Request] = []
        self._emulator = emulator_transport(self.emulator, after=self._after)
        self.client = open_intervals_client(self.config, self.account,
                                            httpx.MockTransport(self._handle), clock=self.clock)
        folder = account_folders(state_dir, self.config.accounts)[ACCOUNT]
        ensure_private_dir(folder)
        self.store = Store.open(folder, clock=self.clock)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.before is not None:
            self.before(request)
        if self.script:
            answer = self.script.pop(0)
            if isinstance(answer, BaseException):
                raise answer
            return answer
        return self._emulator.handle_request(request)

    def _after(self, request: httpx.Request, response: httpx.Response) -> None:
        if self.after is not None:
            self.after(request, response)

    def engine(self) -> Engine:
        """A new engine of the intervals.icu account (as after a restart)."""
        return build_intervals_engine(config=self.config, account=self.account,
                                      store=self.store, client=self.client, clock=self.clock,
                                      timing=self.timing, rng=random.Random(3))

    def workout(self, name: str = "ride.fit", *, hours_ago: float = 30.0) -> Path:
        """A generated FIT workout in the watched folder."""
        start = datetime.fromtimestamp(T0, UTC) - timedelta(hours=hours_ago)
        return workout_file(self.watch, name, start=start)

    def drive(self, engine: Engine, *, horizon: float = 4000.0, steps: int = 2000) -> None:
        """Run the engine on the manual clock until nothing is due within ``horizon``."""
        end = self.clock() + horizon
        for _ in range(steps):
            due = engine.tick()
            if due is None or due > end:
                return
            if due > self.clock():
                self.clock.set(due)
        raise AssertionError("the engine did not settle")

    def posts(self) -> list[httpx.Request]:
        """The upload POSTs sent so far."""
        return [r for r in self.requests if r.method == "POST"]

    def lists(self) -> list[httpx.Request]:
        """The activity lists asked for so far."""
        return [r for r in self.requests if r.method == "GET"]

    def activities(self) -> list[dict[str, Any]]:
        """The athlete's activities on the emulated intervals.icu."""
        return self.emulator.intervals_activities_of(self.athlete)
