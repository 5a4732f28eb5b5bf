"""Fair and fresh: how long one account's backfill holds another account's new ride back.

Two athletes of one household on the in-process emulator (one Strava app: the rate
limits are shared), each with their own state store, token store and engine built by
:func:`stravasync.stack.build_engine`; the two engines share one
:class:`~stravasync.strava.governor.Governor` and, unless ``--no-arbiter``, one
:class:`~stravasync.upload.slots.SlotArbiter`, and one read reserve, as
:func:`stravasync.household.open_household` wires them.
One manual clock drives everything (no sockets, no sleeping); each round ticks the two
engines in a random order (seeded), as two dispatcher threads would race.

- **fresh ride**: account a has a backlog (``--backlog``, default 300 old files) at
  tight limits (``--limits``, per 15 min, overall/read; default 40/20); once a has
  sent ``--head-start`` uploads and the window's uploads are spent, account b gets
  one new ride. Printed: the time from
  b's ride being read to its POST and to its activity, and how many of a's backlog
  uploads were POSTed in between (the promise: at most one).
- **two backlogs**: both accounts backfill ``--pair`` files each, at limits where the
  POSTs bind (``--pair-limits``, default 12/1000): whose POSTs each
  15-minute window took, in order (with the arbiter they alternate while both are in
  line; an account with ``upload.concurrency`` uploads in flight is not in line).

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/fairness.py [--backlog 300]
[--limits 40 20] [--seeds 1 2 3] [--no-arbiter]``
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import structlog

from stravasync.config.accounts import Account
from stravasync.config.settings import Config, config_from_dict
from stravasync.demo.samples import sample_fit
from stravasync.emulator import EmulatorConfig, EmulatorState, HouseholdAthlete, Knobs, ManualClock
from stravasync.emulator.core import Request as EmuRequest
from stravasync.stack import build_engine
from stravasync.state import Store
from stravasync.strava.client import StravaClient
from stravasync.strava.governor import Governor
from stravasync.strava.oauth import OAuthClient
from stravasync.strava.tokens import Athlete, TokenSet, TokenStore
from stravasync.upload.engine import Engine
from stravasync.upload.router import ReadReserve
from stravasync.upload.slots import SlotArbiter

API = "http://strava.test/api/v3"
T0 = 1_772_445_600.0  # 2026-03-02 10:00:00 UTC: runs start on a window boundary
SCOPE = "read,activity:write,activity:read_all"
ATHLETES = {"a": 1234567, "b": 7654321}


def transport(state: EmulatorState) -> httpx.MockTransport:
    """Hand every request to the in-process emulator."""

    def handle(request: httpx.Request) -> httpx.Response:
        reply = state.handle(EmuRequest(
            method=request.method.upper(), path=request.url.path,
            query=dict(request.url.params),
            headers={k.lower(): v for k, v in request.headers.items()}, body=request.read()))
        if reply.drop:
            raise httpx.RemoteProtocolError("closed", request=request)
        return httpx.Response(reply.status, content=reply.body, request=request,
                              headers=[("content-type", reply.content_type), *reply.headers])

    return httpx.MockTransport(handle)


def workouts(folder: Path, count: int, *, start: datetime, prefix: str) -> list[Path]:
    """``count`` distinct workouts an hour apart, from ``start`` backwards."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"{prefix}{i:03d}.fit"
        path.write_bytes(sample_fit(start=start - timedelta(hours=i)))
        paths.append(path)
    return paths


@dataclass
class Member:
    """One athlete's side: folder, store and engine."""

    name: str
    folder: Path
    store: Store
    engine: Engine

    def external_id(self, path: Path) -> str:
        record = self.store.path_record(str(path.resolve()))
        assert record is not None
        assert record.sha256 is not None
        return f"stravasync-{record.sha256[:20]}"


