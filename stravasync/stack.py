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

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stravasync.errors import AccountCrossed, AuthFlowError, ConfigError
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
    from stravasync.intake.ingest import PayloadCache, Validator
    from stravasync.intervals.client import IntervalsClient
    from stravasync.state import Store
    from stravasync.upload.archive import Peers
    from stravasync.upload.engine import Engine
    from stravasync.upload.gates import Gates
    from stravasync.upload.learning import ProcessingTimes
    from stravasync.upload.outcomes import Outcomes
    from stravasync.upload.polling import Pacing
    from stravasync.upload.ports import IntervalsUploads, RateGovernor, UploadClient
    from stravasync.upload.router import ReadReserve
    from stravasync.upload.slots import SlotArbiter

__all__ = [
    "RATELIMIT_FILE",
    "Api",
    "Stack",
    "account_folders_of",
    "build_engine",
    "build_intervals_engine",
    "crossing",
    "only_account",
    "open_account_tokens",
    "open_api",
    "open_governor",
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


@dataclass(frozen=True)
class _Common:
    """The pieces every engine has, whatever its service."""

    pacing: Pacing
    jitter: random.Random
    judge: Validator
    owner: str
    gates: Gates
    payloads: PayloadCache
    times: ProcessingTimes
    outcomes: Outcomes


def _common(*, config: Config, store: Store, clock: Callable[[], float],
            validator: Validator | None, timing: Pacing | None, rng: random.Random | None,
            peers: Peers | None) -> _Common:
    """The gates, payload cache, learned times and outcomes of one engine over ``store``."""
    import random

    from stravasync.intake.ingest import PayloadCache, default_validator
    from stravasync.state.owners import owner_tag
    from stravasync.upload.gates import Gates
    from stravasync.upload.learning import ProcessingTimes
    from stravasync.upload.outcomes import Outcomes
    from stravasync.upload.polling import Pacing

    pacing = timing or Pacing()
    owner = owner_tag()
    gates = Gates(clock=clock, min_wait_s=pacing.min_poll_s)
    payloads = PayloadCache()
    times = ProcessingTimes(store=store, timing=pacing)
    outcomes = Outcomes(config=config, store=store, timing=pacing, owner=owner, gates=gates,
                        payloads=payloads, times=times, peers=peers)
    return _Common(pacing=pacing, jitter=rng or random.Random(),  # noqa: S311 - jitter
                   judge=validator or default_validator, owner=owner, gates=gates,
                   payloads=payloads, times=times, outcomes=outcomes)


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
    from stravasync.upload.engine import Engine, EngineParts
    from stravasync.upload.follow import Follower
    from stravasync.upload.listing import Listing
    from stravasync.upload.transfer import Transfer

    common = _common(config=config, store=store, clock=clock, validator=validator,
                     timing=timing, rng=rng, peers=peers)
    pacing, jitter, judge, owner = common.pacing, common.jitter, common.judge, common.owner
    gates, payloads, times, outcomes = (common.gates, common.payloads, common.times,
                                        common.outcomes)
    whose = account or config.accounts[0]
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


def account_folders_of(config: Config) -> dict[str, Path]:
    """Each account's state folder (see :mod:`stravasync.state.accounts`)."""
    from stravasync.state.accounts import account_folders

    return account_folders(config.state_dir, config.accounts)


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
    from stravasync.upload.engine import Engine, EngineParts
    from stravasync.upload.icu import IntervalsPost, NothingToFollow

    common = _common(config=config, store=store, clock=clock, validator=validator,
                     timing=timing, rng=rng, peers=peers)
    pacing, jitter, judge, owner = common.pacing, common.jitter, common.judge, common.owner
    gates, payloads, times, outcomes = (common.gates, common.payloads, common.times,
                                        common.outcomes)
    post = IntervalsPost(config=config, account=account.name, store=store, clock=clock,
                         timing=pacing, owner=owner, gates=gates, payloads=payloads,
                         outcomes=outcomes, client=client, validator=judge, rng=jitter,
                         whose=whose)
    parts = EngineParts(owner=owner, gates=gates, payloads=payloads, times=times,
                        outcomes=outcomes, follower=NothingToFollow(), transfer=post)
    return Engine(config=config, store=store, parts=parts, clock=clock, validator=judge,
                  timing=pacing, rng=jitter, account=account.name, peers=peers)
