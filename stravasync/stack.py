"""The composition root: the one place that builds the object graph from a configuration.

Owns how the pieces are wired: the OAuth client the token store refreshes through,
the token store and the rate-limit governor (both kept in ``state_dir``), the API
client that uses them, the state store, and the engine with its pieces (the gates,
the payload cache, the learned processing times, the outcomes, the way of following,
the follower and the transfer), each given the parts it uses (:func:`build_engine`);
an intervals.icu account's client and engine (:func:`open_intervals_client`,
:func:`build_intervals_engine`: intervals.icu's POST in place of the transfer, nothing
to follow, no governor).
The daemon, the one-shot commands and the demo all build through here, so no piece
builds another and no module below this one knows how the others are made. Nothing is
started here.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stravasync.config.accounts import key_variable
from stravasync.errors import AccountCrossed, AuthError, AuthFlowError, ConfigError, NotSignedIn
from stravasync.fsutil import ensure_private_dir
from stravasync.strava.client import StravaClient
from stravasync.strava.governor import Governor
from stravasync.strava.oauth import OAuthClient
from stravasync.strava.tokens import TokenSet, TokenStore

if TYPE_CHECKING:
    import random

    import httpx

    from stravasync.config.accounts import Account
    from stravasync.config.settings import Config
    from stravasync.intake.ingest import Validator
    from stravasync.intervals.client import IntervalsClient
    from stravasync.state import Store
    from stravasync.upload.archive import Peers
    from stravasync.upload.engine import Engine
    from stravasync.upload.polling import Pacing
    from stravasync.upload.ports import IntervalsUploads, RateGovernor, UploadClient
    from stravasync.upload.router import Lane, ReadReserve, Router
    from stravasync.upload.slots import SlotArbiter

__all__ = [
    "RATELIMIT_FILE",
    "Api",
    "Household",
    "Stack",
    "build_engine",
    "build_intervals_engine",
    "only_account",
    "open_account_tokens",
    "open_accounts",
    "open_api",
    "open_governor",
    "open_household",
    "open_intervals_client",
    "open_stack",
    "open_tokens",
    "require_sign_in",
]

RATELIMIT_FILE = "ratelimit.json"
"""The governor's state, in ``state_dir``."""


def only_account(config: Config) -> Account:
    """The one Strava account of a one-account configuration; a ConfigError otherwise.

    For what acts on one sign-in without ``--account`` (``auth``, ``logout``, the token
    store of ``state_dir``): with several accounts the person names one.
    """
    accounts = config.accounts
    if len(accounts) == 1 and accounts[0].service == "strava":
        return accounts[0]
    names = ", ".join(f"{a.name} ({a.service})" for a in accounts)
    raise ConfigError(
        f"the configuration{f' in {config.source}' if config.source else ''} has several "
        f"accounts ({names}): name one with --account NAME")


def open_tokens(config: Config, *, refresher: OAuthClient | None = None,
                clock: Callable[[], float] = time.time) -> TokenStore:
    """The token store of ``config.state_dir`` (refreshing through ``refresher``, if any)."""
    only_account(config)
    return TokenStore(state_dir=config.state_dir, refresher=refresher, clock=clock)


def open_account_tokens(config: Config, account: Account, *,
                        refresher: OAuthClient | None = None,
                        clock: Callable[[], float] = time.time) -> TokenStore:
    """The token store of one Strava account, in its own folder, refusing a crossing.

    A sign-in is admitted only for the athlete the account's folder records (or, the
    first time, for one no other Strava account records), and that athlete is then
    recorded: one athlete's workouts can never go out with another's tokens. The same
    check guards every use of the stored sign-in, so another athlete's token file put
    in the folder while a daemon runs halts the account before its first call.
    """
    from stravasync.state.accounts import account_folders, pin_athlete

    folder = account_folders(config.state_dir, config.accounts)[account.name]

    def admit(token_set: TokenSet) -> None:
        if token_set.athlete is None:
            return  # Strava's exchange always names one; without it there is nothing to compare
        problem = pin_athlete(config.state_dir, config.accounts, account=account.name,
                              service="strava", athlete_id=str(token_set.athlete.id))
        if problem is not None:
            raise AuthFlowError(f"signing in {account.name!r} is refused: {problem}")

    def guard(athlete_id: int | None) -> None:
        crossed = crossing(config, account, athlete_id)
        if crossed is not None:
            raise crossed

    ensure_private_dir(folder)
    return TokenStore(state_dir=folder, refresher=refresher, clock=clock, admit=admit,
                      guard=guard)


def open_governor(config: Config, *, clock: Callable[[], float] = time.time) -> Governor:
    """The rate-limit governor whose state is kept in ``config.state_dir``."""
    return Governor(state_file=config.state_dir / RATELIMIT_FILE, clock=clock)


