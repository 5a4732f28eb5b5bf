"""A copy paused halfway is waited for, not called invalid (issue 18.14), on the real daemon.

A FIT that ends early while its writer still holds it open and wrote it within the
last minute is ``pending`` ("looks cut short"), and no problem notice goes out; it
is judged as it is once its writer closes it, or once it was quiet for the minute.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_rig import START, Rig, make_rig, running, wait_until

from stravasync.demo.samples import sample_fit
from stravasync.state import Store

pytestmark = pytest.mark.integration


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """An emulator and a signed-in rig whose notices (problem, uploaded) go to a file."""
    with make_rig(tmp_path) as r:
        command = ["/bin/sh", "-c", 'echo "$STRAVASYNC_EVENT|$1" >> "$0"',
                   str(tmp_path / "notices.log")]
        r.write_config(extra=f'[notify]\ncommand = {json.dumps(command)}\n'
                             'on = ["problem", "uploaded"]\n')
        yield r


def notices(rig: Rig) -> list[str]:
    """The notices told so far, ``event|message`` each."""
    path = rig.root / "notices.log"
    return path.read_text().splitlines() if path.exists() else []


def entry(rig: Rig, path: Path) -> tuple[str, str | None] | None:
    """The path's state and reason as `status` shows them (None before it is seen)."""
    store = Store.open(rig.state_dir, read_only=True)
    try:
        found = {f.path: (str(f.state), f.error) for f in store.files()}
    finally:
        store.close()
    return found.get(str(path))


def judged(rig: Rig, path: Path) -> bool:
    """Whether the path is invalid, or pending because it looks cut short."""
    seen = entry(rig, path)
    return seen is not None and (
        seen[0] == "invalid" or (seen[0] == "pending" and "cut short" in (seen[1] or "")))


def test_a_copy_paused_halfway_is_pending_and_uploads_without_a_problem_notice(rig: Rig) -> None:
    """Half a FIT, the writer paused: pending (cut short), then uploaded; only "uploaded" told."""
    data = sample_fit(start=START, points=400)
    target = rig.watch / "paused.fit"
    with running(rig.config()), target.open("wb") as out:
        out.write(data[: len(data) // 2])
        out.flush()
        wait_until(lambda: judged(rig, target), 15, "the half copy is judged")
        during = entry(rig, target)
        out.write(data[len(data) // 2:])
        out.close()
        wait_until(lambda: any(n.startswith("uploaded|") for n in notices(rig)), 20,
                   "the finished copy is uploaded and told")
        after = entry(rig, target)
    assert during is not None
    assert "pending" == during[0], during
    assert "looks cut short" in (during[1] or "")
    assert ("uploaded", None) == after
    assert [] == [n for n in notices(rig) if n.startswith("problem|")]


def test_a_cut_short_file_its_writer_closed_is_invalid_at_once(rig: Rig) -> None:
    """A truncated FIT written and closed: invalid within seconds, and the owner is told."""
    data = sample_fit(start=START, points=400)
    target = rig.watch / "truncated.fit"
    with running(rig.config()):
        target.write_bytes(data[: len(data) // 2])
        took = wait_until(lambda: any(n.startswith("problem|") for n in notices(rig)), 15,
                          "the problem notice")
        final = entry(rig, target)
    assert final is not None
    assert "invalid" == final[0], final
    assert took < 10


def test_a_cut_short_file_left_open_becomes_invalid_once_quiet(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer never finishes: pending, then invalid when the quiet time is up (here 2 s)."""
    monkeypatch.setattr("stravasync.intake.ingest.CUT_SHORT_QUIET_S", 2.0)
    data = sample_fit(start=START, points=400)
    target = rig.watch / "abandoned.fit"
    with running(rig.config()), target.open("wb") as out:
        out.write(data[: len(data) // 2])
        out.flush()
        wait_until(lambda: judged(rig, target), 15, "the half copy is judged")
        first = entry(rig, target)
        wait_until(lambda: (entry(rig, target) or ("",))[0] == "invalid", 15,
                   "the abandoned copy is judged as it is")
        wait_until(lambda: any(n.startswith("problem|") for n in notices(rig)), 10,
                   "the problem notice")
    assert first is not None
    assert "pending" == first[0], first


def test_a_cut_short_file_found_at_start_is_judged_once_quiet(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the start-up scan while fresh: pending, then invalid once quiet (here 2 s)."""
    monkeypatch.setattr("stravasync.intake.ingest.CUT_SHORT_QUIET_S", 2.0)
    data = sample_fit(start=START, points=400)
    target = rig.watch / "found.fit"
    target.write_bytes(data[: len(data) // 2])
    with running(rig.config()):
        wait_until(lambda: judged(rig, target), 15, "the scan judges the half copy")
        first = entry(rig, target)
        wait_until(lambda: (entry(rig, target) or ("",))[0] == "invalid", 15,
                   "the half copy is judged as it is")
    assert first is not None
    assert "pending" == first[0], first
