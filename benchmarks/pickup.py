"""Pickup latency and idle cost: the watcher alone, and the whole daemon.

Measures, on temporary folders, with ratios against a baseline run in the same process
(a bare watchdog ``Observer`` whose handler notes the first event naming the file):

- raw: time from a file appearing to a bare watchdog handler seeing its event;
- watcher: time from a complete workout file appearing in the watched folder to the
  :class:`~stravasync.intake.watcher.Watcher`'s ``on_ready`` firing, and the CPU time the
  watcher's threads spend over ``--idle`` seconds with nothing happening;
- daemon: the real :class:`~stravasync.service.daemon.Daemon` against the in-process emulator on
  127.0.0.1: time from a distinct workout appearing (just before its rename into place,
  or just before it is opened to be written in place) to the emulator receiving the
  ``POST /api/v3/uploads`` for it (``time.time()`` on both sides), with where that time
  goes (watcher, ingest, dispatch, HTTP); then, once every upload is final, the CPU the
  daemon's threads spend over ``--idle`` seconds, per thread, with their wake-ups.

Files are written one at a time: each after the previous one's POST arrived and
(unless ``--burst``) once fewer than ``upload.concurrency`` uploads await Strava's
processing, so what is timed is pickup, not the wait for a free upload slot (an upload
holds its slot until a poll finds it done; with ``--burst`` every fifth file waits for
that). Polls of earlier uploads still run meanwhile, as they would. ``2 x --files``
uploads plus about one poll each stay well inside Strava's default limits (200 calls,
100 reads per 15 minutes) up to ``--files 40``; the emulator runs with those limits.

Usage: python benchmarks/pickup.py [--files 20] [--idle 60] [--settle 2.0]
       [--points 3600] [--only raw,watcher,daemon] [--burst] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from queue import Queue
from typing import Any

import structlog
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from stravasync.intake.completeness import fit_crc
from stravasync.intake.watcher import Watcher
from stravasync.logs import configure_logging

SECTIONS = ("raw", "watcher", "daemon")
TARGET_S = 0.25
"""The issue's target for the daemon's median pickup."""


def make_fit(size: int) -> bytes:
    """A structurally complete FIT file of about ``size`` bytes (header, data, CRC)."""
    payload = os.urandom(size)
    body = bytes([12, 0x20]) + (2132).to_bytes(2, "little")
    body += len(payload).to_bytes(4, "little") + b".FIT" + payload
    return body + fit_crc(body).to_bytes(2, "little")


class Timings:
    """Records when each file name was first reported (``time.perf_counter``)."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self._cond = threading.Condition()

    def __call__(self, path: Path) -> None:
        """The watcher's ``on_ready``."""
        self.note(path.name)

    def note(self, name: str) -> None:
        """Record ``name`` as seen now (first time only)."""
        with self._cond:
            self.seen.setdefault(name, time.perf_counter())
            self._cond.notify_all()

    def wait(self, name: str, timeout: float) -> float | None:
        """Return when ``name`` was reported, or None after ``timeout`` seconds."""
        with self._cond:
            self._cond.wait_for(lambda: name in self.seen, timeout=timeout)
            return self.seen.get(name)


class RawHandler(FileSystemEventHandler):
    """The baseline: a bare watchdog handler noting the first event naming a file."""

    def __init__(self, timings: Timings) -> None:
        self._timings = timings

    def on_any_event(self, event: FileSystemEvent) -> None:
        """Note the file the event names (the destination of a move)."""
        if event.is_directory:
            return
        path = event.dest_path or event.src_path
        self._timings.note(os.path.basename(os.fsdecode(path)))


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
    """Median, p90, max and min in milliseconds."""
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p90_ms": round(p90 * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "min_ms": round(ordered[0] * 1000, 2),
    }


def ratio(value: float, baseline: float) -> float | None:
    """``value / baseline`` rounded, None when the baseline is zero or missing."""
    return round(value / baseline, 1) if baseline > 0 else None


# -- per-thread CPU (Linux /proc; the emulator shares the process) ---------------------


@dataclass(frozen=True)
class ThreadUse:
    """CPU time and wake-ups of one thread so far."""

    name: str
    """The Python thread name (or the kernel's, for threads Python does not know)."""
    cpu_s: float
    """User + system CPU seconds (``schedstat`` run time where available)."""
    wakeups: int
    """Voluntary context switches: how often the thread blocked and was woken again."""


