"""``stravasync demo --household``: two athletes on one Strava app, three folders.

Owns the household demo: the built-in emulator with two athletes (Jane and Bob) on
one application, a temporary config with three ``[[accounts]]`` (Jane's and Bob's
Strava accounts over Jane's folder, Bob's folder and a shared one that belongs to
both, and Jane's intervals.icu account over her folders), each athlete signed in
through the real OAuth code exchange into their own account folder, Jane's
intervals.icu key (in a 0600 file) checked with one call, the real daemon in a
thread, a few samples dropped into each folder, and at the end a table per account
of which file went where, checked against what each account holds on the emulator.
Everything is removed afterwards; no token or key is ever printed.
"""

from __future__ import annotations

import gzip
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stravasync.config.settings import Config, config_from_dict
from stravasync.demo.pipeline import FINAL, sign_in_at_emulator
from stravasync.errors import StravaSyncError
from stravasync.fsutil import legible
from stravasync.logs import configure_logging

__all__ = ["HOUSEHOLD", "HouseholdMember", "expected_by_account", "run_household_demo"]


@dataclass(frozen=True)
class HouseholdMember:
    """One account of the demo household: whose it is, where it sends, its folders."""

    account: str
    athlete_id: int
    firstname: str
    service: str
    folders: tuple[str, ...]

    @property
    def where(self) -> str:
        """The service and athlete, as a person reads them."""
        return ("intervals.icu" if self.service == "intervals" else "Strava") + (
            f" athlete {self.firstname}, {self.athlete_id}")


HOUSEHOLD = (
    HouseholdMember("jane", 1234567, "Jane", "strava", ("jane", "shared")),
    HouseholdMember("bob", 2345678, "Bob", "strava", ("bob", "shared")),
    HouseholdMember("jane-icu", 1234567, "Jane", "intervals", ("jane", "shared")),
)
"""Jane (the emulator's configured athlete) and Bob on the one Strava app; Jane's
folders go to her intervals.icu account too."""


def _samples(start: datetime) -> dict[str, list[tuple[str, bytes]]]:
    """The files dropped into each folder: different workouts, and one broken file."""
    from stravasync.demo.samples import sample_broken, sample_fit, sample_gpx, sample_tcx

    hour = timedelta(hours=1)
    return {
        "jane": [("jane-morning-run.fit", sample_fit(start=start, sport="run")),
                 ("jane-walk.gpx", sample_gpx(start=start + 2 * hour, sport="walk"))],
        "bob": [("bob-lunch-ride.fit", sample_fit(start=start + 4 * hour, sport="ride")),
                ("bob-evening-run.tcx.gz",
                 gzip.compress(sample_tcx(start=start + 6 * hour), mtime=0))],
        "shared": [("family-hike.gpx", sample_gpx(start=start + 8 * hour, sport="hike")),
                   ("broken.fit", sample_broken())],
    }


def expected_by_account() -> dict[str, dict[str, str]]:
    """What each account's files should end as: its own folders' files, and no others."""
    verdicts = {"broken.fit": "invalid"}
    drops = _samples(datetime(2026, 1, 1, tzinfo=UTC))
    return {member.account: {name: verdicts.get(name, "uploaded")
                             for folder in member.folders for name, _ in drops[folder]}
            for member in HOUSEHOLD}


def _account_table(root: Path, member: HouseholdMember, *, emulator: Any) -> dict[str, Any]:
    table: dict[str, Any] = {"name": member.account, "service": member.service,
                             "paths": [str(root / folder) for folder in member.folders]}
    if member.service == "intervals":
        key_file = root / f"{member.account}.key"
        key_file.write_text(emulator.intervals_key(member.athlete_id) or "")
        key_file.chmod(0o600)
        table.update(athlete_id="0", api_url=emulator.intervals_url,
                     api_key_file=str(key_file))
    return table


def _config(root: Path, *, emulator: Any) -> Config:
    return config_from_dict(
        {
            "strava": {
                "client_id": emulator.config.client_id,
                "client_secret": emulator.config.client_secret,
                "api_url": emulator.api_url,
                "oauth_url": emulator.oauth_url,
            },
            "watch": {"settle_seconds": 0.5},
            "state": {"dir": str(root / "state")},
            "log": {"format": "console"},
            "accounts": [_account_table(root, member, emulator=emulator)
                         for member in HOUSEHOLD],
        },
        env={},
        source=None,
    )


def _outcomes(config: Config) -> dict[str, list[tuple[str, str, int | None, str]]]:
    """Each account's files as (name, state, activity id, path), read from its own store."""
    from stravasync.state import DB_NAME, Store
    from stravasync.state.accounts import account_folders

    found: dict[str, list[tuple[str, str, int | None, str]]] = {}
    for name, folder in account_folders(config.state_dir, config.accounts).items():
        found[name] = []
        if not (folder / DB_NAME).exists():
            continue
        store = Store.open(folder, read_only=True)
        try:
            found[name] = sorted(((Path(f.path).name, f.state.value, f.activity_id, f.path)
                                  for f in store.files()), key=lambda row: row[3])
        finally:
            store.close()
    return found


def _settled(outcomes: dict[str, list[tuple[str, str, int | None, str]]],
             expected: dict[str, dict[str, str]]) -> bool:
    return all(len(outcomes.get(account, ())) >= len(files)
               and FINAL.issuperset(state for _, state, _, _ in outcomes[account])
               for account, files in expected.items())


