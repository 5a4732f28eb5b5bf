"""API calls per created activity, throughput and latency: stravasync against a 1-s poller.

Every number is measured in this process, on the in-process emulator driven by one
manual clock (no sockets, no sleeping: minutes of Strava time take seconds), and is
printed beside a baseline run on an emulator with the same seed, so both see the
same processing times. The baseline does what stravalib's ``wait()`` users do: POST,
poll every second until the upload is done, then ``GET /activities/{id}``; both run 4
uploads at once.

- **cold / warm**: calls per activity of 12 workouts from an empty state (cold), then
  of 12 more with what was learned (warm), at processing 0.5-6 s and 10-30 s, averaged
  over seeds 1-3 (targets: cold <= 2.2 at 0.5-6 s, <= 2.5 at 10-30 s);
- **latency**: POST -> activity known, median, against the baseline's in the same
  run (target <= 1.3x);
- **rules**: calls per activity with a ``[[rules]]`` update (one PUT each) and without
  (goal: at most +1);
- **backlog**: 300 workouts at once, window limits 40/20 (Strava's 200/100 shrunk,
  same read/write ratio) and at Strava's defaults: activities per full 15-minute
  window against the per-upload-polling ceiling (one read per activity at least, so
  the read limit), printed as a ratio; 429 answers counted (target: none, and at
  least 1.5x the ceiling).

Run: ``PYTHONPATH=. /work/venv/bin/python benchmarks/api_calls.py [--seeds 1 2 3]
[--files 12] [--backlog 300] [--quick]``
"""

from __future__ import annotations

import argparse
import heapq
import math
import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import structlog

from stravasync.config.settings import Config, config_from_dict
from stravasync.demo.samples import sample_fit
from stravasync.emulator import EmulatorConfig, EmulatorState, Knobs, ManualClock
from stravasync.emulator.core import Request as EmuRequest
from stravasync.stack import build_engine
from stravasync.state import State, Store
from stravasync.strava.client import StravaClient
from stravasync.strava.governor import Governor
from stravasync.strava.oauth import OAuthClient
from stravasync.strava.tokens import Athlete, TokenSet, TokenStore
from stravasync.upload.engine import Engine

CONCURRENCY = 4
API = "http://strava.test/api/v3"
T0 = 1_772_445_600.0  # 2026-03-02 10:00:00 UTC: runs start on a window boundary
SCOPE = "read,activity:write,activity:read_all"
FAST = (0.5, 6.0)
SLOW = (10.0, 30.0)
#: A rule that needs the update (``PUT /activities/{id}``) on every activity.
PUT_RULES = [{"set": {"sport_type": "VirtualRide", "hide_from_home": True}}]


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


def emulator(seed: int, processing: tuple[float, float], *, limits: tuple[int, int] | None,
             clock: ManualClock) -> EmulatorState:
    """The emulator; ``limits`` = (overall, read) per 15 min, None = raised out of the way."""
    overall, read = limits or (20_000, 10_000)
    knobs = Knobs(processing_min_s=processing[0], processing_max_s=processing[1],
                  limit_15=overall, read_limit_15=read, limit_day=max(2000, 10 * overall),
                  read_limit_day=max(1000, 10 * read))
    return EmulatorState(EmulatorConfig(seed=seed, clock=clock, knobs=knobs))


def workouts(folder: Path, count: int, *, first: int = 0) -> list[Path]:
    """``count`` distinct workouts an hour apart, starting a day before T0."""
    folder.mkdir(parents=True, exist_ok=True)
    base = datetime.fromtimestamp(T0, UTC) - timedelta(days=1)
    paths = []
    for i in range(first, first + count):
        path = folder / f"w{i:03d}.fit"
        path.write_bytes(sample_fit(start=base - timedelta(hours=i)))
        paths.append(path)
    return paths


