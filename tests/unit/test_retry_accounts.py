"""``retry --account``: a file waiting for two accounts is asked again for the one named."""

from __future__ import annotations

from pathlib import Path

from household_rig import NOW, household

from stravasync.cli.retry_cmd import retry_command
from stravasync.state import State


def test_retry_account_queues_that_accounts_file_only(tmp_path: Path) -> None:
    """Retrying on Strava and on intervals.icu: ``retry --account jane-icu`` requeues one."""
    home = household(tmp_path)
    ride = home.jane_dir / "ride.fit"
    ride.write_bytes(b"ride")
    for name in ("jane", "jane-icu"):
        home.retrying(name, ride, sha="c" * 64, error="HTTP 503", at=NOW + 600)

    out = home.invoke(retry_command, "--account", "jane-icu", str(ride))

    states = {}
    for name in ("jane", "jane-icu"):
        store = home.store(name)
        states[name] = store.workout("c" * 64).state  # type: ignore[union-attr]
        store.close()
    assert 0 == out.exit_code, out.output
    assert [f"queued again: {ride} (jane-icu)"] == _queued(out.output)
    assert {"jane": State.RETRYING, "jane-icu": State.QUEUED} == states


def test_retry_without_account_asks_every_account_that_has_it(tmp_path: Path) -> None:
    """Without ``--account`` both accounts' rows go back in the queue, each line naming one."""
    home = household(tmp_path)
    ride = home.jane_dir / "ride.fit"
    ride.write_bytes(b"ride")
    for name in ("jane", "jane-icu"):
        home.retrying(name, ride, sha="c" * 64, error="HTTP 503", at=NOW + 600)

    out = home.invoke(retry_command, str(ride))

    assert 0 == out.exit_code, out.output
    assert [f"queued again: {ride} (jane)", f"queued again: {ride} (jane-icu)"] == \
        _queued(out.output)


def _queued(output: str) -> list[str]:
    """The command's "queued again" lines (a warning about the test's config aside)."""
    return [line for line in output.splitlines() if line.startswith("queued again")]
