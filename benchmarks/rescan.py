"""Rescan cost: ``run --once`` over a watched folder of 5,000 files the store already knows.

Writes 5,000 small workout files, records them in a fresh state store as uploaded
(with the size and mtime each has on disk, as after a real first run), then times
``stravasync run --once`` (in-process, the same code path) until it finds nothing
to do, and counts the files it read and hashed (target: 0, because a known file is
recognised by path + size + mtime).

Run: ``/work/venv/bin/python benchmarks/rescan.py [--files 5000]``
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from structlog.testing import capture_logs

from stravasync.config.settings import config_from_dict
from stravasync.demo.samples import sample_gpx
from stravasync.intake import ingest
from stravasync.service.once import run_once
from stravasync.state import FileFacts, State, Store
from stravasync.strava.tokens import Athlete, TokenSet, TokenStore


def main() -> None:
    """Build the folder and the store, then time one ``run --once``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(20))
    tmp = Path(tempfile.mkdtemp(prefix="stravasync-rescan-"))
    watch, state_dir = tmp / "watch", tmp / "state"
    base = datetime.now(UTC) - timedelta(days=1)
    store = Store.open(state_dir)
    built = time.monotonic()
    with store.transaction():
        for i in range(args.files):
            folder = watch / f"{i // 500:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"w{i:05d}.gpx"
            data = sample_gpx(start=base - timedelta(minutes=10 * i), points=5)
            path.write_bytes(data)
            st = os.stat(path)
            sha = hashlib.sha256(data).hexdigest()
            store.record_file(str(path), size=st.st_size, mtime_ns=st.st_mtime_ns,
                              facts=FileFacts(sha256=sha, state=State.QUEUED, format="gpx",
                                              start_time=None))
            store.claim_post(sha, owner="bench:0", external_id=f"stravasync-{sha[:20]}")
            store.finish(sha, owner="bench:0", state=State.UPLOADED, activity_id=7000000 + i)
    store.close()
    # A stored sign-in (never used: nothing is left to send), as after `stravasync auth`.
    TokenStore(state_dir=state_dir).save_initial(TokenSet(
        access_token="a" * 40, refresh_token="b" * 40, expires_at=4_000_000_000,
        scope="read,activity:write", athlete=Athlete(id=1)))
    print(f"built {args.files} known files in {time.monotonic() - built:.1f} s")

    reads = {"n": 0}
    real_read = ingest.read_stable

    def counting_read(path: Path) -> ingest.Stable | None:
        reads["n"] += 1
        return real_read(path)

    ingest.read_stable = counting_read  # type: ignore[assignment]
    config = config_from_dict({
        "strava": {"client_id": "12345", "api_url": "http://127.0.0.1:9/api/v3"},
        "watch": {"paths": [str(watch)], "max_age_days": 0},
        "state": {"dir": str(state_dir)},
    })
    started = time.monotonic()
    with capture_logs() as logs:
        status = run_once(config)
    elapsed = time.monotonic() - started
    summary = next(e for e in logs if e["event"] == "run_summary")
    print(f"run --once over {summary['seen']} known files: {elapsed:.2f} s, exit {status}, "
          f"files re-read/re-hashed: {reads['n']} (engine says {summary['read']})")


if __name__ == "__main__":
    main()