@dataclass
class Rig:
    """One engine world: emulator, manual clock, store, governor and client."""

    emulator: EmulatorState
    clock: ManualClock
    config: Config
    store: Store
    client: StravaClient
    watch: Path

    @classmethod
    def make(cls, seed: int, processing: tuple[float, float], *,
             limits: tuple[int, int] | None = None, rules: list[dict[str, Any]] | None = None,
             scope: str = SCOPE) -> Rig:
        clock = ManualClock(start=T0)
        emu = emulator(seed, processing, limits=limits, clock=clock)
        tmp = Path(tempfile.mkdtemp(prefix="stravasync-bench-"))
        watch, state_dir = tmp / "watch", tmp / "state"
        watch.mkdir()
        data: dict[str, Any] = {
            "strava": {"client_id": "12345", "client_secret": "emulator-secret",
                       "api_url": API, "oauth_url": "http://strava.test/oauth"},
            "watch": {"paths": [str(watch)], "max_age_days": 0},
            "upload": {"concurrency": CONCURRENCY}, "state": {"dir": str(state_dir)},
        }
        if rules:
            data["rules"] = rules
        config = config_from_dict(data)
        body = emu.issue_tokens(scope=scope)
        TokenStore(state_dir=state_dir, clock=clock).save_initial(TokenSet(
            access_token=body["access_token"], refresh_token=body["refresh_token"],
            expires_at=int(body["expires_at"]), scope=scope,
            athlete=Athlete(id=int(body["athlete"]["id"]))))
        mock = transport(emu)
        tokens = TokenStore(state_dir=state_dir, clock=clock,
                            refresher=OAuthClient(config=config.strava, transport=mock))
        governor = Governor(state_file=None, clock=clock)
        client = StravaClient(config=config.strava, tokens=tokens, governor=governor,
                              transport=mock, clock=clock)
        return cls(emulator=emu, clock=clock, config=config,
                   store=Store.open(state_dir, clock=clock), client=client, watch=watch)

    def engine(self) -> Engine:
        return build_engine(config=self.config, store=self.store, client=self.client,
                            governor=self.client.governor, clock=self.clock)

    def upload(self, paths: Sequence[Path], *, horizon: float = 4 * 3600.0) -> Engine:
        """Scan ``paths`` and run a fresh engine until nothing is due within ``horizon``."""
        engine = self.engine()
        engine.scan(paths)
        end = self.clock() + horizon
        for _ in range(200_000):
            due = engine.tick()
            if due is None or due > end:
                return engine
            if due > self.clock():
                self.clock.set(due)
        raise RuntimeError("the engine did not settle")

    def seen(self) -> dict[str, Any]:
        return self.emulator.inspect(requests=True)


def api_calls(seen: dict[str, Any]) -> int:
    return int(seen["counters"]["api_calls"])


def count_429(seen: dict[str, Any]) -> int:
    return int(seen["counters"]["by_status"].get("429", 0))


def live_activities(seen: dict[str, Any]) -> int:
    return sum(1 for a in seen["activities"] if not a["deleted"])


def engine_latencies(store: Store, created: dict[str, float]) -> list[float]:
    """Seconds from each upload's creation (emulator) to the engine knowing its activity."""
    out = []
    for w in store.workouts(states=(State.UPLOADED,)):
        if w.upload_id in created and w.finished_at is not None:
            out.append(w.finished_at - created[w.upload_id])
    return out


# -- the engine -------------------------------------------------------------------------


def engine_cold_warm(seed: int, processing: tuple[float, float], files: int) -> dict[str, float]:
    """Calls per activity of ``files`` workouts cold, then of ``files`` more warm."""
    rig = Rig.make(seed, processing)
    rig.upload(workouts(rig.watch, files))
    seen = rig.seen()
    cold_calls, cold_acts = api_calls(seen), live_activities(seen)
    created = {u["id_str"]: u["created_at"] for u in seen["uploads"]}
    cold_lat = engine_latencies(rig.store, created)
    rig.upload(workouts(rig.watch, files, first=files))
    seen = rig.seen()
    warm_calls = api_calls(seen) - cold_calls
    warm_acts = live_activities(seen) - cold_acts
    created = {u["id_str"]: u["created_at"] for u in seen["uploads"]}
    all_lat = engine_latencies(rig.store, created)
    return {"cold": cold_calls / cold_acts, "warm": warm_calls / warm_acts,
            "lat_cold": statistics.median(cold_lat), "lat_all": statistics.median(all_lat),
            "429": count_429(seen)}