def require_sign_in(config: Config) -> None:
    """Stop before touching any file when no Strava account has a usable sign-in.

    With one account, its own error (0.2's words); with several, only when none of
    them is signed in: an account signed out stops alone, the others go on.
    """
    strava = [a for a in config.accounts if a.service == "strava"]
    if len(config.accounts) == 1 and strava:
        open_tokens(config).ensure_signed_in()
        return
    from stravasync.state.accounts import account_folders

    folders = account_folders(config.state_dir, config.accounts)
    stores = [TokenStore(state_dir=folders[a.name]) for a in strava]  # creates nothing
    if not strava or any(store.status() is not None for store in stores):
        return
    stores[0].ensure_signed_in()


@dataclass
class Api:
    """Everything that talks to Strava for one athlete."""

    oauth: OAuthClient
    tokens: TokenStore
    governor: Governor
    client: StravaClient

    def close(self) -> None:
        """Release the connection pools."""
        self.client.close()
        self.oauth.close()


def open_api(
    config: Config,
    *,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], float] = time.time,
    timeout: float = 30.0,
) -> Api:
    """The OAuth client, token store, governor and API client for ``config``."""
    oauth = OAuthClient(config=config.strava, transport=transport, timeout=timeout, clock=clock)
    tokens = open_tokens(config, refresher=oauth, clock=clock)
    governor = open_governor(config, clock=clock)
    client = StravaClient(config=config.strava, tokens=tokens, governor=governor,
                          transport=transport, timeout=timeout, clock=clock)
    return Api(oauth=oauth, tokens=tokens, governor=governor, client=client)


def build_engine(
    *,
    config: Config,
    store: Store,
    client: UploadClient,
    governor: RateGovernor,
    clock: Callable[[], float] = time.time,
    validator: Validator | None = None,
    timing: Pacing | None = None,
    rng: random.Random | None = None,
    account: Account | None = None,
    peers: Peers | None = None,
    reserve: ReadReserve | None = None,
    queue: Callable[[float, int], int] | None = None,
    slots: SlotArbiter | None = None,
) -> Engine:
    """The upload engine over ``store``, its pieces wired (nothing is started).

    ``account``: whose engine it is (the rules' ``account`` condition; the first account
    by default); ``peers``: the other accounts' stores, for ``upload.after``;
    ``reserve``: the app's reads kept back, shared by every Strava engine;
    ``queue(now, limit)``: POSTs waiting on every engine sharing ``governor`` (counted
    up to ``limit``), for the follower's backlog rule; None: this engine's own;
    ``slots``: the app's upload slots, shared by every Strava engine (fresh first,
    then turns).
    """
    import random

    from stravasync.intake.ingest import PayloadCache, default_validator
    from stravasync.state.owners import owner_tag
    from stravasync.upload.engine import Engine, EngineParts
    from stravasync.upload.follow import Follower
    from stravasync.upload.gates import Gates
    from stravasync.upload.learning import ProcessingTimes
    from stravasync.upload.listing import Listing
    from stravasync.upload.outcomes import Outcomes
    from stravasync.upload.polling import Pacing
    from stravasync.upload.transfer import Transfer

    pacing = timing or Pacing()
    jitter = rng or random.Random()  # noqa: S311 - backoff jitter
    judge = validator or default_validator
    owner = owner_tag()
    gates = Gates(clock=clock, min_wait_s=pacing.min_poll_s)
    payloads = PayloadCache()
    times = ProcessingTimes(store=store, timing=pacing)
    whose = account or config.accounts[0]
    outcomes = Outcomes(config=config, store=store, timing=pacing, owner=owner, gates=gates,
                        payloads=payloads, times=times, peers=peers)
    listing = Listing(client=client, store=store, clock=clock, timing=pacing, rng=jitter)
    follower = Follower(store=store, clock=clock, timing=pacing, owner=owner, gates=gates,
                        outcomes=outcomes, times=times, client=client, governor=governor,
                        rng=jitter, listing=listing, queue=queue)
    if reserve is not None:
        reserve.add(follower.reads_to_keep)
    transfer = Transfer(config=config, store=store, clock=clock, timing=pacing, owner=owner,
                        gates=gates, payloads=payloads, outcomes=outcomes, times=times,
                        client=client, governor=governor, validator=judge, rng=jitter,
                        reserve=reserve if reserve is not None else follower.reads_to_keep,
                        account=whose)
    parts = EngineParts(owner=owner, gates=gates, payloads=payloads, times=times,
                        outcomes=outcomes, follower=follower, transfer=transfer)
    return Engine(config=config, store=store, parts=parts, clock=clock, validator=judge,
                  timing=pacing, rng=jitter, account=whose.name, peers=peers, slots=slots)


@dataclass
class Stack:
    """The state store, the Strava side and the engine built from one configuration."""

    config: Config
    store: Store
    api: Api
    engine: Engine

    @property
    def client(self) -> StravaClient:
        """The API client."""
        return self.api.client

    @property
    def tokens(self) -> TokenStore:
        """The token store."""
        return self.api.tokens

    @property
    def governor(self) -> Governor:
        """The rate-limit governor."""
        return self.api.governor

    def close(self) -> None:
        """Close the HTTP clients and the database connections."""
        self.api.close()
        self.store.close()


