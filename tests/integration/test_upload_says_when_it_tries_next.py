"""Issue 18 finding 16: ``stravasync upload`` during a rate-limit pause says when it tries next."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from daemon_rig import Rig, make_rig

from stravasync.cli.context import CliContext
from stravasync.cli.status_cmd import status_command
from stravasync.cli.upload_cmd import upload_command
from stravasync.demo.samples import sample_fit

pytestmark = pytest.mark.integration

def put(folder: Path, name: str, *, hours_ago: int) -> Path:
    """A distinct valid FIT workout of yesterday."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1, hours=hours_ago)
    path = folder / name
    path.write_bytes(sample_fit(start=start))
    return path


def next_attempt(line: str) -> datetime | None:
    """The time named after ``next attempt`` in an upload line, or None."""
    found = re.search(r"next attempt (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", line)
    if found is None:
        return None
    return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """An emulator that allows one call per 15 minutes, and a signed-in rig.

    Strava's windows turn at :00, :15, :30 and :45: a test that straddled a turn would
    see its one call's budget come back. Within 45 s of a turn, it waits the turn out.
    """
    left = 900 - time.time() % 900
    if left < 45:
        time.sleep(left + 1)  # the window's turn, not a wait for something to happen
    with make_rig(tmp_path, limit_15=1) as r:
        yield r


def test_upload_while_the_budget_is_spent_names_the_next_attempt(rig: Rig) -> None:
    """Uploads paused by the rate limit with the one slot taken: the file's line says when it is tried next (the pause's end), exit 1, nothing more sent."""
    rig.write_config(extra="[upload]\nconcurrency = 1\n")
    first = upload(rig, put(rig.watch, "ride.fit", hours_ago=1))  # spends the 15-minute budget
    ride = put(rig.watch, "run.fit", hours_ago=2)
    result = upload(rig, ride)
    paused_until = json.loads(upload_status(rig))["rate_limit"]["paused_until"]
    line = result.stdout.strip()
    assert 1 == first.exit_code, first.output
    assert 1 == result.exit_code, result.output
    assert line.startswith(f"{ride}: queued: not finished; next attempt "), line
    assert datetime.fromtimestamp(paused_until, UTC).replace(microsecond=0) == next_attempt(line)
    assert 1 == rig.uploads()


def upload(rig: Rig, path: Path) -> Result:
    """``stravasync upload PATH`` with the rig's config."""
    return CliRunner().invoke(upload_command, [str(path)],
                              obj=CliContext(config_path=rig.config_path))


def upload_status(rig: Rig) -> str:
    """``stravasync status --json`` with the rig's config."""
    return CliRunner().invoke(status_command, ["--json"],
                              obj=CliContext(config_path=rig.config_path)).stdout