def engine_rules(seed: int, files: int) -> dict[str, float]:
    """Calls per activity with a rule that needs the update, and the PUTs it sent."""
    rig = Rig.make(seed, FAST, rules=PUT_RULES)
    rig.upload(workouts(rig.watch, files))
    seen = rig.seen()
    puts = sum(1 for r in seen["requests"] if r["method"] == "PUT")
    applied = sum(1 for a in seen["activities"] for u in a["updates"] if u["applied"])
    return {"per": api_calls(seen) / live_activities(seen), "puts": puts, "applied": applied,
            "activities": live_activities(seen)}


def engine_backlog(seed: int, files: int, limits: tuple[int, int]) -> dict[str, Any]:
    """A backlog of ``files`` at once: activities known per full 15-minute window."""
    rig = Rig.make(seed, FAST, limits=limits)
    rig.upload(workouts(rig.watch, files), horizon=48 * 3600.0)
    seen = rig.seen()
    known = sorted(w.finished_at for w in rig.store.workouts(states=(State.UPLOADED,))
                   if w.finished_at is not None)
    last = math.floor((known[-1] - T0) / 900) if known else 0
    per_window = [0] * (last + 1)
    for t in known:
        per_window[math.floor((t - T0) / 900)] += 1
    full = per_window[:-1] if len(per_window) > 1 else per_window  # the last is partial
    return {"windows": per_window, "full_mean": statistics.mean(full), "full_min": min(full),
            "activities": live_activities(seen), "429": count_429(seen),
            "calls": api_calls(seen), "minutes": (known[-1] - T0) / 60 if known else 0.0}


# -- the baseline: POST, poll every second, GET the activity -------------------------------


def baseline(seed: int, processing: tuple[float, float], files: int) -> dict[str, float]:
    """The 1-s poller, 4 uploads at once, on the manual clock (discrete events)."""
    clock = ManualClock(start=T0)
    emu = emulator(seed, processing, limits=None, clock=clock)
    token = emu.issue_tokens(scope=SCOPE)["access_token"]
    tmp = Path(tempfile.mkdtemp(prefix="stravasync-bench-base-"))
    queue = list(reversed(workouts(tmp, files)))
    latencies: list[float] = []
    events: list[tuple[float, int, str, str, float]] = []  # (time, n, what, upload id, posted)
    n = 0
    with httpx.Client(base_url=API + "/", transport=transport(emu),
                      headers={"Authorization": f"Bearer {token}"}) as http:

        def post(now: float) -> None:
            nonlocal n
            path = queue.pop()
            answer = http.post("uploads", data={"data_type": "fit"},
                               files={"file": (path.name, path.read_bytes())}).json()
            n += 1
            heapq.heappush(events, (now + 1.0, n, "poll", answer["id_str"], now))

        for _ in range(min(CONCURRENCY, len(queue))):
            post(clock())
        while events:
            at, _n, _what, upload_id, posted = heapq.heappop(events)
            clock.set(max(clock(), at))
            status = http.get(f"uploads/{upload_id}").json()
            if status.get("activity_id") or status.get("error"):
                if status.get("activity_id"):
                    http.get(f"activities/{status['activity_id']}")
                    latencies.append(clock() - posted)
                if queue:
                    post(clock())
            else:
                n += 1
                heapq.heappush(events, (clock() + 1.0, n, "poll", upload_id, posted))
    seen = emu.inspect(requests=False)
    return {"per": api_calls(seen) / live_activities(seen),
            "lat": statistics.median(latencies)}


# -- report ---------------------------------------------------------------------------------