def open_stack(
    config: Config,
    *,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], float] = time.time,
) -> Stack:
    """Build store, Strava side and engine for ``config`` (nothing is started)."""
    from stravasync.state import Store

    ensure_private_dir(config.state_dir)
    store = Store.open(config.state_dir, clock=clock)
    api = open_api(config, transport=transport, clock=clock)
    engine = build_engine(config=config, store=store, client=api.client,
                          governor=api.governor, clock=clock)
    return Stack(config=config, store=store, api=api, engine=engine)


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


def crossing(config: Config, account: Account, athlete_id: int | None) -> AccountCrossed | None:
    """Why a sign-in of ``athlete_id`` must not be used for ``account``, or None.

    The athlete the account's folder records is compared (one small file read); with
    no record yet, ``athlete_id`` is recorded now, unless another account records it.
    """
    from stravasync.state.accounts import pin_athlete, read_record

    if athlete_id is None:
        return None
    record = read_record(account_folders_of(config)[account.name])
    if record is not None and record.athlete_id == str(athlete_id):
        return None
    problem = pin_athlete(config.state_dir, config.accounts, account=account.name,
                          service="strava", athlete_id=str(athlete_id))
    if problem is None:
        return None
    return AccountCrossed(
        f"account {account.name!r}: {problem}. Nothing is sent for this account until "
        f"`stravasync auth --account {account.name}` signs the right athlete in")


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


def account_folders_of(config: Config) -> dict[str, Path]:
    """Each account's state folder (see :mod:`stravasync.state.accounts`)."""
    from stravasync.state.accounts import account_folders

    return account_folders(config.state_dir, config.accounts)


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


def open_intervals_client(
    config: Config, account: Account, transport: httpx.BaseTransport | None = None, *,
    clock: Callable[[], float] = time.time, timeout: float = 60.0,
) -> IntervalsClient:
    """The intervals.icu client of ``account``: its API base, athlete and key."""
    from stravasync.intervals.client import IntervalsClient

    if account.service != "intervals":
        raise ConfigError(f"account {account.name!r} is a {account.service} account, "
                          "not an intervals.icu one")
    del config  # the account carries all it needs; kept for the callers' symmetry
    return IntervalsClient(account=account.name, api_url=account.api_url,
                           athlete_id=account.athlete_id, api_key=account.api_key,
                           transport=transport, timeout=timeout, clock=clock)


def build_intervals_engine(
    *,
    config: Config,
    account: Account,
    store: Store,
    client: IntervalsUploads,
    clock: Callable[[], float] = time.time,
    validator: Validator | None = None,
    timing: Pacing | None = None,
    rng: random.Random | None = None,
    peers: Peers | None = None,
    whose: Callable[[str], str | None] | None = None,
) -> Engine:
    """The engine of one intervals.icu account over its ``store`` (nothing is started).

    ``whose(athlete_id)``: why the key's athlete must not send for this account (None:
    it may); asked once, before the first send.

    Today's engine (dispatch, queue, ingest, scan, waits) with intervals.icu's POST in
    place of Strava's transfer and nothing to follow; no Strava governor is involved.
    """
    import random

    from stravasync.intake.ingest import PayloadCache, default_validator
    from stravasync.state.owners import owner_tag
    from stravasync.upload.engine import Engine, EngineParts
    from stravasync.upload.gates import Gates
    from stravasync.upload.icu import IntervalsPost, NothingToFollow
    from stravasync.upload.learning import ProcessingTimes
    from stravasync.upload.outcomes import Outcomes
    from stravasync.upload.polling import Pacing

    pacing = timing or Pacing()
    jitter = rng or random.Random()  # noqa: S311 - backoff jitter
    judge = validator or default_validator
    owner = owner_tag()
    gates = Gates(clock=clock, min_wait_s=pacing.min_poll_s)
    payloads = PayloadCache()
    times = ProcessingTimes(store=store, timing=pacing)
    outcomes = Outcomes(config=config, store=store, timing=pacing, owner=owner, gates=gates,
                        payloads=payloads, times=times, peers=peers)
    post = IntervalsPost(config=config, account=account.name, store=store, clock=clock,
                         timing=pacing, owner=owner, gates=gates, payloads=payloads,
                         outcomes=outcomes, client=client, validator=judge, rng=jitter,
                         whose=whose)
    parts = EngineParts(owner=owner, gates=gates, payloads=payloads, times=times,
                        outcomes=outcomes, follower=NothingToFollow(), transfer=post)
    return Engine(config=config, store=store, parts=parts, clock=clock, validator=judge,
                  timing=pacing, rng=jitter, account=account.name, peers=peers)