def _table(member: HouseholdMember, files: list[tuple[str, str, int | None, str]],
           on_strava: int) -> list[str]:
    service = "intervals.icu" if member.service == "intervals" else "Strava"
    lines = [f"Account {member.account} ({member.where}): {len(files)} files, "
             f"{on_strava} activities on {service}",
             f"  {'STATE':<10} {'ACTIVITY':<12} PATH"]
    prefix = "i" if member.service == "intervals" else ""  # intervals.icu ids read i123
    lines += [f"  {state:<10} {f'{prefix}{activity}' if activity is not None else '-':<12} "
              f"{legible(path)}" for _, state, activity, path in files]
    return lines


def run_household_demo(*, echo: Callable[[str], None] = print, budget_s: float = 25.0) -> int:
    """Run the household demo; return 0 when every account got exactly its own files."""
    from stravasync.emulator import Emulator, EmulatorConfig, HouseholdAthlete, Knobs
    from stravasync.service.daemon import Daemon
    from stravasync.service.sdnotify import SystemdNotifier

    began = time.monotonic()
    expected = expected_by_account()
    configure_logging(fmt="console", level="info")
    jane, bob, _ = HOUSEHOLD
    with tempfile.TemporaryDirectory(prefix="stravasync-demo-") as tmp:
        root = Path(tmp)
        for folder in ("jane", "bob", "shared"):
            (root / folder).mkdir()
        emulator = Emulator(EmulatorConfig(
            client_id="12345", client_secret=secrets.token_hex(20), seed=2026,
            athlete_id=jane.athlete_id, athlete_firstname=jane.firstname, athlete_lastname="",
            athletes=(HouseholdAthlete(id=bob.athlete_id, firstname=bob.firstname),),
            knobs=Knobs(processing_min_s=0.5, processing_max_s=1.5),
        )).start()
        try:
            config = _config(root, emulator=emulator)
            echo(f"Strava emulator at {emulator.base_url} with two athletes on one app; "
                 f"temporary folder {legible(root)}")
            _sign_in_all(config, echo)
            daemon = Daemon(config, install_signals=False, notifier=SystemdNotifier(env={}))
            thread = threading.Thread(target=daemon.run, name="stravasync-demo", daemon=True)
            thread.start()
            if not daemon.wait_ready(10):
                raise StravaSyncError("the daemon did not start within 10 s")
            start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
            for folder, files in _samples(start).items():
                for name, data in files:
                    echo(f"--> dropping {name} into the {folder} folder")
                    part = root / folder / f"{name}.part"
                    part.write_bytes(data)
                    part.rename(root / folder / name)
            outcomes: dict[str, list[tuple[str, str, int | None, str]]] = {}
            while time.monotonic() < began + budget_s:
                outcomes = _outcomes(config)
                if _settled(outcomes, expected):
                    break
                time.sleep(0.2)
            daemon.request_stop()
            thread.join(10)
            held = {m.account: len(emulator.intervals_activities_of(m.athlete_id)
                                   if m.service == "intervals"
                                   else emulator.activities_of(m.athlete_id))
                    for m in HOUSEHOLD}
            seen = emulator.inspect(requests=False)
            calls, icu_calls = seen["counters"], seen["intervals"]["calls"]
        finally:
            emulator.stop()
        echo("")
        for member in HOUSEHOLD:
            for line in _table(member, outcomes.get(member.account, []), held[member.account]):
                echo(line)
            echo("")
    return _verdict(expected, outcomes, held, calls=calls["api_calls"], icu_calls=icu_calls,
                    seconds=time.monotonic() - began, echo=echo)


def _sign_in_all(config: Config, echo: Callable[[str], None]) -> None:
    """Each Strava athlete through the OAuth code flow; each intervals.icu key checked."""
    from stravasync.intervals.keycheck import check_key
    from stravasync.stack import open_account_tokens

    for member in HOUSEHOLD:
        account = next(a for a in config.accounts if a.name == member.account)
        if member.service == "intervals":
            athlete = check_key(account, accounts=config.accounts, state_dir=config.state_dir)
            echo(f"The intervals.icu key of account {member.account} works: it belongs to "
                 f"{athlete.name or athlete.id}.")
            continue
        who = sign_in_at_emulator(config, tokens=open_account_tokens(config, account),
                       athlete=member.athlete_id)
        echo(f"{who} signed in to account {member.account} through the OAuth code flow.")


def _verdict(expected: dict[str, dict[str, str]],
             outcomes: dict[str, list[tuple[str, str, int | None, str]]],
             held: dict[str, int], *, calls: int, icu_calls: int, seconds: float,
             echo: Callable[[str], None]) -> int:
    """Say whether every account got exactly its files (and the emulator agrees): 0 if so."""
    got = {account: {name: state for name, state, _, _ in files}
           for account, files in outcomes.items()}
    uploads = {account: sum(s == "uploaded" for s in files.values())
               for account, files in expected.items()}
    ok = got == expected and held == uploads
    on = {service: sum(held[m.account] for m in HOUSEHOLD if m.service == service)
          for service in ("strava", "intervals")}
    echo(f"Strava API calls: {calls} for {on['strava']} new activities; "
         f"intervals.icu calls: {icu_calls} for {on['intervals']}; "
         f"{seconds:.1f} s in all. "
         + ("Demo finished: each account got exactly the files of its folders." if ok
            else f"Demo FAILED: expected {expected} and {uploads} activities, got {got} "
                 f"and {held}"))
    return 0 if ok else 1
