"""What `retry` and `status --help` say is meant for the person reading it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from stravasync.cli.context import CliContext
from stravasync.cli.retry_cmd import retry_command
from stravasync.cli.status_cmd import status_command
from stravasync.state import FileFacts, State, Store
from stravasync.validate.result import Facts

ONE = datetime(2026, 5, 1, 7, 0, tzinfo=UTC)


def test_status_help_says_what_json_prints() -> None:
    """`status --help` describes --json in a user's words, not by an internal document."""
    result = CliRunner().invoke(status_command, ["--help"])
    assert "SPEC" not in result.output
    assert "one JSON object, for scripts" in " ".join(result.output.split())


def test_retry_says_why_each_path_was_left_and_what_to_do(tmp_path: Path) -> None:
    """A missing path, a file on Strava and a file never seen each get their own words."""
    state_dir = tmp_path / "state"
    config = tmp_path / "config.toml"
    config.write_text(f'[strava]\nclient_id = "1"\n[state]\ndir = "{state_dir}"\n')
    done = tmp_path / "done.fit"
    done.write_bytes(b"x")
    stranger = tmp_path / "stranger.fit"
    stranger.write_bytes(b"y")
    store = Store.open(state_dir)
    store.record_file(str(done), size=1, mtime_ns=1, facts=FileFacts(
        sha256="d" * 64, state=State.QUEUED, format="fit", facts=Facts(start_time=ONE)))
    store.claim_post("d" * 64, owner="h:1", external_id="x")
    store.finish("d" * 64, owner="h:1", state=State.UPLOADED, activity_id=7)
    store.close()
    missing = tmp_path / "typo.fit"
    result = CliRunner().invoke(retry_command, [str(missing), str(done), str(stranger)],
                                obj=CliContext(config_path=config))
    assert 1 == result.exit_code
    assert sorted([
        f"not found, check the path: {missing}",
        "already on Strava (uploaded), nothing to retry; `stravasync status` shows its "
        f"activity: {done}",
        "never seen by stravasync (not in a watched folder?); `stravasync upload FILE` "
        f"sends it now: {stranger}",
    ]) == sorted(result.output.splitlines()[:3])
