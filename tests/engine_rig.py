"""The engine test rig: the emulator behind httpx.MockTransport, a manual clock, a World.

No sockets and no sleeping: the real StravaClient, Governor and TokenStore talk to an
in-process EmulatorState through a MockTransport, and one ManualClock drives the
emulator's processing, the governor, the store and the engine. (No tests here.)
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from stravasync.config.rules import rules_from_toml
from stravasync.config.settings import Config, config_from_dict
from stravasync.demo.samples import sample_fit, sample_gpx, sample_tcx
from stravasync.emulator import EmulatorConfig, EmulatorState, Knobs, ManualClock
from stravasync.emulator.core import Request as EmuRequest
from stravasync.stack import build_engine
from stravasync.state import State, Store
from stravasync.strava.client import StravaClient
from stravasync.strava.governor import Governor
from stravasync.strava.oauth import OAuthClient
from stravasync.strava.tokens import Athlete, TokenSet, TokenStore
from stravasync.upload.engine import Engine
from stravasync.upload.polling import Pacing

FAST = Pacing(backoff_base_s=2.0, backoff_cap_s=60.0, park_after_s=60.0, park_first_s=120.0,
              park_cap_s=300.0)


class Crash(BaseException):
    """Stands for the process dying at one line (not caught by `except Exception`)."""


def emulator_transport(
    state: EmulatorState, *, before: Callable[[httpx.Request], None] | None = None,
    after: Callable[[httpx.Request, httpx.Response], None] | None = None,
) -> httpx.MockTransport:
    """A MockTransport that hands every request to the emulator (drops become errors)."""

    def handle(request: httpx.Request) -> httpx.Response:
        if before is not None:
            before(request)
        emu = EmuRequest(
            method=request.method.upper(), path=request.url.path,
            query=dict(request.url.params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=request.read(),
        )
        reply = state.handle(emu)
        if reply.drop:
            raise httpx.RemoteProtocolError("server closed the connection", request=request)
        headers = [("content-type", reply.content_type), *reply.headers]
        response = httpx.Response(reply.status, headers=headers, content=reply.body,
                                  request=request)
        if after is not None:
            after(request, response)
        return response

    return httpx.MockTransport(handle)


def workout_file(folder: Path, name: str, *, start: datetime, fmt: str = "fit",
                 sport: str = "run") -> Path:
    """Write a generated workout (fit/gpx/tcx) and return its path."""
    maker = {"fit": sample_fit, "gpx": sample_gpx, "tcx": sample_tcx}[fmt]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(maker(start=start, sport=sport))
    return path


@dataclass
class World:
    """Emulator, clock, config, store, client and a factory for engines over them."""

    tmp: Path
    knobs: dict[str, Any] = field(default_factory=dict)
    config_overrides: dict[str, Any] = field(default_factory=dict)
    seed: int = 7
    timing: Pacing = FAST
    before: Callable[[httpx.Request], None] | None = None
    after: Callable[[httpx.Request, httpx.Response], None] | None = None

    def __post_init__(self) -> None:
        self.clock = ManualClock(start=float(int(time.time())))
        self.emulator = EmulatorState(EmulatorConfig(
            seed=self.seed, clock=self.clock, knobs=Knobs().replace(**self.knobs)))
        self.watch = self.tmp / "watch"
        self.watch.mkdir(parents=True, exist_ok=True)
        self.state_dir = self.tmp / "state"
        data: dict[str, Any] = {
            "strava": {"client_id": "12345", "client_secret": "emulator-secret",
                       "api_url": "http://strava.test/api/v3",
                       "oauth_url": "http://strava.test/oauth"},
            "watch": {"paths": [str(self.watch)], "max_age_days": 30},
            "upload": {"concurrency": 4},
            "state": {"dir": str(self.state_dir)},
        }
        for table, values in self.config_overrides.items():
            data.setdefault(table, {}).update(values)
        self.config: Config = config_from_dict(data)
        self.transport = emulator_transport(self.emulator, before=self.before, after=self.after)
        self.sign_in()
        self.store = Store.open(self.state_dir, clock=self.clock)
        self.governor = Governor(state_file=None, clock=self.clock)
        self.oauth = OAuthClient(config=self.config.strava, transport=self.transport)
        self.tokens = TokenStore(state_dir=self.state_dir, refresher=self.oauth, clock=self.clock)
        self.client = StravaClient(config=self.config.strava, tokens=self.tokens,
                                   governor=self.governor, transport=self.transport,
                                   clock=self.clock)

    def sign_in(self, scope: str = "read,activity:write") -> None:
        """Store tokens the emulator issued (no OAuth dance)."""
        body = self.emulator.issue_tokens(scope=scope)
        TokenStore(state_dir=self.state_dir, clock=self.clock).save_initial(TokenSet(
            access_token=body["access_token"], refresh_token=body["refresh_token"],
            expires_at=int(body["expires_at"]), scope=scope,
            athlete=Athlete(id=int(body["athlete"]["id"]))))

    def engine(self, *, client: Any = None, store: Store | None = None) -> Engine:
        """A new engine over this world (as after a restart)."""
        return build_engine(config=self.config, store=store or self.store,
                            client=client or self.client, governor=self.governor,
                            clock=self.clock, timing=self.timing)

    def start(self, days_ago: float = 1.0, hours: float = 0.0) -> datetime:
        """A workout start time relative to the world's clock."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        return now - timedelta(days=days_ago, hours=hours)

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

    def activities(self) -> list[dict[str, Any]]:
        """The emulator's live (non-deleted) activities."""
        return [a for a in self.emulator.inspect(requests=False)["activities"]
                if not a["deleted"]]

    def api_calls(self) -> int:
        """API calls the emulator answered (uploads and reads)."""
        return int(self.emulator.inspect(requests=False)["counters"]["api_calls"])

    def states(self) -> dict[str, str]:
        """Path name -> state, from the status view."""
        return {Path(f.path).name: f.state.value for f in self.store.files()}


def final_states() -> set[str]:
    """The final states' names."""
    return {s.value for s in (State.UPLOADED, State.DUPLICATE, State.INVALID, State.REJECTED,
                              State.SKIPPED)}


def with_rules(world: World, rules: list[dict[str, Any]]) -> World:
    """Give the world's config these ``[[rules]]`` (as TOML would)."""
    parsed, problems = rules_from_toml(rules, folder_path=[str(world.watch)])
    assert [] == problems
    world.config = dataclasses.replace(world.config, rules=parsed)
    return world