class Household:
    """The emulator, one governor, one arbiter (or none) and an engine per athlete."""

    def __init__(self, *, seed: int, limits: tuple[int, int], fair: bool) -> None:
        self.clock = ManualClock(start=T0)
        overall, read = limits
        knobs = Knobs(processing_min_s=0.5, processing_max_s=6.0, limit_15=overall,
                      read_limit_15=read, limit_day=max(2000, 10 * overall),
                      read_limit_day=max(1000, 10 * read))
        self.emulator = EmulatorState(EmulatorConfig(
            seed=seed, clock=self.clock, knobs=knobs, athlete_id=ATHLETES["a"],
            athletes=(HouseholdAthlete(id=ATHLETES["b"], firstname="Bob"),)))
        self.rng = random.Random(seed)
        self.tmp = Path(tempfile.mkdtemp(prefix="stravasync-fair-"))
        self.config: Config = config_from_dict({
            "strava": {"client_id": "12345", "client_secret": "emulator-secret",
                       "api_url": API, "oauth_url": "http://strava.test/oauth"},
            "watch": {"paths": [str(self.tmp / "watch")], "max_age_days": 0},
            "upload": {"concurrency": 4}, "state": {"dir": str(self.tmp / "state")},
        })
        self.mock = transport(self.emulator)
        self.governor = Governor(state_file=None, clock=self.clock)
        self.slots = SlotArbiter() if fair else None
        self.reserve = ReadReserve()  # as the router shares it
        self.accounts = {name: self._account(name) for name in ATHLETES}

    def _account(self, name: str) -> Member:
        state_dir = self.tmp / f"state-{name}"
        body = self.emulator.issue_tokens(athlete_id=ATHLETES[name], scope=SCOPE)
        TokenStore(state_dir=state_dir, clock=self.clock).save_initial(TokenSet(
            access_token=body["access_token"], refresh_token=body["refresh_token"],
            expires_at=int(body["expires_at"]), scope=SCOPE,
            athlete=Athlete(id=int(body["athlete"]["id"]))))
        tokens = TokenStore(state_dir=state_dir, clock=self.clock,
                            refresher=OAuthClient(config=self.config.strava, transport=self.mock))
        client = StravaClient(config=self.config.strava, tokens=tokens, governor=self.governor,
                              transport=self.mock, clock=self.clock)
        store = Store.open(state_dir, clock=self.clock)
        engine = build_engine(config=self.config, store=store, client=client,
                              governor=self.governor, clock=self.clock, slots=self.slots,
                              reserve=self.reserve,
                              account=Account(name=name, paths=(self.tmp / f"watch-{name}",)))
        return Member(name=name, folder=self.tmp / f"watch-{name}", store=store, engine=engine)

    def now(self, *, days_ago: float) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC) - timedelta(days=days_ago)

    def posts(self) -> list[tuple[str, str, float]]:
        """Every upload POST so far: (account, external_id, time)."""
        by_athlete = {athlete: name for name, athlete in ATHLETES.items()}
        seen = self.emulator.inspect(requests=False)
        return [(by_athlete[int(u["athlete_id"])], str(u["external_id_sent"]),
                 float(u["created_at"])) for u in seen["uploads"]]

    def run(self, *, until: Any, steps: int = 200_000) -> None:
        """Tick both engines (in a random order each round) until ``until()`` holds."""
        engines = [a.engine for a in self.accounts.values()]
        for _ in range(steps):
            self.rng.shuffle(engines)
            dues = [e.tick() for e in engines]
            if until():
                return
            due = min((d for d in dues if d is not None), default=None)
            if due is None:
                raise RuntimeError("nothing left to do, and the goal is not met")
            self.clock.set(max(due, self.clock()))
        raise RuntimeError("the engines did not get there")

    def seen(self) -> dict[str, Any]:
        return self.emulator.inspect(requests=False)


