"""Owns ``stravasync auth --account`` for an intervals.icu account: whose key is this?

One call (``GET /athlete/{id}``) proves the key works and names its athlete. The
athlete is then pinned in the account's folder (:mod:`stravasync.state.accounts`),
so a key that belongs to an athlete another intervals.icu account already has, or a
new key for another athlete than the one recorded, is refused before anything is
sent with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from stravasync.errors import KeyRefused
from stravasync.intervals.client import IntervalsAthlete, IntervalsClient
from stravasync.state.accounts import pin_athlete

if TYPE_CHECKING:
    import httpx

    from stravasync.config.accounts import Account

__all__ = ["check_key"]


def check_key(account: Account, *, accounts: Sequence[Account], state_dir: Path,
              transport: httpx.BaseTransport | None = None) -> IntervalsAthlete:
    """Ask intervals.icu whose ``account``'s key is, refuse a crossing, pin the athlete.

    Raises :class:`KeyRefused` for a wrong or revoked key and for a key whose athlete
    must not act for this account; the usual transient errors otherwise.
    """
    with IntervalsClient(account=account.name, api_url=account.api_url,
                         athlete_id=account.athlete_id, api_key=account.api_key,
                         transport=transport) as client:
        athlete = client.athlete()
    problem = pin_athlete(state_dir, accounts, account=account.name, service="intervals",
                          athlete_id=athlete.id)
    if problem is not None:
        raise KeyRefused(f"the intervals.icu key of {account.name!r} is refused: {problem}",
                         account=account.name)
    return athlete