def report_cold_warm(seeds: Sequence[int], files: int) -> None:
    print(f"== calls per activity, {files} workouts cold then {files} warm, "
          f"{CONCURRENCY} at once, scope {SCOPE}")
    print(f"{'processing':>11} {'seed':>4} {'cold':>6} {'warm':>6} {'base':>6} "
          f"{'cold/base':>9} {'warm/base':>9} {'lat med s':>9} {'base lat':>8} "
          f"{'lat ratio':>9} {'429':>4}")
    for processing, target in ((FAST, 2.2), (SLOW, 2.5)):
        colds, warms, ratios, lat_ratios = [], [], [], []
        for seed in seeds:
            ours = engine_cold_warm(seed, processing, files)
            base = baseline(seed, processing, files)
            colds.append(ours["cold"])
            warms.append(ours["warm"])
            ratios.append(ours["cold"] / base["per"])
            lat_ratios.append(ours["lat_cold"] / base["lat"])
            label = f"{processing[0]:g}-{processing[1]:g} s"
            print(f"{label:>11} {seed:>4} {ours['cold']:>6.2f} {ours['warm']:>6.2f} "
                  f"{base['per']:>6.2f} {ours['cold'] / base['per']:>9.2f} "
                  f"{ours['warm'] / base['per']:>9.2f} {ours['lat_cold']:>9.2f} "
                  f"{base['lat']:>8.2f} {lat_ratios[-1]:>9.2f} "
                  f"{ours['429']:>4.0f}")
        mean_cold = statistics.mean(colds)
        print(f"{'':>11} mean cold {mean_cold:.2f} (target <= {target}: "
              f"{'met' if mean_cold <= target else 'MISSED'}), warm "
              f"{statistics.mean(warms):.2f}, cold/baseline {statistics.mean(ratios):.2f}, "
              f"latency ratio median {statistics.median(lat_ratios):.2f} (target <= 1.3: "
              f"{'met' if statistics.median(lat_ratios) <= 1.3 else 'MISSED'})")


def report_rules(seeds: Sequence[int], files: int) -> None:
    print(f"== calls per activity with a rule that needs the update (PUT), {files} workouts, "
          "0.5-6 s, cold")
    diffs = []
    for seed in seeds:
        plain = engine_cold_warm(seed, FAST, files)["cold"]
        ruled = engine_rules(seed, files)
        diffs.append(ruled["per"] - plain)
        print(f"seed {seed}: without {plain:.2f}, with {ruled['per']:.2f} "
              f"(+{ruled['per'] - plain:.2f}); PUTs {ruled['puts']:.0f}, applied "
              f"{ruled['applied']:.0f}, activities {ruled['activities']:.0f}")
    worst = max(diffs)
    print(f"most extra calls per activity: +{worst:.2f} (goal <= +1: "
          f"{'met' if worst <= 1.0 + 1e-9 else 'MISSED'})")


def report_backlog(seed: int, files: int, limits: tuple[int, int], target: float) -> None:
    overall, read = limits
    result = engine_backlog(seed, files, limits)
    ceiling = read  # per-upload polling: at least one read per activity
    ratio = result["full_mean"] / ceiling
    print(f"== backlog of {files}, limits {overall}/{read} per 15 min (seed {seed})")
    print(f"activities known per window: {result['windows']}")
    print(f"full windows: mean {result['full_mean']:.1f}, min {result['full_min']}; "
          f"per-upload-polling ceiling {ceiling}; ratio {ratio:.2f} (target >= {target}: "
          f"{'met' if ratio >= target else 'MISSED'}); 429 answers: {result['429']}; "
          f"{result['activities']} activities in {result['minutes']:.0f} min, "
          f"{result['calls'] / max(1, result['activities']):.2f} calls each")


def main() -> None:
    """Run every measurement and print it."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--files", type=int, default=12)
    parser.add_argument("--backlog", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="skip the backlogs")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    report_cold_warm(args.seeds, args.files)
    report_rules(args.seeds, args.files)
    if not args.quick:
        report_backlog(args.seeds[0], args.backlog, (40, 20), 1.5)
        report_backlog(args.seeds[0], args.backlog, (200, 100), 1.5)


if __name__ == "__main__":
    main()
