"""Owns which state folder belongs to which account, and whose athlete each one acts for.

Each account keeps the 0.2 layout (``state.sqlite3``, ``tokens.json``) in a folder of
its own: the account that owns ``state_dir`` itself uses it as it is (so a 0.2 state
folder is that account's, rows and tokens in place), every other account
``state_dir/accounts/NAME``. Which account owns the root is *pinned* in its
``account.json``, never inferred from the order of ``[[accounts]]``: reordering the
configuration must not hand one athlete's tokens and rows to another.

``account.json`` also records the athlete the account's sign-in (or key) belongs to,
so a token file holding another athlete, or one athlete under two account names, is
refused before anything is sent (:func:`athlete_problem`). See
``docs/design/accounts.md``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from stravasync.errors import StateError
from stravasync.fsutil import atomic_write, ensure_private_dir

__all__ = ["ACCOUNTS_DIR", "RECORD_NAME", "AccountRecord", "account_folders",
           "athlete_problem", "crossing_problem", "pin_athlete", "read_record",
           "write_record"]

#: Where accounts other than the root's owner keep their folders, in ``state_dir``.
ACCOUNTS_DIR = "accounts"
#: The record of an account folder's owner.
RECORD_NAME = "account.json"


@dataclass(frozen=True)
class AccountRecord:
    """Whose folder this is: the account's name and service, and its athlete once known."""

    name: str
    service: str
    athlete_id: str | None = None
    """Strava's numeric id, or intervals.icu's ``i…``; None before the first sign-in."""


class _Owner(Protocol):
    """Who an account is, as far as folders care (``config.accounts.Account`` fits)."""

    @property
    def name(self) -> str: ...
    @property
    def service(self) -> str: ...


def read_record(folder: Path) -> AccountRecord | None:
    """The folder's ``account.json``, or None where there is none (a 0.2 or new folder)."""
    try:
        data = json.loads((folder / RECORD_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StateError(f"cannot read {folder / RECORD_NAME}: {exc}: move it aside and "
                         "start again to have it written anew") from exc
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) \
            or not isinstance(data.get("service"), str):
        raise StateError(f"{folder / RECORD_NAME} is not an account record: move it aside "
                         "and start again to have it written anew")
    athlete = data.get("athlete_id")
    return AccountRecord(name=data["name"], service=data["service"],
                         athlete_id=str(athlete) if athlete is not None else None)


def write_record(folder: Path, record: AccountRecord) -> None:
    """Pin *folder* to *record* (atomically, mode 0600)."""
    ensure_private_dir(folder)
    atomic_write(folder / RECORD_NAME, json.dumps(asdict(record), indent=2).encode() + b"\n")


def account_folders(state_dir: Path, accounts: Sequence[_Owner]) -> dict[str, Path]:
    """Each account's folder; the root's owner is the one its record names.

    Without a record (a 0.2 folder, or a new one), the root goes to the account named
    ``me`` if there is one, else to the first Strava account, else the first account:
    the caller pins that with :func:`write_record` when it first opens the folder.
    Raises StateError when the recorded owner is no longer configured.
    """
    if not accounts:
        return {}
    record = read_record(state_dir)
    names = [a.name for a in accounts]
    if record is not None:
        if record.name not in names:
            raise StateError(
                f"the state folder {state_dir} belongs to the account {record.name!r}, which "
                f"the configuration no longer names (it names {', '.join(names)}): name that "
                f"account {record.name!r} again, or use another [state] dir")
        owner = record.name
    else:
        strava = [a.name for a in accounts if a.service == "strava"]
        owner = "me" if "me" in names else (strava or names)[0]
    return {name: state_dir if name == owner else state_dir / ACCOUNTS_DIR / name
            for name in names}


def athlete_problem(*, account: str, service: str, athlete_id: str,
                    records: Mapping[str, AccountRecord | None]) -> str | None:
    """Why *athlete_id* must not act for *account*, or None when it may.

    *records* maps every configured account to its folder's record. Refused: an
    account whose folder is pinned to another athlete, and an athlete already pinned
    to another account of the same service.
    """
    own = records.get(account)
    if own is not None and own.athlete_id is not None and own.athlete_id != athlete_id:
        return (f"the sign-in is for athlete {athlete_id}, but account {account!r} belongs "
                f"to athlete {own.athlete_id}: sign in as that athlete, or give this "
                "athlete an account of their own")
    for name, record in records.items():
        if name != account and record is not None and record.service == service \
                and record.athlete_id == athlete_id:
            return (f"athlete {athlete_id} is already signed in as account {name!r}: one "
                    "athlete may have one account per service, so their workouts are "
                    "never sent twice")
    return None


def pin_athlete(state_dir: Path, accounts: Sequence[_Owner], *, account: str, service: str,
                athlete_id: str) -> str | None:
    """Record that ``account`` acts for ``athlete_id``, unless it must not.

    Returns why it must not (see :func:`athlete_problem`), recording nothing; None
    once the athlete is recorded in the account's folder.
    """
    problem = crossing_problem(state_dir, accounts, account=account, service=service,
                               athlete_id=athlete_id)
    if problem is None:
        write_record(account_folders(state_dir, accounts)[account],
                     AccountRecord(name=account, service=service, athlete_id=athlete_id))
    return problem


def crossing_problem(state_dir: Path, accounts: Sequence[_Owner], *, account: str,
                     service: str, athlete_id: str) -> str | None:
    """:func:`athlete_problem` over the records every account's folder holds (read only)."""
    folders = account_folders(state_dir, accounts)
    records = {name: read_record(folder) for name, folder in folders.items()}
    return athlete_problem(account=account, service=service, athlete_id=athlete_id,
                           records=records)