def fresh_ride(seed: int, *, backlog: int, head_start: int, limits: tuple[int, int],
               fair: bool) -> dict[str, float]:
    """a backfills; b's new ride arrives: how long it waits, and who went first."""
    home = Household(seed=seed, limits=limits, fair=fair)
    a, b = home.accounts["a"], home.accounts["b"]
    a.engine.scan(workouts(a.folder, backlog, start=home.now(days_ago=200), prefix="old"))
    home.run(until=lambda: len(home.posts()) >= head_start)
    # The ride comes in while the window's uploads are spent: who goes when it opens?
    home.run(until=lambda: home.governor.snapshot()["paused_until"] is not None)
    ride = workouts(b.folder, 1, start=home.now(days_ago=0.1), prefix="ride")[0]
    read_at = home.clock()
    before = len(home.posts())
    b.engine.scan([ride])
    wanted = b.external_id(ride)
    home.run(until=lambda: any(p[1] == wanted for p in home.posts()))
    posts = home.posts()
    at = next(i for i, p in enumerate(posts) if p[1] == wanted)
    home.run(until=lambda: b.store.workouts()[0].activity_id is not None)
    done = b.store.workouts()[0].finished_at or home.clock()
    return {"post_s": posts[at][2] - read_at, "done_s": done - read_at,
            "backlog_first": float(sum(1 for p in posts[before:at] if p[0] == "a")),
            "429": float(home.seen()["counters"]["by_status"].get("429", 0))}


def two_backlogs(seed: int, *, files: int, limits: tuple[int, int], fair: bool) -> list[str]:
    """Both backfill ``files``: whose POSTs each 15-minute window took, in order."""
    home = Household(seed=seed, limits=limits, fair=fair)
    for name, account in home.accounts.items():
        account.engine.scan(workouts(account.folder, files, start=home.now(days_ago=100),
                                     prefix=name))
    home.run(until=lambda: len(home.posts()) >= files)  # half the work: both still waiting
    windows: dict[int, str] = {}
    for name, _external_id, at in home.posts():
        window = int((at - T0) // 900)
        windows[window] = windows.get(window, "") + name
    return [windows.get(w, "") for w in range(max(windows) + 1)]


def main() -> None:
    """Run both measurements, with the arbiter and without, and print them."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--backlog", type=int, default=300)
    parser.add_argument("--head-start", type=int, default=30)
    parser.add_argument("--pair", type=int, default=24)
    parser.add_argument("--limits", type=int, nargs=2, default=[40, 20])
    parser.add_argument("--pair-limits", type=int, nargs=2, default=[12, 1000])
    parser.add_argument("--no-arbiter", action="store_true", help="only the run without")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    limits = (args.limits[0], args.limits[1])
    modes = [False] if args.no_arbiter else [True, False]
    print(f"== fresh ride of b behind a's backlog of {args.backlog} "
          f"(a sent {args.head_start} first), limits {limits[0]}/{limits[1]} per 15 min")
    print(f"{'arbiter':>8} {'seed':>4} {'to POST s':>10} {'to activity s':>13} "
          f"{'backlog first':>13} {'429':>4}")
    for fair in modes:
        firsts = []
        for seed in args.seeds:
            r = fresh_ride(seed, backlog=args.backlog, head_start=args.head_start,
                           limits=limits, fair=fair)
            firsts.append(r["backlog_first"])
            print(f"{'yes' if fair else 'no':>8} {seed:>4} {r['post_s']:>10.1f} "
                  f"{r['done_s']:>13.1f} {r['backlog_first']:>13.0f} {r['429']:>4.0f}")
        verdict = "met" if max(firsts) <= 1 else "MISSED"
        print(f"{'':>8} most backlog uploads before the ride: {max(firsts):.0f} "
              f"(promise <= 1: {verdict}); median {statistics.median(firsts):.0f}")
    pair = (args.pair_limits[0], args.pair_limits[1])
    print(f"== two backlogs of {args.pair} each, limits {pair[0]}/{pair[1]}: whose POSTs "
          "each 15-minute window took, in order (an account with uploads.concurrency "
          "uploads in flight is not in line)")
    for fair in modes:
        for seed in args.seeds:
            windows = two_backlogs(seed, files=args.pair, limits=pair, fair=fair)
            print(f"{'arbiter' if fair else 'no arbiter':>10} seed {seed}: {' | '.join(windows)}")


if __name__ == "__main__":
    main()
