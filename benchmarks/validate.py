"""Validator speed over the corpus: ms per MB for each format, and FIT cost vs fitdecode.

Run: ``/work/venv/bin/python benchmarks/validate.py [--repeat N] [--corpus DIR]``.
The FIT ratio compares ``validate_bytes`` (fast path: ``fitwalk``) with one strict
fitdecode pass (``CrcCheck.RAISE``, ``ErrorHandling.RAISE``, default processor) over
the same inflated bytes; the target is far below 1.0x. Each FIT row also shows the
validator's full fitdecode pass (``analyse_fit(fast=False)``) and whether the fast path
judged the file or handed it to the full pass. Files on which strict fitdecode stops
early (e.g. the Coros file) are marked, since the strict pass there does a fraction of
the work. A generated one-hour file (``sample_fit(points=3600)``) is measured too.
"""

from __future__ import annotations

import argparse
import gzip
import io
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from fitdecode import CrcCheck, ErrorHandling, FitReader

from stravasync.demo.samples import sample_fit
from stravasync.validate import validate_bytes
from stravasync.validate.fit import analyse_fit, analyse_fit_fast

DEFAULT_CORPUS = (Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus").resolve()


def _best(fn: object, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - began)
    return best


def _strict(data: bytes) -> bool:
    """One strict fitdecode pass; True when it read the whole file."""
    try:
        with FitReader(
            io.BytesIO(data), check_crc=CrcCheck.RAISE, error_handling=ErrorHandling.RAISE
        ) as reader:
            for _frame in reader:
                pass
    except Exception:  # noqa: BLE001 - the baseline may fail on broken files; time it anyway
        return False
    return True


def _fit_row(name: str, data: bytes, repeat: int) -> tuple[str, float, float, float, bool, bool]:
    """(name, validator s, validator full-pass s, strict fitdecode s, strict complete, fast)."""
    took = _best(lambda: validate_bytes(data, name=name), repeat)
    full = _best(lambda: analyse_fit(data, now=None, fast=False), repeat)
    base = _best(lambda: _strict(data), repeat)
    fast = analyse_fit_fast(data, now=None) is not None
    return name, took, full, base, _strict(data), fast


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    corpus: Path = args.corpus
    files = sorted(
        p for p in corpus.glob("*") if p.suffix.lower() in {".fit", ".gpx", ".tcx", ".gz"}
    )
    fit_rows = []
    if not files:
        print(f"no corpus at {corpus}: only the generated file is measured")
    seconds: dict[str, float] = defaultdict(float)
    sizes: dict[str, int] = defaultdict(int)
    for path in files:
        raw = path.read_bytes()
        result = validate_bytes(raw, name=path.name)
        fmt = result.format or "unknown"
        inflated = gzip.decompress(raw) if result.gzipped else raw
        took = _best(lambda raw=raw, name=path.name: validate_bytes(raw, name=name), args.repeat)
        seconds[fmt] += took
        sizes[fmt] += len(inflated)
        if fmt == "fit":
            fit_rows.append(_fit_row(path.name, inflated, args.repeat))
    if files:
        print(f"corpus: {corpus} ({len(files)} files, best of {args.repeat})")
        print(f"{'format':8} {'files MB':>9} {'seconds':>9} {'ms/MB':>8}")
        for kind in sorted(seconds):
            mb = sizes[kind] / 1e6
            ms_mb = seconds[kind] * 1000 / max(mb, 1e-9)
            print(f"{kind:8} {mb:9.2f} {seconds[kind]:9.3f} {ms_mb:8.0f}")
    hour = sample_fit(start=datetime(2024, 5, 1, 7, 30, tzinfo=UTC), points=3600)
    fit_rows.append(_fit_row("generated: sample_fit(points=3600)", hour, args.repeat))
    print("\nFIT: validator (fast path) | validator full pass | one strict fitdecode pass")
    for name, took, full, base, complete, fast in fit_rows:
        marks = ("" if fast else "  full pass") + ("" if complete else "  (strict stops early)")
        print(
            f"  {name:46} {took * 1000:7.1f} ms {full * 1000:8.1f} ms {base * 1000:8.1f} ms"
            f" {took / base:5.2f}x{marks}"
        )
    whole = [r for r in fit_rows if r[4]]
    ratio_full = sum(r[1] for r in whole) / sum(r[3] for r in whole)
    ratio_all = sum(r[1] for r in fit_rows) / sum(r[3] for r in fit_rows)
    walked = [r for r in fit_rows if r[5]]
    ratio_fast = sum(r[1] for r in walked) / sum(r[3] for r in walked) if walked else float("nan")
    print(f"FIT ratio, files strict fitdecode reads in full: {ratio_full:.2f}x (target << 1.0x)")
    print(
        f"FIT ratio, files the fast path judges ({len(walked)}/{len(fit_rows)}): {ratio_fast:.2f}x"
    )
    print(f"FIT ratio, all FIT files: {ratio_all:.2f}x")


if __name__ == "__main__":
    main()
