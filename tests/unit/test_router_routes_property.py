"""Any household layout, any files: each account's store holds exactly the files routed to it.

The router hands a path to the engines of the accounts ``routes_for`` names and to no
other; below it, each engine records into its own store. Here random layouts of folders
and accounts and random files are submitted through a ``Router`` over real engines on
real stores (their client is never reached: submitting only reads and records), and
every store must list exactly its own account's files: never another account's.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fixtures import fit_bytes
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from stravasync.config.accounts import routes_for
from stravasync.config.settings import config_from_dict
from stravasync.errors import ConfigError
from stravasync.intake.verdicts import SharedVerdicts
from stravasync.stack import build_engine
from stravasync.state import Store
from stravasync.strava.governor import Governor
from stravasync.upload.router import Lane, Router, peer_stores

FOLDERS = ("a", "b", "ab", "a/x", "c/d", "c/de", "b/y/z")
"""Folders accounts may name: siblings, nested ones, and names that share a prefix."""
PLACES = (*FOLDERS, "", "a/x/deep", "c", "b/y", "elsewhere")
"""Where files may lie: in those folders, deeper, above them, or outside every one."""
START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)


class NoCalls:
    """A client that must not be reached: submitting a file makes no call."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the client was called ({name}) while files were submitted")


def router_over(root: Path, layout: list[list[str]]) -> Router:
    """One Strava account per entry of ``layout`` (its folders under ``root``), real stores."""
    data: dict[str, Any] = {
        "strava": {"client_id": "12345", "client_secret": "s"},
        "watch": {"max_age_days": 30},
        "state": {"dir": str(root / "state")},
        "accounts": [{"name": f"a{i}", "paths": [str(root / f) for f in folders]}
                     for i, folders in enumerate(layout)],
    }
    try:
        config = config_from_dict(data, env={"HOME": str(root)})
    except ConfigError:
        reject()  # nested folders of two accounts: refused before any file is routed
    stores = {a.name: Store.open(root / "state" / a.name) for a in config.accounts}
    governor = Governor(state_file=None)
    judge = SharedVerdicts()
    lanes = [
        Lane(account=a, store=stores[a.name], closers=[stores[a.name].close],
             engine=build_engine(config=config, store=stores[a.name], client=NoCalls(),
                                 governor=governor, validator=judge, account=a,
                                 peers=peer_stores(config.accounts, stores, a.name)))
        for a in config.accounts]
    return Router(lanes)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(layout=st.lists(st.lists(st.sampled_from(FOLDERS), min_size=1, max_size=3, unique=True),
                       min_size=1, max_size=4),
       places=st.lists(st.sampled_from(PLACES), min_size=1, max_size=10),
       shared_content=st.booleans())
def test_each_store_holds_exactly_the_files_routed_to_its_account(
        layout: list[list[str]], places: list[str], shared_content: bool) -> None:
    """For any layout and files, an account's store lists exactly the paths its folders hold."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp).resolve()
        router = router_over(root, layout)
        try:
            paths: list[Path] = []
            for i, place in enumerate(places):
                folder = root / place
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / f"w{i}.fit"
                # The same content under several names tests that a copy is recorded too.
                start = START if shared_content else START + timedelta(hours=i)
                path.write_bytes(fit_bytes(start=start, points=10))
                paths.append(path)
                router.submit(path, writer_done=True)
            accounts = [lane.account for lane in router.lanes]
            expected = {a.name: sorted(str(p) for p in paths if a in routes_for(accounts, p))
                        for a in accounts}
            stored = {lane.name: sorted(f.path for f in lane.store.files())
                      for lane in router.lanes}
        finally:
            router.close()

    assert expected == stored
