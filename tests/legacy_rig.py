"""The rig for the 0.2 migration proofs: a state folder exactly as stravasync 0.2.0 left it.

Extracts 0.2.0's package from this repository's history (``git archive`` of the
release commit), writes workout files into a watched folder, and records them in
mixed final states with 0.2.0's own code (``build_02_state.py``: its store, token
store and governor), next to a 0.2 config without ``[[accounts]]``; ``run_02`` runs
0.2.0's command line on it, ``run_new`` the code under test. Shared by
``integration/test_migrate_02.py`` and ``benchmarks/migrate.py``. (No tests here.)
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stravasync.demo.samples import sample_fit

REPO = Path(__file__).resolve().parents[1]
RELEASE_02 = "12f4ecdb121675fbeda3e8a84ccf034317e2efeb"
"""The commit of "Version 0.2.0"."""
BUILDER = Path(__file__).with_name("build_02_state.py")
RATE_HEADERS = {"X-RateLimit-Limit": "200,2000", "X-RateLimit-Usage": "12,40",
                "X-ReadRateLimit-Limit": "100,1000", "X-ReadRateLimit-Usage": "8,30"}
"""What Strava last told 0.2.0 of the app's limits and usage (kept in ratelimit.json)."""

OWED = ("queued", "retrying")
"""States of rows 0.2.0 still had to send: the new code sends them, once."""


class Unavailable(Exception):
    """0.2.0's code cannot be had here (no git, or a copy without its history)."""


def release_02(dest: Path) -> Path:
    """A folder holding 0.2.0's ``stravasync`` package (put it first on PYTHONPATH)."""
    if (dest / "stravasync" / "__init__.py").exists():
        return dest
    try:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", RELEASE_02,
                                  "stravasync"], capture_output=True, check=False, timeout=60)
    except OSError as exc:
        raise Unavailable(f"git cannot run here: {exc}") from exc
    if archive.returncode != 0:
        raise Unavailable(f"0.2.0 ({RELEASE_02[:7]}) is not in this checkout's history: "
                          f"{archive.stderr.decode(errors='replace').strip()}")
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest


@dataclass
class Folder02:
    """A 0.2 config, its watched folder and its state folder, as 0.2.0 left them."""

    config: Path
    watch: Path
    state_dir: Path
    rows: list[dict[str, Any]]
    """What each file was recorded as (path, sha256, state, activity_id …)."""
    tree: Path
    """0.2.0's package folder."""

    def owed(self) -> list[dict[str, Any]]:
        """The rows 0.2.0 had still to send."""
        return [row for row in self.rows if row["state"] in OWED]

    def settled(self) -> list[dict[str, Any]]:
        """The rows 0.2.0 had finished with (uploaded, duplicate, invalid, rejected)."""
        return [row for row in self.rows if row["state"] not in OWED]


def _state_of(i: int, *, owed: bool) -> str:
    """Mixed final states, the way a folder of a year's workouts ends up (per 100 rows:
    81 uploaded, 8 duplicate, 6 invalid, 3 rejected, 1 queued, 1 retrying; without
    ``owed``, 83 uploaded and nothing owed)."""
    slot = i % 100
    if not owed and slot in (97, 98):
        return "uploaded"
    if 80 <= slot < 88:
        return "duplicate"
    if 88 <= slot < 94:
        return "invalid"
    if 94 <= slot < 97:
        return "rejected"
    return {97: "queued", 98: "retrying"}.get(slot, "uploaded")


