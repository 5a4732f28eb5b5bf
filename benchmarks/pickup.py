"""Watcher pickup latency and idle cost.

Measures, with a real watchdog observer on a temporary folder:

- pickup: time from a complete workout file appearing in the watched folder to
  ``on_ready`` firing, median (and max) over ``--files`` files, for files renamed into
  place (how most copiers finish) and files written in place;
- idle: CPU time the process (watcher threads; the main thread sleeps) spends over
  ``--idle`` seconds with nothing happening.

Usage: python benchmarks/pickup.py [--files 20] [--idle 60] [--settle 2.0] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from stravasync.completeness import fit_crc
from stravasync.logs import configure_logging
from stravasync.watcher import Watcher


def make_fit(size: int) -> bytes:
    """A structurally complete FIT file of about ``size`` bytes (header, data, CRC)."""
    payload = os.urandom(size)
    body = bytes([12, 0x20]) + (2132).to_bytes(2, "little")
    body += len(payload).to_bytes(4, "little") + b".FIT" + payload
    return body + fit_crc(body).to_bytes(2, "little")


class Timings:
    """on_ready callback recording when each file name was reported."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self._cond = threading.Condition()

    def __call__(self, path: Path) -> None:
        with self._cond:
            self.seen.setdefault(path.name, time.perf_counter())
            self._cond.notify_all()

    def wait(self, name: str, timeout: float) -> float | None:
        """Return when ``name`` was reported, or None after ``timeout`` seconds."""
        with self._cond:
            self._cond.wait_for(lambda: name in self.seen, timeout=timeout)
            return self.seen.get(name)


def measure_pickup(
    folder: Path, staging: Path, timings: Timings, *, files: int, rename: bool
) -> list[float]:
    """Drop ``files`` complete files (~100 KB FIT) one by one; return their pickup times."""
    latencies = []
    for i in range(files):
        name = f"{'mv' if rename else 'wr'}-{i:03d}.fit"
        data = make_fit(100_000)
        if rename:
            (staging / name).write_bytes(data)
            start = time.perf_counter()
            os.rename(staging / name, folder / name)
        else:
            start = time.perf_counter()
            (folder / name).write_bytes(data)
        seen = timings.wait(name, timeout=30)
        latencies.append(float("inf") if seen is None else seen - start)
    return latencies


def summary(values: list[float]) -> dict[str, float]:
    """Median, max and min in milliseconds."""
    return {
        "median_ms": round(statistics.median(values) * 1000, 2),
        "max_ms": round(max(values) * 1000, 2),
        "min_ms": round(min(values) * 1000, 2),
    }


def main() -> None:
    """Run the benchmark and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20, help="files per pickup run (20)")
    parser.add_argument("--idle", type=float, default=60.0, help="idle period in seconds (60)")
    parser.add_argument("--settle", type=float, default=2.0, help="settle_seconds (2.0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    configure_logging(fmt="console", level="warning")

    with tempfile.TemporaryDirectory(prefix="stravasync-bench-") as tmp:
        folder, staging = Path(tmp) / "watched", Path(tmp) / "staging"
        folder.mkdir()
        staging.mkdir()
        timings = Timings()
        watcher = Watcher(
            paths=[folder], recursive=True, settle_seconds=args.settle, on_ready=timings
        )
        watcher.start()
        try:
            renamed = measure_pickup(folder, staging, timings, files=args.files, rename=True)
            written = measure_pickup(folder, staging, timings, files=args.files, rename=False)
            time.sleep(0.5)  # let the last events drain before measuring idle
            cpu0, wall0 = time.process_time(), time.perf_counter()
            time.sleep(args.idle)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        finally:
            watcher.stop()

    result = {
        "files": args.files,
        "settle_seconds": args.settle,
        "pickup_renamed": summary(renamed),
        "pickup_written": summary(written),
        "idle_seconds": round(wall, 2),
        "idle_cpu_ms": round(cpu * 1000, 2),
        "idle_cpu_percent": round(100 * cpu / wall, 4),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"pickup, renamed into place: {result['pickup_renamed']}  (n={args.files})")
    print(f"pickup, written in place:   {result['pickup_written']}  (n={args.files})")
    print(
        f"idle: {result['idle_cpu_ms']} ms CPU over {result['idle_seconds']} s "
        f"({result['idle_cpu_percent']} %)"
    )


if __name__ == "__main__":
    main()
