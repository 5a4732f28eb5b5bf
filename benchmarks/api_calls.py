"""API calls per created activity: stravasync's engine against a naive uploader.

Starts the emulator on loopback twice with the same seed (so both see the same
processing times, drawn from 0.5-6 s), uploads 20 workouts with each, and prints
the calls per activity and the time from the POST's answer to the known activity.

The baseline does what stravalib's ``wait()`` users do: POST, poll every second
until the upload is done, then ``GET /activities/{id}`` (the emulator serves it, so
it is counted as the one real call it is). Both run 4 uploads at once.

Run: ``/work/venv/bin/python benchmarks/api_calls.py [--files 20] [--seed 5]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import structlog

from stravasync.config import config_from_dict
from stravasync.emulator import Emulator, EmulatorConfig, Knobs
from stravasync.engine import Engine
from stravasync.samples import sample_fit
from stravasync.stack import open_api
from stravasync.state import State, Store
from stravasync.tokens import Athlete, TokenSet, TokenStore

CONCURRENCY = 4


def make_files(folder: Path, count: int) -> list[Path]:
    """``count`` distinct workouts, a day old, an hour apart."""
    folder.mkdir(parents=True, exist_ok=True)
    base = datetime.now(UTC) - timedelta(days=1)
    paths = []
    for i in range(count):
        path = folder / f"w{i:02d}.fit"
        path.write_bytes(sample_fit(start=base - timedelta(hours=i)))
        paths.append(path)
    return paths


def emulator(seed: int) -> Emulator:
    """The emulator with processing drawn from 0.5-6 s."""
    # Limits raised: the baseline alone would exceed Strava's default 100 reads / 15 min.
    knobs = Knobs(processing_min_s=0.5, processing_max_s=6.0, limit_15=2000,
                  read_limit_15=1000, limit_day=20000, read_limit_day=10000)
    return Emulator(EmulatorConfig(seed=seed, knobs=knobs)).start()


def calls_of(strava: Emulator) -> tuple[int, int]:
    """(API calls answered, live activities)."""
    seen = strava.inspect(requests=False)
    live = sum(1 for a in seen["activities"] if not a["deleted"])
    return int(seen["counters"]["api_calls"]), live


def run_engine(strava: Emulator, files: int) -> dict[str, float]:
    """Upload with the engine; return its numbers."""
    tmp = Path(tempfile.mkdtemp(prefix="stravasync-bench-"))
    watch, state_dir = tmp / "watch", tmp / "state"
    paths = make_files(watch, files)
    config = config_from_dict({
        "strava": {"client_id": "12345", "client_secret": "emulator-secret",
                   "api_url": strava.api_url, "oauth_url": strava.oauth_url},
        "watch": {"paths": [str(watch)]}, "state": {"dir": str(state_dir)},
        "upload": {"concurrency": CONCURRENCY},
    })
    body = strava.issue_tokens()
    TokenStore(state_dir=state_dir).save_initial(TokenSet(
        access_token=body["access_token"], refresh_token=body["refresh_token"],
        expires_at=int(body["expires_at"]), scope="read,activity:write",
        athlete=Athlete(id=int(body["athlete"]["id"]))))
    store = Store.open(state_dir)
    api = open_api(config)
    client = api.client
    engine = Engine(config=config, store=store, client=client, governor=client.governor)
    started = time.monotonic()
    engine.scan(paths)
    engine.start()
    outcome = engine.wait_idle(timeout=600)
    engine.stop()
    api.close()
    elapsed = time.monotonic() - started
    calls, activities = calls_of(strava)
    done = store.workouts(states=(State.UPLOADED,))
    latencies = [w.finished_at - w.posted_at for w in done
                 if w.finished_at is not None and w.posted_at is not None]
    return {"outcome_done": float(outcome.status == "done"), "calls": calls,
            "activities": activities, "wall_s": elapsed,
            "latency_mean": statistics.mean(latencies),
            "latency_median": statistics.median(latencies), "latency_max": max(latencies),
            "estimate_s": engine.processing_estimate}


def run_baseline(strava: Emulator, files: int) -> dict[str, float]:
    """Upload the naive way: POST, poll every second, GET the activity."""
    tmp = Path(tempfile.mkdtemp(prefix="stravasync-bench-base-"))
    paths = make_files(tmp, files)
    token = strava.issue_tokens()["access_token"]
    latencies: list[float] = []
    lock = threading.Lock()

    def upload(path: Path) -> None:
        with httpx.Client(base_url=strava.api_url + "/",
                          headers={"Authorization": f"Bearer {token}"}) as http:
            answer = http.post("uploads", data={"data_type": "fit"},
                               files={"file": (path.name, path.read_bytes())}).json()
            posted = time.monotonic()
            while True:
                time.sleep(1.0)
                status = http.get(f"uploads/{answer['id_str']}").json()
                if status.get("activity_id") or status.get("error"):
                    break
            if status["activity_id"]:
                http.get(f"activities/{status['activity_id']}")
                with lock:
                    latencies.append(time.monotonic() - posted)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        list(pool.map(upload, paths))
    elapsed = time.monotonic() - started
    calls, activities = calls_of(strava)
    return {"calls": calls, "activities": activities, "wall_s": elapsed,
            "latency_mean": statistics.mean(latencies),
            "latency_median": statistics.median(latencies), "latency_max": max(latencies)}


def main() -> None:
    """Run both and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    results = {}
    for name, runner in (("stravasync engine", run_engine), ("baseline (poll 1 s + GET)",
                                                             run_baseline)):
        strava = emulator(args.seed)
        try:
            results[name] = runner(strava, args.files)
        finally:
            strava.stop()
    print(f"{args.files} workouts, processing 0.5-6 s (seed {args.seed}), "
          f"{CONCURRENCY} uploads at once")
    print(f"{'':28} {'calls':>6} {'acts':>5} {'calls/act':>10} {'POST->activity s':>24} "
          f"{'wall s':>7}")
    for name, r in results.items():
        per = r["calls"] / r["activities"] if r["activities"] else float("nan")
        lat = (f"mean {r['latency_mean']:.1f} med {r['latency_median']:.1f} "
               f"max {r['latency_max']:.1f}")
        print(f"{name:28} {r['calls']:>6.0f} {r['activities']:>5.0f} {per:>10.2f} "
              f"{lat:>24} {r['wall_s']:>7.1f}")
    print(f"learned processing estimate: {results['stravasync engine']['estimate_s']:.2f} s")


if __name__ == "__main__":
    main()
