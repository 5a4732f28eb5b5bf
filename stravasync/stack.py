"""The composition root: the one place that builds the object graph from a configuration.

Owns how the pieces are wired: the OAuth client the token store refreshes through,
the token store and the rate-limit governor (both kept in ``state_dir``), the API
client that uses them, the state store, and the engine with its pieces (the gates,
the payload cache, the learned processing times, the outcomes, the way of following,
the follower and the transfer), each given the parts it uses (:func:`build_engine`).
The daemon, the one-shot commands and the demo all build through here, so no piece
builds another and no module below this one knows how the others are made. Nothing is
started here.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stravasync.errors import AuthFlowError, ConfigError
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
    from stravasync.state import Store
    from stravasync.upload.engine import Engine
    from stravasync.upload.polling import Pacing
    from stravasync.upload.ports import RateGovernor, UploadClient
    from stravasync.upload.slots import SlotArbiter

__all__ = [
    "RATELIMIT_FILE",
    "Api",
    "Stack",
    "build_engine",
    "only_account",
    "open_account_tokens",
    "open_api",
    "open_engine",
    "open_governor",
    "open_stack",
    "open_tokens",
    "require_sign_in",
]

RATELIMIT_FILE = "ratelimit.json"
"""The governor's state, in ``state_dir``."""


def only_account(config: Config) -> Account:
    """The one Strava account this version uploads to; a ConfigError for any other setup.

    ``[[accounts]]`` are read and checked (``stravasync config`` shows them), but the
    routing to several accounts and intervals.icu is not built yet: refusing here, in
    the one place every Strava call is wired, means no workout can reach an account
    whose folders do not hold it.
    """
    accounts = config.accounts
    if len(accounts) == 1 and accounts[0].service == "strava":
        return accounts[0]
    names = ", ".join(f"{a.name} ({a.service})" for a in accounts)
    raise ConfigError(
        f"this version uploads to one Strava account, and the configuration"
        f"{f' in {config.source}' if config.source else ''} has {names}: several accounts "
        "and intervals.icu are not built yet; keep one Strava account in [[accounts]] "
        "(or none, with [watch] paths) for now")


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
    recorded: one athlete's workouts can never go out with another's tokens.
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

    ensure_private_dir(folder)
    return TokenStore(state_dir=folder, refresher=refresher, clock=clock, admit=admit)


def open_governor(config: Config, *, clock: Callable[[], float] = time.time) -> Governor:
    """The rate-limit governor whose state is kept in ``config.state_dir``."""
    return Governor(state_file=config.state_dir / RATELIMIT_FILE, clock=clock)


def require_sign_in(config: Config) -> None:
    """Stop before touching any file when no usable sign-in is stored."""
    open_tokens(config).ensure_signed_in()


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
    account: str = "me",
    slots: SlotArbiter | None = None,
) -> Engine:
    """The upload engine over ``store``, its pieces wired (nothing is started).

    ``slots``: the arbiter the Strava engines of one app share (one per account).
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
    outcomes = Outcomes(config=config, store=store, timing=pacing, owner=owner, gates=gates,
                        payloads=payloads, times=times)
    listing = Listing(client=client, store=store, clock=clock, timing=pacing, rng=jitter)
    follower = Follower(store=store, clock=clock, timing=pacing, owner=owner, gates=gates,
                        outcomes=outcomes, times=times, client=client, governor=governor,
                        rng=jitter, listing=listing)
    transfer = Transfer(config=config, store=store, clock=clock, timing=pacing, owner=owner,
                        gates=gates, payloads=payloads, outcomes=outcomes, times=times,
                        client=client, governor=governor, validator=judge, rng=jitter,
                        reserve=follower.reads_to_keep)
    parts = EngineParts(owner=owner, gates=gates, payloads=payloads, times=times,
                        outcomes=outcomes, follower=follower, transfer=transfer)
    return Engine(config=config, store=store, parts=parts, clock=clock, validator=judge,
                  timing=pacing, rng=jitter, account=account, slots=slots)


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


@contextlib.contextmanager
def open_engine(config: Config) -> Iterator[Engine]:
    """An engine wired to the real stack, stopped and closed on leaving (one-shot commands)."""
    stack = open_stack(config)
    try:
        yield stack.engine
    finally:
        stack.engine.stop(timeout=30.0)
        stack.close()
