"""Large GPX: peak memory and time of ``stravasync check`` next to ``gpxpy.parse`` (issue 18.6).

Run: ``.venv/bin/python -m benchmarks.large_gpx [--sizes 20 50] [--keep DIR]``.

Makes GPX files of the given sizes (MB) by repeating a real track (the corpus's
Strava export of a ride, with heart rate and temperature extensions; the demo's
generated track when the corpus is absent) one point a second, with increasing
times: a 50 MB file is a ride of about two days. Then, each in a fresh process so
that its peak RSS is its own (``os.wait4``):

- ``stravasync check FILE``: the whole judgement as a person runs it (read, guard,
  streaming pass above ``GPXPY_MAX_BYTES``, hash);
- ``gpxpy.parse`` of the same file's text: the 0.1/0.2 way, the baseline;
- ``python -c pass``: the interpreter alone, for scale.

Prints one row per file and the ratios check/gpxpy (below 1.0 is better). The
budget is 300 MB peak RSS for the daemon; no wall-clock figure is asserted anywhere.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from stravasync.demo.samples import sample_gpx

CORPUS_TRACK = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus" / "gpx_strava-export_ride.gpx"
).resolve()
_POINT = re.compile(rb"<trkpt\b.*?</trkpt>", re.S)
_TIME = re.compile(rb"<time>[^<]*</time>")
START = datetime(2024, 6, 1, 6, 0, tzinfo=UTC)


def _source() -> tuple[bytes, list[bytes], bytes]:
    """Head (up to the first point), the points, and the tail of a real track."""
    data = (CORPUS_TRACK.read_bytes() if CORPUS_TRACK.is_file()
            else sample_gpx(start=START, sport="ride", points=600))
    points = _POINT.findall(data)
    first, last = data.index(points[0]), data.rindex(points[-1]) + len(points[-1])
    return data[:first], points, data[last:]


def make_gpx(path: Path, megabytes: float) -> int:
    """Write a GPX of about ``megabytes`` MB; the number of points in it."""
    head, points, tail = _source()
    target = int(megabytes * 1_000_000)
    written, count = len(head) + len(tail), 0
    with path.open("wb") as out:
        out.write(head)
        while written < target:
            point = points[count % len(points)]
            stamp = (START + timedelta(seconds=count)).strftime("%Y-%m-%dT%H:%M:%SZ")
            point = _TIME.sub(b"<time>" + stamp.encode() + b"</time>", point, count=1)
            out.write(point + b"\n")
            written += len(point) + 1
            count += 1
        out.write(tail)
    return count


def measure(argv: list[str]) -> tuple[float, float, int, str]:
    """Run ``argv``; (seconds, peak RSS in MB, exit status, first output line)."""
    env = {**os.environ, "HOME": tempfile.gettempdir(), "PYTHONDONTWRITEBYTECODE": "1"}
    began = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    assert proc.stdout is not None
    output = proc.stdout.read().decode(errors="replace")
    _pid, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    line = output.strip().splitlines()[0] if output.strip() else ""
    return took, usage.ru_maxrss / 1024, proc.returncode, line  # ru_maxrss is in KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[20.0, 50.0],
                        help="file sizes in MB (default: 20 50)")
    parser.add_argument("--keep", type=Path, help="write the files here and keep them")
    args = parser.parse_args()
    python = sys.executable
    folder = args.keep or Path(tempfile.mkdtemp(prefix="stravasync-large-gpx-"))
    folder.mkdir(parents=True, exist_ok=True)
    idle_s, idle_mb, _status, _line = measure([python, "-c", "pass"])
    print(f"interpreter alone: {idle_mb:.0f} MB peak RSS, {idle_s:.2f} s")
    print(f"{'file':>8} {'points':>8} | {'check s':>8} {'check MB':>9} | "
          f"{'gpxpy s':>8} {'gpxpy MB':>9} | {'time ratio':>10} {'RSS ratio':>9} | verdict")
    try:
        for megabytes in args.sizes:
            path = folder / f"track-{megabytes:g}MB.gpx"
            points = make_gpx(path, megabytes)
            size = path.stat().st_size / 1_000_000
            check_s, check_mb, status, verdict = measure(
                [python, "-m", "stravasync", "check", str(path)])
            base_s, base_mb, base_status, _ = measure(
                [python, "-c", "import sys, gpxpy; gpxpy.parse(open(sys.argv[1]).read())",
                 str(path)])
            verdict = verdict.split(": ", 1)[-1][:60] + ("" if status == 0 else f" (exit {status})")
            base = "" if base_status == 0 else f" (gpxpy exit {base_status})"
            print(f"{size:>6.1f}MB {points:>8} | {check_s:>8.2f} {check_mb:>9.0f} | "
                  f"{base_s:>8.2f} {base_mb:>9.0f} | {check_s / base_s:>9.2f}x "
                  f"{check_mb / base_mb:>8.2f}x | {verdict}{base}")
    finally:
        if args.keep is None:
            for path in folder.glob("*.gpx"):
                path.unlink()
            folder.rmdir()


if __name__ == "__main__":
    main()
