"""``status --json`` speaks of accounts (SPEC "Several accounts"): one today, by its name."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from stravasync.config.settings import config_from_dict
from stravasync.owner.status import gather_status
from stravasync.state import FileFacts, State, Store
from stravasync.validate.result import Facts

NOW = 1_800_000_000.0


def test_every_file_and_the_accounts_list_name_the_configured_account(tmp_path: Path) -> None:
    """A config with one ``[[accounts]]`` named jane: files carry ``account: jane``, and
    ``accounts`` holds jane's sign-in and counts."""
    config = config_from_dict(
        {"strava": {"client_id": "1", "client_secret": "s"},
         "accounts": [{"name": "jane", "paths": [str(tmp_path / "jane")]}],
         "state": {"dir": str(tmp_path / "state")}},
        env={"HOME": str(tmp_path)}, source=tmp_path / "config.toml")
    store = Store.open(config.state_dir, clock=lambda: NOW)
    for i, state in enumerate((State.QUEUED, State.INVALID)):
        store.record_file(f"/w/{i}.fit", size=1, mtime_ns=1, facts=FileFacts(
            sha256=f"{i:064x}", state=state, format="fit",
            facts=Facts(start_time=datetime.fromtimestamp(NOW - 3600 * (i + 1), UTC)),
            error=None if state is State.QUEUED else "bad"))
    store.close()

    data = gather_status(config, clock=lambda: NOW).data

    assert ["jane", "jane"] == [f["account"] for f in data["files"]]
    assert [("jane", "strava", {"invalid": 1, "queued": 1})] == [
        (a["name"], a["service"], a["counts"]) for a in data["accounts"]]
    assert data["auth"] == data["accounts"][0]["auth"]
