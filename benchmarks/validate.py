"""Validator speed over the corpus: ms per MB for each format, and FIT cost vs fitdecode.

Run: ``/work/venv/bin/python benchmarks/validate.py [--repeat N] [--corpus DIR]``.
The FIT ratio compares ``validate_bytes`` with one strict fitdecode pass
(``CrcCheck.RAISE``, ``ErrorHandling.RAISE``, default processor) over the same
inflated bytes; the target is <= 1.2x (one pass, no re-parsing). Files on which
strict fitdecode stops early (e.g. the Coros file) are reported apart, since the
strict pass there does a fraction of the work.
"""

from __future__ import annotations

import argparse
import gzip
import io
import time
from collections import defaultdict
from pathlib import Path

from fitdecode import CrcCheck, ErrorHandling, FitReader

from stravasync.validate import validate_bytes

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    corpus: Path = args.corpus
    files = sorted(
        p for p in corpus.glob("*") if p.suffix.lower() in {".fit", ".gpx", ".tcx", ".gz"}
    )
    if not files:
        print(f"no corpus at {corpus}: nothing to measure")
        return
    seconds: dict[str, float] = defaultdict(float)
    sizes: dict[str, int] = defaultdict(int)
    fit_rows: list[tuple[str, float, float, bool]] = []
    for path in files:
        raw = path.read_bytes()
        result = validate_bytes(raw, name=path.name)
        fmt = result.format or "unknown"
        inflated = gzip.decompress(raw) if result.gzipped else raw
        took = _best(lambda raw=raw, name=path.name: validate_bytes(raw, name=name), args.repeat)
        seconds[fmt] += took
        sizes[fmt] += len(inflated)
        if fmt == "fit":
            complete = _strict(inflated)
            base = _best(lambda data=inflated: _strict(data), args.repeat)
            fit_rows.append((path.name, took, base, complete))
    print(f"corpus: {corpus} ({len(files)} files, best of {args.repeat})")
    print(f"{'format':8} {'files MB':>9} {'seconds':>9} {'ms/MB':>8}")
    for fmt in sorted(seconds):
        mb = sizes[fmt] / 1e6
        print(f"{fmt:8} {mb:9.2f} {seconds[fmt]:9.3f} {seconds[fmt] * 1000 / max(mb, 1e-9):8.0f}")
    if fit_rows:
        print("\nFIT: validator vs one strict fitdecode pass")
        for name, took, base, complete in fit_rows:
            mark = "" if complete else "  (strict pass stops early)"
            print(
                f"  {name:48} {took * 1000:8.1f} ms {base * 1000:8.1f} ms {took / base:5.2f}x{mark}"
            )
        full = [(t, b) for _, t, b, c in fit_rows if c]
        ratio_full = sum(t for t, _ in full) / sum(b for _, b in full)
        ratio_all = sum(r[1] for r in fit_rows) / sum(r[2] for r in fit_rows)
        print(
            f"FIT ratio, files strict fitdecode reads in full: {ratio_full:.2f}x (target <= 1.2x)"
        )
        print(f"FIT ratio, all FIT files: {ratio_all:.2f}x")


if __name__ == "__main__":
    main()
