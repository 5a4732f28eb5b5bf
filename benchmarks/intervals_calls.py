"""intervals.icu calls per activity: cold, warm, and under faults and rate limits.

Every number is measured in this process, on the in-process emulator's intervals.icu
driven by one manual clock (no sockets, no sleeping), through the real
``IntervalsClient`` and the intervals.icu engine (``stack.build_intervals_engine``).

- **cold**: ``--files`` workouts from an empty state folder;
- **warm**: ``--files`` more, on the same state folder, by a new engine (a restart);
  goal 1.0 (one POST per activity, no list);
- **rescan**: the same folder scanned again by a new engine: calls for files already
  uploaded (goal 0);
- **faults**: ``intervals_5xx_share`` 0.2: each fault costs a retry, and the retry after
  a fault that may have gone through lists its day first (it must not POST twice);
- **limited**: ``intervals_rate_limit`` 5 calls per 10 s with ``Retry-After``: the
  429s met, and calls per activity.

Every run checks that intervals.icu holds exactly one activity per workout.

Run: ``PYTHONPATH=. /work/venv/bin/python benchmarks/intervals_calls.py [--files 20]
[--seeds 1 2 3]``
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import structlog

from stravasync.config.settings import Config, config_from_dict
from stravasync.demo.samples import sample_fit
from stravasync.emulator import EmulatorConfig, EmulatorState, Knobs, ManualClock
from stravasync.emulator.core import Request as EmuRequest
from stravasync.fsutil import ensure_private_dir
from stravasync.intervals.client import IntervalsClient
from stravasync.stack import build_intervals_engine, open_intervals_client
from stravasync.state import Store
from stravasync.state.accounts import account_folders

ICU_URL = "http://emulator.test/intervals/api/v1"
ACCOUNT = "jane-icu"
T0 = 1_772_445_600.0  # 2026-03-02 10:00:00 UTC


class Rig:
    """One intervals.icu account over the in-process emulator, counting its calls."""

    def __init__(self, seed: int, knobs: dict[str, Any]) -> None:
        self.clock = ManualClock(start=T0)
        self.emulator = EmulatorState(EmulatorConfig(
            seed=seed, clock=self.clock, knobs=Knobs().replace(**knobs)))
        self.calls: Counter[str] = Counter()
        self.limited = 0
        tmp = Path(tempfile.mkdtemp(prefix="stravasync-icu-bench-"))
        self.watch = tmp / "watch"
        self.watch.mkdir()
        key = self.emulator.intervals_key()
        assert key is not None
        self.config: Config = config_from_dict({
            "strava": {"client_id": "12345"},
            "accounts": [{"name": ACCOUNT, "service": "intervals", "paths": [str(self.watch)],
                          "api_url": ICU_URL}],
            "watch": {"max_age_days": 0},
            "upload": {"concurrency": 4},
            "state": {"dir": str(tmp / "state")},
        }, env={"HOME": str(tmp), "STRAVASYNC_INTERVALS_KEY_JANE_ICU": key})
        self.account = self.config.accounts[0]
        folder = account_folders(self.config.state_dir, self.config.accounts)[ACCOUNT]
        ensure_private_dir(folder)
        self.store = Store.open(folder, clock=self.clock)
        self.client: IntervalsClient = open_intervals_client(
            self.config, self.account, httpx.MockTransport(self._handle), clock=self.clock)
        self.made = 0

    def _handle(self, request: httpx.Request) -> httpx.Response:
        reply = self.emulator.handle(EmuRequest(
            method=request.method.upper(), path=request.url.path,
            query=dict(request.url.params),
            headers={k.lower(): v for k, v in request.headers.items()}, body=request.read()))
        self.calls[request.method] += 1
        self.limited += reply.status == 429
        if reply.drop:
            raise httpx.RemoteProtocolError("closed", request=request)
        return httpx.Response(reply.status, content=reply.body, request=request,
                              headers=[("content-type", reply.content_type), *reply.headers])

    def workouts(self, count: int) -> list[Path]:
        """``count`` new workouts, an hour apart, the day before T0."""
        base = datetime.fromtimestamp(T0, UTC) - timedelta(days=1)
        paths = []
        for _ in range(count):
            path = self.watch / f"w{self.made:03d}.fit"
            path.write_bytes(sample_fit(start=base - timedelta(hours=self.made)))
            paths.append(path)
            self.made += 1
        return paths

    def run(self, paths: list[Path], *, horizon: float = 6 * 3600.0) -> int:
        """Scan ``paths`` with a new engine until nothing is due; the calls it made."""
        before = sum(self.calls.values())
        engine = build_intervals_engine(config=self.config, account=self.account,
                                        store=self.store, client=self.client,
                                        clock=self.clock, rng=random.Random(1))
        engine.scan(paths)
        end = self.clock() + horizon
        for _ in range(100_000):
            due = engine.tick()
            if due is None or due > end:
                break
            if due > self.clock():
                self.clock.set(due)
        return sum(self.calls.values()) - before

    def activities(self) -> int:
        return len(self.emulator.intervals_activities_of(EmulatorConfig().athlete_id))


def measure(seed: int, files: int) -> dict[str, float]:
    """Calls per activity of one seed's runs."""
    out: dict[str, float] = {}
    rig = Rig(seed, {})
    cold = rig.run(rig.workouts(files))
    out["cold"] = cold / files
    warm = rig.run(rig.workouts(files))
    out["warm"] = warm / files
    out["rescan"] = rig.run(sorted(rig.watch.iterdir()))
    assert rig.activities() == 2 * files, "not exactly one activity per workout"

    faulty = Rig(seed, {"intervals_5xx_share": 0.2})
    out["faults"] = faulty.run(faulty.workouts(files)) / files
    out["faults_lists"] = faulty.calls["GET"] / files
    assert faulty.activities() == files, "not exactly one activity per workout (faults)"

    limited = Rig(seed, {"intervals_rate_limit": 5, "intervals_rate_window_s": 10,
                         "intervals_retry_after_s": 10})
    out["limited"] = limited.run(limited.workouts(files)) / files
    out["limited_429"] = float(limited.limited)
    assert limited.activities() == files, "not exactly one activity per workout (limited)"
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    runs = [measure(seed, args.files) for seed in args.seeds]

    def mean(key: str) -> float:
        return statistics.fmean(run[key] for run in runs)

    print(f"intervals.icu calls per activity ({args.files} workouts, seeds {args.seeds}):")
    print(f"  cold   {mean('cold'):.2f}   (goal 1.0)")
    print(f"  warm   {mean('warm'):.2f}   (goal 1.0: one POST per activity)")
    print(f"  rescan {mean('rescan'):.0f} calls for {2 * args.files} files already uploaded")
    print(f"  faults {mean('faults'):.2f}   (5xx share 0.2; lists per activity "
          f"{mean('faults_lists'):.2f})")
    print(f"  limited {mean('limited'):.2f}  (5 calls/10 s, Retry-After 10; "
          f"429s met {mean('limited_429'):.1f})")
    print("  exactly one activity per workout in every run")


if __name__ == "__main__":
    main()
