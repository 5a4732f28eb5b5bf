"""API calls and throughput of a household: two athletes' engines on one Strava app.

The issue 19 "Economy" proof. Two engines are wired by hand as the router wires them:
``stack.build_engine`` twice, each over its own Store in its own folder and its own
StravaClient holding that athlete's token, and ONE Governor shared by both (the app's
limits are per app). Both talk to one in-process emulator with two athletes, driven by
one manual clock (no sockets, no sleeping), so a 15-minute window takes a second.

- **cold / warm**: calls per activity of ``--files`` workouts per athlete from empty
  states (cold), then as many more with what was learned (warm), at processing
  0.5-6 s, averaged over the seeds (target: cold <= 1.3), beside the 1-s poller of
  :mod:`benchmarks.api_calls` and 0.2's single-athlete numbers (1.53 cold, 1.31 warm),
  and the cold median latency (POST to activity known) against the poller's (the
  median over seeds of the ratio must stay <= 1.3: calls are bought with latency);
- **backlog**: ``--backlog`` workouts per athlete at once, at Strava's default limits
  (200 overall / 100 read per 15 min): activities known per full 15-minute window for
  both athletes together (target >= 180; 0.2 made 156 with one athlete), 429 answers
  (target 0) and calls per activity.

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/household_calls.py [--athletes 2]
[--seeds 1 2 3] [--files 12] [--backlog 300] [--quick]``
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from benchmarks.api_calls import (
    API,
    FAST,
    SCOPE,
    T0,
    api_calls,
    baseline,
    count_429,
    engine_latencies,
    transport,
    workouts,
)
from stravasync.config.settings import Config, config_from_dict
from stravasync.emulator import EmulatorConfig, EmulatorState, Knobs, ManualClock
from stravasync.emulator.athletes import HouseholdAthlete
from stravasync.stack import build_engine
from stravasync.state import State, Store
from stravasync.state.owners import owner_tag
from stravasync.strava.client import StravaClient
from stravasync.strava.governor import Governor
from stravasync.strava.oauth import OAuthClient
from stravasync.strava.tokens import Athlete, TokenSet, TokenStore
from stravasync.upload.engine import Engine

FIRST_ATHLETE = 1234567
#: 0.2 with one athlete (benchmarks/api_calls.py at 0.5-6 s, seeds 1-3; backlog at 200/100).
V02_COLD, V02_WARM, V02_WINDOW = 1.53, 1.31, 156.0
DEFAULT_LIMITS = (200, 100)


@dataclass
class Member:
    """One athlete's side: their folder, store, client and engine."""

    athlete_id: int
    watch: Path
    store: Store
    engine: Engine


@dataclass
class Household:
    """One emulator, one clock, one governor; an engine per athlete."""

    emulator: EmulatorState
    clock: ManualClock
    governor: Governor
    members: list[Member]

    @classmethod
    def make(cls, seed: int, athletes: int, *, limits: tuple[int, int] | None = None) -> Household:
        clock = ManualClock(start=T0)
        overall, read = limits or (20_000, 10_000)
        knobs = Knobs(processing_min_s=FAST[0], processing_max_s=FAST[1], limit_15=overall,
                      read_limit_15=read, limit_day=max(2000, 10 * overall),
                      read_limit_day=max(1000, 10 * read))
        ids = [FIRST_ATHLETE + i for i in range(athletes)]
        emu = EmulatorState(EmulatorConfig(
            seed=seed, clock=clock, knobs=knobs, athlete_id=ids[0],
            athletes=tuple(HouseholdAthlete(id=i, firstname=f"A{i}") for i in ids[1:])))
        mock = transport(emu)
        governor = Governor(state_file=None, clock=clock)
        tmp = Path(tempfile.mkdtemp(prefix="stravasync-household-"))
        members: list[Member] = []
        owner = owner_tag()

        def queue(now: float, limit: int) -> int:
            """POSTs waiting on every engine (the app's backlog), as the router counts it."""
            return sum(len(m.store.due_posts(now=now, owner=owner, limit=limit))
                       for m in members)

        for athlete_id in ids:
            watch, state_dir = tmp / f"watch-{athlete_id}", tmp / f"state-{athlete_id}"
            watch.mkdir()
            config = _config(watch, state_dir)
            body = emu.issue_tokens(athlete_id=athlete_id, scope=SCOPE)
            TokenStore(state_dir=state_dir, clock=clock).save_initial(TokenSet(
                access_token=body["access_token"], refresh_token=body["refresh_token"],
                expires_at=int(body["expires_at"]), scope=SCOPE,
                athlete=Athlete(id=athlete_id)))
            tokens = TokenStore(state_dir=state_dir, clock=clock,
                                refresher=OAuthClient(config=config.strava, transport=mock))
            client = StravaClient(config=config.strava, tokens=tokens, governor=governor,
                                  transport=mock, clock=clock)
            store = Store.open(state_dir, clock=clock)
            engine = build_engine(config=config, store=store, client=client, governor=governor,
                                  clock=clock, queue=queue)
            members.append(Member(athlete_id=athlete_id, watch=watch, store=store,
                                  engine=engine))
        return cls(emulator=emu, clock=clock, governor=governor, members=members)

    def upload(self, count: int, *, first: int = 0, horizon: float = 4 * 3600.0) -> None:
        """Give every athlete ``count`` workouts and tick all engines until none is due."""
        for m in self.members:
            m.engine.scan(workouts(m.watch, count, first=first))
        end = self.clock() + horizon
        for _ in range(400_000):
            dues = [d for d in (m.engine.tick() for m in self.members) if d is not None]
            if not dues or min(dues) > end:
                return
            if min(dues) > self.clock():
                self.clock.set(min(dues))
        raise RuntimeError("the engines did not settle")

    def seen(self) -> dict[str, Any]:
        return self.emulator.inspect(requests=False)

    def activities(self) -> int:
        return sum(1 for a in self.seen()["activities"] if not a["deleted"])

    def latencies(self) -> list[float]:
        """Seconds from each upload's creation to its engine knowing the activity."""
        created = {u["id_str"]: u["created_at"] for u in self.seen()["uploads"]}
        return [t for m in self.members for t in engine_latencies(m.store, created)]

    def finished(self) -> list[float]:
        return sorted(w.finished_at for m in self.members
                      for w in m.store.workouts(states=(State.UPLOADED,))
                      if w.finished_at is not None)


