"""The rig for several accounts: a household config and real account folders in tmp.

jane and bob are Strava athletes on one app, jane-icu sends jane's folder to
intervals.icu. Each account's folder is the one ``state.accounts.account_folders``
gives (jane owns the state folder itself). (No tests here.)
"""

from __future__ import annotations

from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import click
from click.testing import CliRunner, Result
from strava_rig import ACCESS, REFRESH

from stravasync.cli.context import CliContext
from stravasync.config.settings import Config, load_config
from stravasync.fsutil import ensure_private_dir
from stravasync.state import FileFacts, State, Store
from stravasync.state.accounts import AccountRecord, account_folders, write_record
from stravasync.strava.tokens import Athlete, TokenSet, TokenStore
from stravasync.validate.result import Facts

__all__ = ["ICU_KEY", "NOW", "Household", "household"]

NOW = 1_800_000_000.0
ICU_KEY = "icu-secret-key-0123456789abcdef"
"""jane-icu's intervals.icu key: it must never show."""
_OWNER = "rig:1"


class Household:
    """The config, each account's folder, and one-line ways to fill them."""

    def __init__(self, tmp_path: Path) -> None:
        self.jane_dir = tmp_path / "jane"
        self.bob_dir = tmp_path / "bob"
        for folder in (self.jane_dir, self.bob_dir):
            folder.mkdir()
        key_file = tmp_path / "intervals-jane.key"
        key_file.write_text(ICU_KEY + "\n")
        key_file.chmod(0o600)
        self.config_path = tmp_path / "config.toml"
        self.config_path.write_text(
            '[strava]\nclient_id = "1"\nclient_secret = "s"\n'
            f'[state]\ndir = "{tmp_path / "state"}"\n'
            f'[[accounts]]\nname = "jane"\npaths = ["{self.jane_dir}"]\n'
            f'[[accounts]]\nname = "bob"\npaths = ["{self.bob_dir}"]\n'
            '[[accounts]]\nname = "jane-icu"\nservice = "intervals"\n'
            f'paths = ["{self.jane_dir}"]\napi_key_file = "{key_file}"\n')
        self.config: Config = load_config(self.config_path, env={"HOME": str(tmp_path)})
        self.folders = account_folders(self.config.state_dir, self.config.accounts)

    def sign_in(self, name: str, athlete_id: int) -> None:
        """``name`` signed in to Strava as athlete ``athlete_id``."""
        folder = self.folders[name]
        ensure_private_dir(folder)
        TokenStore(state_dir=folder).save_initial(TokenSet(
            access_token=ACCESS, refresh_token=REFRESH, expires_at=int(NOW) + 3600,
            scope="read,activity:write,activity:read_all",
            athlete=Athlete(id=athlete_id, firstname=name.title())))
        write_record(folder, AccountRecord(name=name, service="strava",
                                           athlete_id=str(athlete_id)))

    def key_checked(self, name: str, athlete_id: str) -> None:
        """``name``'s intervals.icu key was checked: its folder records ``athlete_id``."""
        write_record(self.folders[name], AccountRecord(name=name, service="intervals",
                                                       athlete_id=athlete_id))

    def store(self, name: str) -> Store:
        """``name``'s store (the caller closes it)."""
        ensure_private_dir(self.folders[name])
        return Store.open(self.folders[name], clock=lambda: NOW - 100)

    def uploaded(self, name: str, path: Path, *, sha: str, activity_id: int) -> None:
        """``path`` is ``name``'s activity ``activity_id``."""
        with closing(self.store(name)) as store:
            _queued(store, path, sha)
            store.claim_post(sha, owner=_OWNER, external_id=f"x-{sha[:8]}")
            store.finish(sha, owner=_OWNER, state=State.UPLOADED, activity_id=activity_id)

    def retrying(self, name: str, path: Path, *, sha: str, error: str, at: float) -> None:
        """``path`` failed for ``name`` with ``error``; tried again at ``at``."""
        with closing(self.store(name)) as store:
            _queued(store, path, sha)
            store.claim_post(sha, owner=_OWNER, external_id=f"x-{sha[:8]}")
            store.release_post(sha, owner=_OWNER, state=State.RETRYING, sent=False,
                               next_attempt_at=at, error=error)

    def queued(self, name: str, path: Path, *, sha: str) -> None:
        """``path`` waits for its turn with ``name``."""
        with closing(self.store(name)) as store:
            _queued(store, path, sha)

    def invoke(self, command: click.Command, *args: str) -> Result:
        """Run one command with this household's config."""
        return CliRunner().invoke(command, list(args),
                                  obj=CliContext(config_path=self.config_path))


def _queued(store: Store, path: Path, sha: str) -> None:
    store.record_file(str(path), size=10, mtime_ns=1, facts=FileFacts(
        sha256=sha, state=State.QUEUED, format="fit",
        # A start of its own per content, so no two files are the same workout.
        facts=Facts(start_time=datetime.fromtimestamp(NOW - 86400 * int(sha[0], 16), UTC))))


def household(tmp_path: Path) -> Household:
    """A household config in ``tmp_path`` with empty account folders."""
    return Household(tmp_path)
