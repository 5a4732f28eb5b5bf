"""The real daemon: a broken file replaced by a good one leaves "Needs you" without a restart."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from daemon_rig import Rig, make_rig, wait_until

from stravasync.demo.samples import sample_fit
from stravasync.state.runlock import read_info

pytestmark = pytest.mark.integration


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """An emulator and a signed-in rig in tmp_path."""
    with make_rig(tmp_path) as r:
        yield r


def needs_you(rig: Rig) -> list[dict[str, Any]]:
    """``status --json``'s ``needs_you``."""
    result = rig.command("status", "--json")
    assert 0 == result.returncode, result.stderr
    return list(json.loads(result.stdout)["needs_you"])


def test_a_broken_file_replaced_by_a_good_one_leaves_needs_you(rig: Rig) -> None:
    """broken.fit is listed while invalid; replaced by a good file, uploaded, it is gone at once."""
    proc = rig.start(stderr=subprocess.DEVNULL)
    broken = rig.watch / "broken.fit"
    try:
        wait_until(lambda: (read_info(rig.state_dir) or {}).get("pid") == proc.pid, 20,
                   "the daemon starts")
        part = rig.watch / "broken.fit.part"
        part.write_bytes(b"this is not a FIT file at all" * 10)
        part.rename(broken)
        wait_until(lambda: [e["path"] for e in needs_you(rig)] == [str(broken)], 20,
                   "broken.fit needs the owner")
        listed = needs_you(rig)
        part.write_bytes(sample_fit(start=datetime.now(UTC) - timedelta(days=1)))
        part.rename(broken)
        wait_until(lambda: rig.files() == {str(broken): "uploaded"}, 20, "the good file")
        took = wait_until(lambda: needs_you(rig) == [], 10, "the problem leaves the list")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
    assert ["file"] == [e["kind"] for e in listed]
    assert took < 5