def _config(watch: Path, state_dir: Path) -> Config:
    return config_from_dict({
        "strava": {"client_id": "12345", "client_secret": "emulator-secret",
                   "api_url": API, "oauth_url": "http://strava.test/oauth"},
        "watch": {"paths": [str(watch)], "max_age_days": 0},
        "state": {"dir": str(state_dir)},
    })


def cold_warm(seed: int, athletes: int, files: int) -> dict[str, float]:
    """Calls per activity of ``files`` workouts per athlete cold, then ``files`` more warm."""
    home = Household.make(seed, athletes)
    home.upload(files)
    seen = home.seen()
    cold_calls, cold_acts = api_calls(seen), home.activities()
    cold_lat = statistics.median(home.latencies())
    home.upload(files, first=files)
    seen = home.seen()
    warm_calls, warm_acts = api_calls(seen) - cold_calls, home.activities() - cold_acts
    return {"cold": cold_calls / cold_acts, "warm": warm_calls / warm_acts,
            "lat_cold": cold_lat, "429": count_429(seen), "activities": home.activities()}


def backlog(seed: int, athletes: int, files: int, limits: tuple[int, int]) -> dict[str, Any]:
    """``files`` workouts per athlete at once: activities known per full 15-minute window."""
    home = Household.make(seed, athletes, limits=limits)
    home.upload(files, horizon=48 * 3600.0)
    seen = home.seen()
    known = home.finished()
    last = math.floor((known[-1] - T0) / 900) if known else 0
    per_window = [0] * (last + 1)
    for t in known:
        per_window[math.floor((t - T0) / 900)] += 1
    full = per_window[:-1] if len(per_window) > 1 else per_window  # the last is partial
    return {"windows": per_window, "full_mean": statistics.mean(full), "full_min": min(full),
            "activities": home.activities(), "429": count_429(seen), "calls": api_calls(seen)}


def report_cold_warm(seeds: Sequence[int], athletes: int, files: int) -> None:
    print(f"== {athletes} athletes, one governor: calls per activity, {files} workouts each "
          f"cold then {files} warm, 0.5-6 s")
    colds, warms, ratios, lat_ratios = [], [], [], []
    for seed in seeds:
        ours = cold_warm(seed, athletes, files)
        base = baseline(seed, FAST, files)
        colds.append(ours["cold"])
        warms.append(ours["warm"])
        ratios.append(ours["cold"] / base["per"])
        lat_ratios.append(ours["lat_cold"] / base["lat"])
        print(f"seed {seed}: cold {ours['cold']:.2f}, warm {ours['warm']:.2f}, 1-s poller "
              f"{base['per']:.2f} (cold/poller {ratios[-1]:.2f}), cold latency median "
              f"{ours['lat_cold']:.2f} s (poller {base['lat']:.2f} s, x{lat_ratios[-1]:.2f}), "
              f"429 {ours['429']:.0f}, activities {ours['activities']:.0f}")
    cold, warm = statistics.mean(colds), statistics.mean(warms)
    print(f"mean cold {cold:.2f} (target <= 1.3: {'met' if cold <= 1.3 + 1e-9 else 'MISSED'}; "
          f"x{cold / V02_COLD:.2f} of 0.2's {V02_COLD}), warm {warm:.2f} "
          f"(x{warm / V02_WARM:.2f} of 0.2's {V02_WARM}), cold/poller "
          f"{statistics.mean(ratios):.2f}, latency ratio median "
          f"{statistics.median(lat_ratios):.2f} (target <= 1.3: "
          f"{'met' if statistics.median(lat_ratios) <= 1.3 else 'MISSED'})")


def report_backlog(seed: int, athletes: int, files: int, limits: tuple[int, int]) -> None:
    result = backlog(seed, athletes, files, limits)
    mean = result["full_mean"]
    print(f"== {athletes} athletes x backlog of {files}, limits {limits[0]}/{limits[1]} "
          f"per 15 min (seed {seed})")
    print(f"activities known per window: {result['windows']}")
    print(f"full windows: mean {mean:.1f}, min {result['full_min']} (target >= 180: "
          f"{'met' if mean >= 180 else 'MISSED'}; x{mean / V02_WINDOW:.2f} of 0.2's "
          f"{V02_WINDOW:.0f}); 429 answers: {result['429']} (target 0); "
          f"{result['activities']} activities, "
          f"{result['calls'] / max(1, result['activities']):.2f} calls each")


def main() -> None:
    """Run every measurement and print it."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--athletes", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--files", type=int, default=12)
    parser.add_argument("--backlog", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="skip the backlog")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    report_cold_warm(args.seeds, args.athletes, args.files)
    if not args.quick:
        report_backlog(args.seeds[0], args.athletes, args.backlog, DEFAULT_LIMITS)


if __name__ == "__main__":
    main()
