"""Intake of a 2 GiB sparse file, in a child process whose memory is measured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from engine_rig import workout_file

NOW = datetime.now(UTC)


SPARSE_SCRIPT = textwrap.dedent("""
    import json, os, resource, sys
    from pathlib import Path
    from stravasync.config.settings import config_from_dict
    from stravasync.stack import open_stack
    root = Path(sys.argv[1])
    config = config_from_dict({"strava": {"client_id": "1"},
                               "watch": {"paths": [str(root / "watch")]},
                               "state": {"dir": str(root / "state")}})
    stack = open_stack(config)
    try:
        stack.engine.scan(sorted((root / "watch").iterdir()))
        rows = [(f.state.value, Path(f.path).name, f.error) for f in stack.store.files()]
    finally:
        stack.close()
    print(json.dumps({"rows": rows,
                      "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")


@pytest.mark.integration
def test_a_2_gib_sparse_file_and_a_link_to_it_stay_out_of_memory(tmp_path: Path) -> None:
    """The daemon's intake judges a 2 GiB file (and a symlink to it) without reading it."""
    watch = tmp_path / "watch"
    watch.mkdir()
    with (tmp_path / "giant.fit").open("wb") as handle:
        handle.truncate(2 * 1024**3)
    (watch / "x.fit").symlink_to(tmp_path / "giant.fit")
    os.link(tmp_path / "giant.fit", watch / "y.fit")
    workout_file(watch, "ok.fit", start=NOW - timedelta(hours=2))
    env = {**os.environ, "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", SPARSE_SCRIPT, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert 0 == done.returncode, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    states = {name: state for state, name, _error in result["rows"]}
    assert {"giant.fit": "invalid", "y.fit": "invalid", "ok.fit": "queued"} == states
    assert result["rss_mib"] < 300, result
