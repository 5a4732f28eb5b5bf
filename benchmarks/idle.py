"""Idle cost of the real daemon process, next to a bare watchdog observer process.

Starts, on temporary folders, ``python -m stravasync run`` (a config watching one empty
folder, state in a temporary folder, no sign-in: nothing to do) and, in the same run, a
bare process whose only work is a watchdog ``Observer`` on the same folder. Once both
are settled, each one's CPU time (``utime + stime`` from ``/proc/PID/stat``), voluntary
context switches (every thread, ``/proc/PID/task/*/status``) and resident memory
(``VmRSS``) are read, both sit idle for ``--seconds``, and are read again.

Prints the CPU seconds per hour (extrapolated), the wake-ups per minute, the RSS and the
ratios daemon / bare observer. Linux only (``/proc``).

Goal (issue 18, finding 9): under 1 s of CPU per hour idle, under 50 MB RSS.

Usage: python -m benchmarks.idle [--seconds 600] [--settle 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CPU_GOAL_S_PER_HOUR = 1.0
RSS_GOAL_MB = 50.0

BARE_OBSERVER = """
import signal, sys
from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer
observer = Observer()
observer.schedule(FileSystemEventHandler(), sys.argv[1], recursive=True)
observer.start()
print("ready", flush=True)
signal.sigwait({signal.SIGTERM})
observer.stop()
"""

CONFIG = """
[strava]
client_id = "1"
client_secret = "benchmark"
api_url = "http://127.0.0.1:9/api/v3"
oauth_url = "http://127.0.0.1:9/oauth"

[watch]
paths = [{watch}]
max_age_days = 0

[state]
dir = {state}

[log]
format = "json"
level = "warning"
"""


def ticks(pid: int) -> int:
    """CPU clock ticks (user + system) the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)


def switches(pid: int) -> int:
    """Voluntary context switches of every thread of the process (its wake-ups)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    total += int(line.split()[1])
        except OSError:
            continue  # a thread that ended
    return total


def rss_mb(pid: int) -> float:
    """Resident memory in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_daemon(root: Path) -> subprocess.Popen[bytes]:
    """``stravasync run`` on an empty watched folder; returns once it wrote daemon.json."""
    watch, state = root / "watch", root / "state"
    watch.mkdir()
    config = root / "config.toml"
    config.write_text(CONFIG.format(watch=json.dumps(str(watch)), state=json.dumps(str(state))))
    env = {**os.environ, "HOME": str(root), "STRAVASYNC_CONFIG": str(config)}
    proc = subprocess.Popen([sys.executable, "-m", "stravasync", "run"], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not (state / "daemon.json").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the daemon did not start")
        time.sleep(0.1)
    return proc


def start_bare(root: Path) -> subprocess.Popen[bytes]:
    """A process with a bare watchdog observer on the same folder; returns once it runs."""
    proc = subprocess.Popen([sys.executable, "-c", BARE_OBSERVER, str(root / "watch")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != b"ready":
        raise SystemExit("the bare observer did not start")
    return proc


def measure(seconds: float, settle: float) -> dict[str, Any]:
    """Both processes idle for ``seconds`` (after ``settle``): their costs, and ratios."""
    hz = os.sysconf("SC_CLK_TCK")
    with tempfile.TemporaryDirectory(prefix="stravasync-idle-") as tmp:
        root = Path(tmp)
        daemon = start_daemon(root)
        bare = start_bare(root)
        procs = {"daemon": daemon, "bare_observer": bare}
        try:
            time.sleep(settle)  # startup work (the first scan) is not idle cost
            before = {name: (ticks(p.pid), switches(p.pid)) for name, p in procs.items()}
            started = time.monotonic()
            time.sleep(seconds)
            took = time.monotonic() - started
            result: dict[str, Any] = {"seconds": round(took, 1)}
            for name, p in procs.items():
                cpu = (ticks(p.pid) - before[name][0]) / hz
                woke = switches(p.pid) - before[name][1]
                result[name] = {"cpu_s_per_hour": round(cpu * 3600 / took, 3),
                                "wakeups_per_minute": round(woke * 60 / took, 1),
                                "rss_mb": round(rss_mb(p.pid), 1)}
        finally:
            for p in procs.values():
                p.send_signal(signal.SIGTERM)
            for p in procs.values():
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
    d, b = result["daemon"], result["bare_observer"]
    result["ratios"] = {
        key: (round(d[key] / b[key], 2) if b[key] else None)
        for key in ("cpu_s_per_hour", "wakeups_per_minute", "rss_mb")}
    result["goal_met"] = (d["cpu_s_per_hour"] < CPU_GOAL_S_PER_HOUR
                          and d["rss_mb"] < RSS_GOAL_MB)
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the measurement and print it (a table, or ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="idle time measured")
    parser.add_argument("--settle", type=float, default=5.0, help="wait after start-up")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    result = measure(args.seconds, args.settle)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"idle for {result['seconds']} s")
    print(f"{'':<15} {'CPU s/hour':>11} {'wake-ups/min':>13} {'RSS MB':>8}")
    for name in ("daemon", "bare_observer"):
        row = result[name]
        print(f"{name:<15} {row['cpu_s_per_hour']:>11} {row['wakeups_per_minute']:>13} "
              f"{row['rss_mb']:>8}")
    ratios = result["ratios"]
    print(f"{'ratio':<15} {ratios['cpu_s_per_hour']!s:>11} "
          f"{ratios['wakeups_per_minute']!s:>13} {ratios['rss_mb']!s:>8}")
    print(f"goal (< {CPU_GOAL_S_PER_HOUR} s CPU/hour, < {RSS_GOAL_MB} MB): "
          + ("met" if result["goal_met"] else "NOT met"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