def _plan(watch: Path, count: int, now: float, *, owed: bool) -> list[dict[str, Any]]:
    """Write ``count`` files into ``watch`` and say how 0.2.0 recorded each."""
    first = datetime.fromtimestamp(now, UTC).replace(microsecond=0) - timedelta(days=20)
    rows: list[dict[str, Any]] = []
    for i in range(count):
        state = _state_of(i, owed=owed)
        start = first + timedelta(minutes=20 * i)
        folder = watch / f"{i // 250:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"w{i:04d}.fit"
        data = (f"not a workout {i}".encode() if state == "invalid"
                else sample_fit(start=start, sport="ride" if i % 3 else "run", points=12))
        path.write_bytes(data)
        st = path.stat()
        rows.append({
            "path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "sha256": hashlib.sha256(data).hexdigest(), "state": state, "format": "fit",
            "sport": "ride" if i % 3 else "run",
            "start": None if state == "invalid" else start.timestamp(),
            "upload_id": 8_000_000 + i if state not in OWED else None,
            "activity_id": (6_000_000 + i if state in ("uploaded", "duplicate") else None),
            "next_attempt_at": now - 60 if state == "retrying" else None,
            "error": {"invalid": "not a FIT file: the header is missing",
                      "rejected": "Strava refused it: Time information is missing",
                      "retrying": "Strava answered 503; trying again",
                      "duplicate": None}.get(state),
        })
    return rows


def config_02(root: Path, *, emulator: Any, extra: str = "") -> str:
    """The text of a 0.2 config (no ``[[accounts]]``) for the emulator; ``extra`` appended."""
    return (f'[strava]\nclient_id = "{emulator.config.client_id}"\n'
            f'client_secret = "{emulator.config.client_secret}"\n'
            f"api_url = {json.dumps(emulator.api_url)}\n"
            f"oauth_url = {json.dumps(emulator.oauth_url)}\n"
            f'[watch]\npaths = [{json.dumps(str(root / "watch"))}]\n'
            f"[state]\ndir = {json.dumps(str(root / 'state'))}\n" + extra)


def build_02_folder(root: Path, *, emulator: Any, tree: Path, count: int = 1000,
                    owed: bool = True) -> Folder02:
    """A 0.2 config and ``count`` files recorded by 0.2.0, signed in to the emulator's athlete.

    ``owed``: 1 row in 50 is one 0.2.0 had still to send (queued, or retrying and due).
    """
    watch, state_dir = root / "watch", root / "state"
    watch.mkdir(parents=True)
    config = root / "config.toml"
    config.write_text(config_02(root, emulator=emulator))
    config.chmod(0o600)
    rows = _plan(watch, count, time.time(), owed=owed)
    tokens = emulator.issue_tokens(scope="read,activity:write,activity:read_all")
    plan = root / "plan.json"
    plan.write_text(json.dumps({
        "state_dir": str(state_dir), "files": rows, "rate_headers": RATE_HEADERS,
        "tokens": {"access_token": tokens["access_token"],
                   "refresh_token": tokens["refresh_token"],
                   "expires_at": tokens["expires_at"],
                   "scope": "read,activity:write,activity:read_all",
                   "athlete_id": emulator.config.athlete_id,
                   "firstname": emulator.config.athlete_firstname}}))
    built = subprocess.run([sys.executable, str(BUILDER), str(plan)], capture_output=True,
                           text=True, check=False, timeout=300, env=_env(tree))
    plan.unlink()
    if built.returncode != 0:
        raise RuntimeError(f"0.2.0 could not build the folder: {built.stderr}")
    return Folder02(config=config, watch=watch, state_dir=state_dir, rows=rows, tree=tree)


def _env(tree: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRAVASYNC_")}
    env.pop("PYTHONPATH", None)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    return env


def run_02(folder: Folder02, *args: str) -> subprocess.CompletedProcess[str]:
    """0.2.0's ``stravasync --config CONFIG ARGS`` (as its user ran it)."""
    return subprocess.run([sys.executable, "-m", "stravasync", "--config", str(folder.config),
                           *args], capture_output=True, text=True, check=False, timeout=300,
                          env=_env(folder.tree), cwd=folder.tree)


def run_new(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The code under test: ``stravasync --config CONFIG ARGS`` in a process of its own."""
    return subprocess.run([sys.executable, "-m", "stravasync", "--config", str(config), *args],
                          capture_output=True, text=True, check=False, timeout=300,
                          env=_env(None), cwd=config.parent)
