"""Migration cost: the first start of the new code on a state folder 0.2.0 left, vs the next.

Builds a state folder with 0.2.0's own code (extracted from this repository's history
by ``tests/legacy_rig.py``): 1,000 rows in mixed final states (uploaded with activity
ids, duplicates, invalid, rejected), ``tokens.json`` and ``ratelimit.json``, no
``account.json``, the workout files on disk and a 0.2 config without ``[[accounts]]``.
Then times ``stravasync run --once`` of the new code twice, each in a process of its
own as a person would start it, against the emulator on loopback: the first start
migrates the schema and pins the folder to ``me``, the second finds nothing to do.
``--owed`` adds 0.2.0's queued and retrying rows (1 in 50), which the first start then
also uploads (its time is then mostly those uploads).

Run: ``.venv/bin/python benchmarks/migrate.py [--rows 1000] [--owed]``
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from legacy_rig import build_02_folder, release_02, run_new

from stravasync.emulator import Emulator, EmulatorConfig, Knobs
from stravasync.state.accounts import read_record


def _schema(state_dir: Path) -> int:
    with sqlite3.connect(state_dir / "state.sqlite3") as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def main() -> None:
    """Build the 0.2.0 folder, then time two starts of the new code on it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--owed", action="store_true",
                        help="keep 0.2.0's queued and retrying rows (uploaded by the first start)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="stravasync-migrate-"))
    try:
        tree = release_02(root / "release-0.2.0")
        knobs = Knobs(processing_min_s=0.1, processing_max_s=0.3)
        with Emulator(EmulatorConfig(seed=1, knobs=knobs)) as emulator:
            built = time.monotonic()
            folder = build_02_folder(root / "home", emulator=emulator, tree=tree,
                                     count=args.rows, owed=args.owed)
            print(f"0.2.0 recorded {len(folder.rows)} rows ({len(folder.owed())} owed) in "
                  f"{time.monotonic() - built:.1f} s; schema version {_schema(folder.state_dir)}"
                  f", account.json: {read_record(folder.state_dir) is not None}")
            times: list[float] = []
            exits: list[int] = []
            for _ in range(2):
                began = time.monotonic()
                exits.append(run_new(folder.config, "run", "--once").returncode)
                times.append(time.monotonic() - began)
            posts = len(emulator.inspect(requests=False)["uploads"])
        record = read_record(folder.state_dir)
        print(f"rows: {len(folder.rows)}")
        print(f"first start (migrates): {times[0]:.2f} s, exit {exits[0]}")
        print(f"second start:           {times[1]:.2f} s, exit {exits[1]}")
        print(f"ratio first/second:     {times[0] / times[1]:.2f}")
        print(f"uploads the emulator received: {posts} (owed rows: {len(folder.owed())}); "
              f"schema version now {_schema(folder.state_dir)}; account.json pins "
              f"{getattr(record, 'name', None)!r} (athlete {getattr(record, 'athlete_id', None)})")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
