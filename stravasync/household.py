"""Every account's lane on one Strava app: the household the daemon and commands run.

Owns how the composition root's pieces (:mod:`stravasync.stack`) become one lane per
account (its own store, sign-in or key, and engine) behind one
:class:`~stravasync.upload.router.Router`: every Strava engine on the app's one
governor, read reserve, backlog count and slot arbiter; each intervals.icu engine on
its own client; the root state folder pinned to its account; a signed-out account, or
one whose stored sign-in is another athlete's, halted alone. Nothing is started here.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stravasync.config.accounts import key_variable
from stravasync.errors import AccountCrossed, AuthError, NotSignedIn
from stravasync.fsutil import ensure_private_dir
from stravasync.stack import (
    account_folders_of,
    build_engine,
    build_intervals_engine,
    crossing,
    open_account_tokens,
    open_governor,
    open_intervals_client,
)
from stravasync.strava.client import StravaClient
from stravasync.strava.oauth import OAuthClient

if TYPE_CHECKING:
    import httpx

    from stravasync.config.accounts import Account
    from stravasync.config.settings import Config
    from stravasync.intake.ingest import Validator
    from stravasync.state import Store
    from stravasync.strava.governor import Governor
    from stravasync.strava.tokens import TokenStore
    from stravasync.upload.archive import Peers
    from stravasync.upload.polling import Pacing
    from stravasync.upload.router import Lane, Router

__all__ = ["Household", "crossed_sign_in", "open_accounts", "open_household", "pin_root",
           "signed_out"]


@dataclass
class Household:
    """Every account's lane behind one router, with the app's governor and OAuth client."""

    config: Config
    router: Router
    governor: Governor
    oauth: OAuthClient
    tokens: dict[str, TokenStore]
    """The token store of each Strava account, by account name."""
    clients: dict[str, StravaClient]
    """The API client of each Strava account, by account name."""

    @property
    def strava_lanes(self) -> list[Lane]:
        """The lanes of Strava accounts."""
        return [lane for lane in self.router.lanes if lane.account.service == "strava"]

    def close(self) -> None:
        """Close every lane's HTTP clients and store, and the OAuth client."""
        self.router.close()
        self.oauth.close()


def crossed_sign_in(config: Config, account: Account, tokens: TokenStore) -> AccountCrossed | None:
    """Why ``account``'s stored sign-in must not be used (another athlete's), or None.

    A 0.2 folder (or one signed in before records existed) has no record yet: its
    athlete is recorded now, unless that athlete is recorded for another account.
    """
    status = tokens.status()
    return None if status is None else crossing(config, account, status.athlete_id)


def signed_out(config: Config, account: Account, tokens: TokenStore) -> AuthError | None:
    """Why ``account`` cannot send now for want of a sign-in (naming it), or None."""
    if tokens.status() is not None:
        return None
    if len(config.accounts) == 1:
        try:
            tokens.ensure_signed_in()
        except AuthError as error:
            return error
        return None
    return NotSignedIn(f"account {account.name!r} is not signed in: run `stravasync auth "
                       f"--account {account.name}` (with --no-browser to send the athlete "
                       "the address)")


@contextlib.contextmanager
def open_accounts(config: Config) -> Iterator[Household]:
    """Every account's lane wired to the real stack, stopped and closed on leaving."""
    house = open_household(config)
    try:
        yield house
    finally:
        house.router.stop(timeout=30.0)
        house.close()


def pin_root(config: Config) -> None:
    """Record which account owns ``state_dir`` itself, the first time it is opened.

    A 0.2 state folder becomes its one account's (``me``, or the first Strava account)
    as it is: rows and tokens stay where they are; reordering ``[[accounts]]`` later
    never hands it to another account.
    """
    from stravasync.state.accounts import AccountRecord, read_record, write_record

    if read_record(config.state_dir) is not None:
        return
    folders = account_folders_of(config)
    owner = next(a for a in config.accounts if folders[a.name] == config.state_dir)
    write_record(config.state_dir, AccountRecord(name=owner.name, service=owner.service))