def thread_use() -> dict[int, ThreadUse]:
    """CPU use of every thread of this process, by native thread id (empty off Linux)."""
    names = {
        t.native_id: t.name if type(t) is threading.Thread else f"{t.name} ({type(t).__name__})"
        for t in threading.enumerate()
        if t.native_id is not None
    }
    found: dict[int, ThreadUse] = {}
    try:
        tids = [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:
        return found
    tick = os.sysconf("SC_CLK_TCK")
    for tid in tids:
        base = f"/proc/self/task/{tid}"
        try:
            with open(f"{base}/schedstat", encoding="ascii") as fh:
                cpu = int(fh.read().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            try:
                with open(f"{base}/stat", encoding="ascii") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                cpu = (int(fields[11]) + int(fields[12])) / tick
            except (OSError, ValueError, IndexError):
                continue
        wakeups = 0
        try:
            with open(f"{base}/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("voluntary_ctxt_switches:"):
                        wakeups = int(line.split()[1])
            with open(f"{base}/comm", encoding="ascii") as fh:
                comm = fh.read().strip()
        except OSError:
            continue
        found[tid] = ThreadUse(name=names.get(tid, comm), cpu_s=cpu, wakeups=wakeups)
    return found


def is_emulator_thread(name: str) -> bool:
    """Threads of the emulator's HTTP server (not the daemon's cost)."""
    return name.startswith("strava-emulator") or "process_request_thread" in name


@dataclass
class IdleCost:
    """CPU over an idle period, for the whole process and per thread."""

    wall_s: float
    process_cpu_s: float
    threads: list[dict[str, Any]] = field(default_factory=list)

    def cpu_of(self, keep: Callable[[str], bool]) -> float:
        """CPU seconds of the threads whose name passes ``keep``."""
        return sum(float(t["cpu_s"]) for t in self.threads if keep(t["name"]))

    def as_dict(self, keep: Callable[[str], bool]) -> dict[str, Any]:
        """JSON-ready numbers, with ``cpu_s`` over the threads ``keep`` selects."""
        cpu = self.cpu_of(keep)
        return {
            "idle_seconds": round(self.wall_s, 2),
            "cpu_ms": round(cpu * 1000, 2),
            "cpu_s_per_hour": round(cpu * 3600 / self.wall_s, 3),
            "process_cpu_ms": round(self.process_cpu_s * 1000, 2),
            "process_cpu_s_per_hour": round(self.process_cpu_s * 3600 / self.wall_s, 3),
            "threads": [t for t in self.threads if keep(t["name"])],
        }


def measure_idle(seconds: float) -> IdleCost:
    """Sleep ``seconds`` and report what every thread spent meanwhile."""
    before = thread_use()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    time.sleep(seconds)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    after = thread_use()
    threads: list[dict[str, Any]] = []
    for tid, now in after.items():
        then = before.get(tid, ThreadUse(name=now.name, cpu_s=0.0, wakeups=0))
        threads.append({
            "name": now.name,
            "cpu_ms": round((now.cpu_s - then.cpu_s) * 1000, 3),
            "cpu_s": now.cpu_s - then.cpu_s,
            "wakeups": now.wakeups - then.wakeups,
        })
    threads.sort(key=lambda t: (-t["cpu_s"], -t["wakeups"]))
    return IdleCost(wall_s=wall, process_cpu_s=cpu, threads=threads)


# -- sections --------------------------------------------------------------------------


def run_raw(*, files: int) -> dict[str, Any]:
    """The baseline: a bare watchdog observer seeing the same kinds of files appear."""
    with tempfile.TemporaryDirectory(prefix="stravasync-bench-raw-") as tmp:
        folder, staging = Path(tmp) / "watched", Path(tmp) / "staging"
        folder.mkdir()
        staging.mkdir()
        timings = Timings()
        observer = Observer()
        observer.schedule(RawHandler(timings), str(folder), recursive=True)
        observer.start()
        try:
            renamed = measure_pickup(folder, staging, timings, files=files, rename=True)
            written = measure_pickup(folder, staging, timings, files=files, rename=False)
        finally:
            observer.stop()
            observer.join()
    return {"renamed": summary(renamed), "written": summary(written)}


def run_watcher(*, files: int, settle: float, idle: float) -> dict[str, Any]:
    """The watcher alone: file appearing → ``on_ready``; then its idle cost."""
    with tempfile.TemporaryDirectory(prefix="stravasync-bench-watch-") as tmp:
        folder, staging = Path(tmp) / "watched", Path(tmp) / "staging"
        folder.mkdir()
        staging.mkdir()
        timings = Timings()
        watcher = Watcher(paths=[folder], recursive=True, settle_seconds=settle, on_ready=timings)
        known = set(thread_use())
        watcher.start()
        try:
            renamed = measure_pickup(folder, staging, timings, files=files, rename=True)
            written = measure_pickup(folder, staging, timings, files=files, rename=False)
            time.sleep(0.5)  # let the last events drain before measuring idle
            ours = {u.name for tid, u in thread_use().items() if tid not in known}
            cost = measure_idle(idle)
        finally:
            watcher.stop()
    return {
        "renamed": summary(renamed),
        "written": summary(written),
        "idle": cost.as_dict(lambda name: name in ours),
    }


class Stamps:
    """Times (``time.time()``) of the daemon's milestones for each file name."""

    def __init__(self) -> None:
        self.times: dict[tuple[str, str], float] = {}
        self.posts: list[float] = []
        self._cond = threading.Condition()

    def mark(self, stage: str, name: str, when: float | None = None) -> None:
        """Record the first time ``name`` reached ``stage``."""
        self.times.setdefault((stage, name), time.time() if when is None else when)

    def on_request(self, entry: Mapping[str, Any]) -> None:
        """The emulator's hook: note when each upload POST was received (its clock)."""
        if entry["method"] == "POST" and str(entry["path"]).rstrip("/") == "/api/v3/uploads":
            with self._cond:
                self.posts.append(float(entry["time"]))
                self._cond.notify_all()

    def wait_posts(self, count: int, timeout: float) -> float | None:
        """When the ``count``-th upload POST arrived, or None after ``timeout``."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.posts) >= count, timeout=timeout)
            return self.posts[count - 1] if len(self.posts) >= count else None

    def processor(
        self, _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """A structlog processor noting ``upload_queued`` and ``upload_started``."""
        event = event_dict.get("event")
        if event in ("upload_queued", "upload_started") and "path" in event_dict:
            self.mark(str(event), os.path.basename(str(event_dict["path"])))
        return event_dict


class StampedInbox(Queue[Any]):
    """The daemon's inbox, noting when the watcher hands each file over."""

    def __init__(self, stamps: Stamps) -> None:
        super().__init__()
        self._stamps = stamps

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        """Note the hand-over (a FileReady message), then enqueue."""
        path = getattr(item, "path", None)
        if path is not None:
            self._stamps.mark("ready", path.name)
        super().put(item, block, timeout)


@contextmanager
def stamped_logs(stamps: Stamps) -> Iterator[None]:
    """Run with ``stamps.processor`` first in structlog's chain (logs go to a sink)."""
    configure_logging(fmt="json", level="info", stream=io.StringIO())
    processors = list(structlog.get_config()["processors"])
    structlog.configure(processors=[stamps.processor, *processors])
    try:
        yield
    finally:
        structlog.configure(processors=processors)


def _final_counts(state_dir: Path) -> dict[str, int]:
    from stravasync.state import Store

    store = Store.open(state_dir, read_only=True)
    try:
        return {str(state): n for state, n in store.counts().items() if n}
    finally:
        store.close()


def wait_free_slot(state_dir: Path, *, concurrency: int, timeout: float = 30.0) -> None:
    """Wait until fewer than ``concurrency`` uploads await Strava's processing."""
    from stravasync.state import Store

    deadline = time.monotonic() + timeout
    store = Store.open(state_dir, read_only=True)
    try:
        while store.in_flight() >= concurrency and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        store.close()


def run_daemon(
    *, files: int, settle: float, idle: float, burst: bool, points: int
) -> dict[str, Any]:
    """The real daemon against the emulator: file appearing → upload POST; then idle."""
    from stravasync.config.settings import config_from_dict
    from stravasync.demo.samples import sample_fit
    from stravasync.emulator import Emulator, EmulatorConfig, Knobs
    from stravasync.service.daemon import Daemon
    from stravasync.service.sdnotify import SystemdNotifier
    from stravasync.strava.tokens import Athlete, TokenSet, TokenStore

    stamps = Stamps()
    final = {"uploaded", "duplicate", "invalid", "rejected", "skipped"}
    emulator = Emulator(EmulatorConfig(
        seed=7, knobs=Knobs(processing_min_s=0.2, processing_max_s=0.8),
        on_request=stamps.on_request,
    )).start()
    tmp = tempfile.TemporaryDirectory(prefix="stravasync-bench-daemon-")
    root = Path(tmp.name)
    watch, state_dir = root / "watch", root / "state"
    watch.mkdir()
    config = config_from_dict(
        {
            "strava": {"client_id": emulator.config.client_id,
                       "client_secret": emulator.config.client_secret,
                       "api_url": emulator.api_url, "oauth_url": emulator.oauth_url},
            "watch": {"paths": [str(watch)], "settle_seconds": settle, "max_age_days": 3650},
            "state": {"dir": str(state_dir)},
            "log": {"format": "json", "level": "info"},
        },
        env={},
    )
    body = emulator.issue_tokens()
    TokenStore(state_dir=state_dir).save_initial(TokenSet(
        access_token=body["access_token"], refresh_token=body["refresh_token"],
        expires_at=int(body["expires_at"]), scope="read,activity:write",
        athlete=Athlete(id=int(body["athlete"]["id"])),
    ))
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    # Distinct workouts within the last day, starting 30 minutes apart (far beyond the
    # 2-minute "same workout" tolerance; Strava does not refuse overlapping activities),
    # all built before the clock starts.
    step = timedelta(minutes=30)
    workouts = [sample_fit(start=base - i * step, points=points) for i in range(2 * files)]
    with stamped_logs(stamps):
        daemon = Daemon(config, install_signals=False, notifier=SystemdNotifier(env={}))
        daemon._pickup.inbox = StampedInbox(stamps)  # stage timing only (private)
        before = set(thread_use())
        thread = threading.Thread(target=daemon.run, name="bench-daemon-run", daemon=True)
        thread.start()
        try:
            if not daemon.wait_ready(10):
                raise SystemExit("the daemon did not start within 10 s")
            time.sleep(0.5)  # startup scan of the empty folder
            latencies: dict[str, list[float]] = {"renamed": [], "written": []}
            names: dict[str, list[str]] = {"renamed": [], "written": []}
            for i, data in enumerate(workouts):
                how = "renamed" if i < files else "written"
                name = f"{how[:2]}-{i:03d}.fit"
                if not burst:
                    wait_free_slot(state_dir, concurrency=config.upload.concurrency)
                target = watch / name
                if how == "renamed":
                    part = watch / f"{name}.part"  # as copy tools do
                    part.write_bytes(data)
                    start = time.time()
                    os.rename(part, target)
                else:
                    start = time.time()
                    with open(target, "wb") as out:
                        out.write(data)
                stamps.mark("appeared", name, start)
                posted = stamps.wait_posts(i + 1, timeout=30)
                if posted is not None:
                    stamps.mark("posted", name, posted)
                latencies[how].append(float("inf") if posted is None else posted - start)
                names[how].append(name)
            deadline = time.monotonic() + 60
            counts: dict[str, int] = {}
            while time.monotonic() < deadline:
                counts = _final_counts(state_dir)
                if sum(counts.values()) >= 2 * files and final.issuperset(counts):
                    break
                time.sleep(0.2)
            time.sleep(1.0)  # the last poll's bookkeeping
            calls = emulator.inspect(requests=False)["counters"]
            daemon_threads = {u.name for tid, u in thread_use().items() if tid not in before}
            cost = measure_idle(idle)
        finally:
            daemon.request_stop()
            thread.join(10)
            emulator.stop()
            tmp.cleanup()
    ours = daemon_threads - {"bench-daemon-run"}
    ours = {n for n in ours if not is_emulator_thread(n)}
    stages = stage_summary(stamps, [*names["renamed"], *names["written"]])
    return {
        "renamed": summary(latencies["renamed"]),
        "written": summary(latencies["written"]),
        "burst": burst,
        "points": points,
        "file_bytes": len(workouts[0]),
        "stages": stages,
        "per_file_ms": {
            how: [round(v * 1000, 1) for v in values] for how, values in latencies.items()
        },
        "final_states": counts,
        "api_calls": calls.get("api_calls"),
        "idle": cost.as_dict(lambda name: name in ours or name == "bench-daemon-run"),
    }


def stage_summary(stamps: Stamps, names: list[str]) -> dict[str, float]:
    """Median milliseconds of each step from a file appearing to its POST arriving."""
    steps = (
        ("watcher (appeared -> on_ready)", "appeared", "ready"),
        ("ingest (on_ready -> upload_queued)", "ready", "upload_queued"),
        ("dispatch (upload_queued -> upload_started)", "upload_queued", "upload_started"),
        ("http (upload_started -> POST received)", "upload_started", "posted"),
    )
    out: dict[str, float] = {}
    for label, first, second in steps:
        spans = [
            stamps.times[(second, n)] - stamps.times[(first, n)]
            for n in names
            if (first, n) in stamps.times and (second, n) in stamps.times
        ]
        if spans:
            out[label] = round(statistics.median(spans) * 1000, 2)
    return out


# -- output ----------------------------------------------------------------------------


def report(result: dict[str, Any]) -> None:
    """Print the results for a person."""
    files = result["files"]
    raw = result.get("raw")
    if raw is not None:
        print(f"raw fs event (bare watchdog handler), n={files} each:")
        for how in ("renamed", "written"):
            print(f"  {how:8} {raw[how]}")
    watcher = result.get("watcher")
    if watcher is not None:
        print(f"watcher alone (file -> on_ready), settle_seconds={result['settle_seconds']}:")
        for how in ("renamed", "written"):
            line = f"  {how:8} {watcher[how]}"
            if raw is not None:
                x = ratio(watcher[how]["median_ms"], raw[how]["median_ms"])
                line += f"  watcher pickup = {x} x raw fs event"
            print(line)
        idle = watcher["idle"]
        print(f"  idle: {idle['cpu_ms']} ms CPU in the watcher's threads over "
              f"{idle['idle_seconds']} s = {idle['cpu_s_per_hour']} s per hour")
    daemon = result.get("daemon")
    if daemon is not None:
        mode = ("back to back (--burst)" if daemon["burst"]
                else "each when an upload slot is free")
        print(f"daemon (file appearing -> emulator receives POST /api/v3/uploads), {mode}, "
              f"FIT files of {daemon['points']} records ({daemon['file_bytes']} bytes):")
        for how in ("renamed", "written"):
            line = f"  {how:8} {daemon[how]}"
            if raw is not None:
                x = ratio(daemon[how]["median_ms"], raw[how]["median_ms"])
                line += f"  daemon pickup = {x} x raw fs event"
            print(line)
        worst = max(daemon[how]["median_ms"] for how in ("renamed", "written"))
        verdict = "within" if worst < TARGET_S * 1000 else "OVER"
        print(f"  median {verdict} the {TARGET_S} s target")
        print("  where the time goes (medians, ms):")
        for label, ms in daemon["stages"].items():
            print(f"    {label:44} {ms}")
        print(f"  final states: {daemon['final_states']}; API calls: {daemon['api_calls']}")
        idle = daemon["idle"]
        print(f"  idle: {idle['cpu_ms']} ms CPU in the daemon's threads over "
              f"{idle['idle_seconds']} s = {idle['cpu_s_per_hour']} s per hour "
              f"(whole process incl. emulator: {idle['process_cpu_s_per_hour']} s per hour)")
        for t in idle["threads"]:
            print(f"    {t['name']:40} {t['cpu_ms']:9.3f} ms  {t['wakeups']:6d} wake-ups")


def main() -> None:
    """Run the benchmark and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20, help="files per way of writing (20)")
    parser.add_argument("--idle", type=float, default=60.0, help="idle period in seconds (60)")
    parser.add_argument("--settle", type=float, default=2.0, help="settle_seconds (2.0)")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help="comma-separated sections to run: raw,watcher,daemon (all)")
    parser.add_argument("--points", type=int, default=3600,
                        help="daemon: records per workout (3600: one hour at 1 s; ~64 KB)")
    parser.add_argument("--burst", action="store_true",
                        help="daemon: drop each file as soon as the last one was POSTed, "
                        "without waiting for a free upload slot")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    sections = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = sections - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    configure_logging(fmt="console", level="warning")

    result: dict[str, Any] = {"files": args.files, "settle_seconds": args.settle}
    if "raw" in sections:
        result["raw"] = run_raw(files=args.files)
    if "watcher" in sections:
        result["watcher"] = run_watcher(files=args.files, settle=args.settle, idle=args.idle)
    if "daemon" in sections:
        result["daemon"] = run_daemon(
            files=args.files, settle=args.settle, idle=args.idle, burst=args.burst,
            points=args.points,
        )
    if args.json:
        print(json.dumps(result))
        return
    report(result)


if __name__ == "__main__":
    main()