def open_household(
    config: Config,
    *,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], float] = time.time,
    timeout: float = 30.0,
    timing: Pacing | None = None,
) -> Household:
    """One lane per account (its store, sign-in and engine), sharing the app's governor.

    Every Strava account's engine spends the one governor (the app's limits), the one
    read reserve and the one slot arbiter (fresh workouts first, then turns); each token
    store lives in its account's folder and admits only that account's athlete. A stored
    sign-in that belongs to another athlete halts that account's engine with the reason;
    the others go on. Nothing is started.
    """
    from stravasync.intake.verdicts import SharedVerdicts
    from stravasync.state import Store
    from stravasync.state.owners import owner_tag
    from stravasync.upload.router import Lane, ReadReserve, Router, peer_stores
    from stravasync.upload.slots import SlotArbiter

    ensure_private_dir(config.state_dir)
    pin_root(config)
    folders = account_folders_of(config)
    stores: dict[str, Store] = {}
    oauth = OAuthClient(config=config.strava, transport=transport, timeout=timeout, clock=clock)
    try:
        for account in config.accounts:
            ensure_private_dir(folders[account.name])
            stores[account.name] = Store.open(folders[account.name], clock=clock)
        governor = open_governor(config, clock=clock)
        reserve = ReadReserve()
        slots = SlotArbiter()
        judge = SharedVerdicts()
        lanes: list[Lane] = []
        tokens: dict[str, TokenStore] = {}
        clients: dict[str, StravaClient] = {}
        shared_app = sum(1 for a in config.accounts if a.service == "strava") > 1
        owner = owner_tag()
        strava_stores = [stores[a.name] for a in config.accounts if a.service == "strava"]

        def queue(now: float, limit: int) -> int:
            """POSTs waiting on every Strava engine: the app's backlog, not one account's."""
            return sum(len(s.due_posts(now=now, owner=owner, limit=limit))
                       for s in strava_stores)

        for account in config.accounts:
            store = stores[account.name]
            peers = peer_stores(config.accounts, stores, account.name)
            if account.service == "intervals":
                lanes.append(_intervals_lane(config, account, store, peers, transport=transport,
                                             clock=clock, validator=judge, timing=timing))
                continue
            token_store = open_account_tokens(config, account, refresher=oauth, clock=clock)
            tokens[account.name] = token_store
            client = StravaClient(config=config.strava, tokens=token_store, governor=governor,
                                  transport=transport, timeout=timeout, clock=clock,
                                  shared_app=shared_app)
            clients[account.name] = client
            engine = build_engine(config=config, store=store, client=client, governor=governor,
                                  clock=clock, validator=judge, timing=timing, account=account,
                                  peers=peers, reserve=reserve, queue=queue, slots=slots)
            stopped = crossed_sign_in(config, account, token_store) or signed_out(
                config, account, token_store)
            if stopped is not None:
                engine.halt(stopped)
            lanes.append(Lane(account=account, engine=engine, store=store,
                              closers=[client.close, store.close]))
    except BaseException:
        for store in stores.values():
            store.close()
        oauth.close()
        raise
    return Household(config=config, router=Router(lanes), governor=governor, oauth=oauth,
                     tokens=tokens, clients=clients)


def _intervals_lane(config: Config, account: Account, store: Store, peers: Peers, *,
                    transport: httpx.BaseTransport | None, clock: Callable[[], float],
                    validator: Validator, timing: Pacing | None) -> Lane:
    """An intervals.icu account's lane: its engine on its store, halted without a key."""
    from stravasync.state.accounts import pin_athlete
    from stravasync.upload.router import Lane

    def whose(athlete_id: str) -> str | None:
        """The key's athlete: pinned at first use, refused if another's (see pin_athlete)."""
        return pin_athlete(config.state_dir, config.accounts, account=account.name,
                           service="intervals", athlete_id=athlete_id)

    client = open_intervals_client(config, account, transport, clock=clock)
    engine = build_intervals_engine(config=config, account=account, store=store, client=client,
                                    clock=clock, validator=validator, timing=timing,
                                    peers=peers, whose=whose)
    if not account.api_key:
        engine.halt(NotSignedIn(
            f"account {account.name!r} has no intervals.icu API key: make one at "
            "intervals.icu → Settings → Developer Settings, put it in the file "
            f"api_key_file names (mode 0600) or in ${key_variable(account.name)}, then "
            f"`stravasync auth --account {account.name}` checks it"))
    return Lane(account=account, engine=engine, store=store, closers=[client.close, store.close])
