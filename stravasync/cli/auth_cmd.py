"""``stravasync auth`` and ``stravasync logout``: sign in to Strava, and sign out."""

from __future__ import annotations

import functools
import sys
import time
from typing import TYPE_CHECKING

import click

from stravasync.cli.context import CliContext, pass_context

if TYPE_CHECKING:
    from collections.abc import Callable

    from stravasync.config.accounts import Account
    from stravasync.config.settings import Config
    from stravasync.strava.tokens import TokenStore


@click.command("auth")
@click.option("--no-browser", is_flag=True,
              help="Print the authorization address instead of opening a browser; paste the "
                   "address the browser was sent to (or just the code) on stdin.")
@click.option("--code", "code", metavar="CODE",
              help="Exchange an authorization code obtained by hand (or the redirected "
                   "address holding it) and exit.")
@click.option("--timeout", type=click.FloatRange(min=1.0), default=300.0, show_default=True,
              help="Seconds to wait for Strava's answer.")
@click.option("--port", type=click.IntRange(0, 65535), default=0,
              help="Port of the local listener Strava redirects to (default: any free one). "
                   "Fix it to forward it over SSH first: ssh -L 8765:localhost:8765 HOST.")
@click.option("--account", "account_name", metavar="NAME",
              help="The [[accounts]] entry to sign in; for an intervals.icu account, check "
                   "its API key with one call and say whose account it is.")
@pass_context
def auth_command(obj: CliContext, *, no_browser: bool, code: str | None,
                 timeout: float, port: int, account_name: str | None) -> None:
    """Sign in to Strava and store the tokens (scope read,activity:write,activity:read_all)."""
    from stravasync.errors import ConfigError
    from stravasync.stack import open_account_tokens, open_governor, open_tokens
    from stravasync.strava.oauth import OAuthClient
    from stravasync.strava.signin import sign_in, sign_in_with_code

    config = obj.config()
    account = None
    if account_name is not None:
        account = _named_account(config, account_name)
        if account.service == "intervals":
            _check_intervals_key(config, account)
            return
    if not config.strava.client_secret:
        raise ConfigError(
            "Signing in needs the Strava application's client secret. Set [strava] "
            "client_secret or client_secret_file in the config, or $STRAVASYNC_CLIENT_SECRET "
            "(see https://www.strava.com/settings/api)."
        )
    if not config.strava.client_id:
        raise ConfigError("Signing in needs [strava] client_id in the config.")
    # A named account signs in to its own folder (checked against the athlete it records);
    # without a name, the one Strava account of today's configurations.
    tokens = (open_account_tokens(config, account) if account is not None
              else open_tokens(config))
    with OAuthClient(config=config.strava) as oauth:
        if code is not None:
            result = sign_in_with_code(oauth=oauth, tokens=tokens, code_or_url=code)
        else:
            result = sign_in(
                oauth=oauth, tokens=tokens, client_id=config.strava.client_id,
                oauth_url=config.strava.oauth_url, open_browser=not no_browser,
                timeout=timeout, echo=click.echo, port=port,
                # Read a pasted address even when a browser was opened: on a headless
                # machine "opening" may succeed without anything appearing.
                stdin=sys.stdin,
            )
    # A new sign-in may have cured an athlete cap; rate-limit pauses stay.
    open_governor(config).clear_pauses(reasons=("athlete_limit",))
    who = f"{result.athlete.name} (athlete {result.athlete.id})" if result.athlete else (
        "your Strava account")
    scope = result.scope or "unknown scopes (a bare code was given)"
    until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(result.expires_at))
    click.echo(f"Signed in to Strava as {who} with {scope}.")
    click.echo(f"Tokens stored in {tokens.path}; they renew automatically (next by {until}).")


def _named_account(config: Config, name: str) -> Account:
    """The ``[[accounts]]`` entry named ``name``, or a usage error listing the names."""
    account = next((a for a in config.accounts if a.name == name), None)
    if account is None:
        raise click.UsageError(f"no account is named {name!r} (accounts: "
                               f"{', '.join(a.name for a in config.accounts)})")
    return account


def _check_intervals_key(config: Config, account: Account) -> None:
    """``auth --account`` for intervals.icu: one call names the key's athlete."""
    from stravasync.intervals.keycheck import check_key
    from stravasync.state.runlock import nudge

    athlete = check_key(account, accounts=config.accounts, state_dir=config.state_dir)
    who = f"{athlete.name} ({athlete.id})" if athlete.name else athlete.id
    click.echo(f"The intervals.icu key of account {account.name} works: it belongs to {who}.")
    if nudge(config.state_dir, reload=True):
        click.echo("The running daemon reads the configuration again and uses this key now.")


@click.command("logout")
@click.option("--account", "account_name", metavar="NAME",
              help="The [[accounts]] entry to sign out (a Strava account).")
@pass_context
def logout_command(obj: CliContext, *, account_name: str | None) -> None:
    """Revoke the tokens at Strava and delete them here (every Strava account, or one)."""
    from stravasync.stack import open_account_tokens, open_tokens

    config = obj.config()
    if account_name is None and len(config.accounts) > 1:
        # No account named: every Strava account signs out, each as its own athlete.
        for account in config.accounts:
            if account.service == "strava":
                _logout(config, account.name, open_account_tokens(config, account),
                        say=functools.partial(_say_for, account.name))
        return
    if account_name is None:
        tokens = open_tokens(config)
    else:
        account = _named_account(config, account_name)
        if account.service == "intervals":
            raise click.UsageError(
                f"{account_name} is an intervals.icu account: it holds no sign-in here, only "
                "its API key; revoke the key on intervals.icu (Settings, Developer) and delete "
                "it where the configuration reads it")
        tokens = open_account_tokens(config, account)
    _logout(config, account_name, tokens, say=click.echo)


def _say_for(name: str, text: str) -> None:
    """One line about one account of several."""
    click.echo(f"{name}: {text}")


def _logout(config: Config, account_name: str | None, tokens: TokenStore, *,
            say: Callable[[str], None]) -> None:
    """Revoke one account's tokens at Strava (unless they are another athlete's), delete them."""
    from stravasync.errors import ApiError, AuthError, ConfigError
    from stravasync.strava.oauth import REVOKE_BY_HAND, OAuthClient

    try:
        stored = tokens.stored_tokens()
    except AuthError as exc:  # a damaged token file: nothing to revoke with, remove it
        tokens.delete()
        say(f"Deleted the unreadable token file ({tokens.path}): {exc}. {REVOKE_BY_HAND}")
        return
    if stored is None:
        say("Not signed in: no tokens stored.")
        return
    crossed = None if account_name is None else _not_its_own(config, account_name, tokens)
    if crossed is not None:
        # Revoking would sign that athlete out of their own account too: only delete here.
        tokens.delete()
        say(f"Deleted the local tokens ({tokens.path}); they were not signed out at "
            f"Strava, because {crossed}.")
        return
    try:
        with OAuthClient(config=config.strava) as oauth:
            outcome = oauth.revoke(access_token=stored.access_token,
                                   refresh_token=stored.refresh_token,
                                   expires_at=stored.expires_at)
    except (ApiError, ConfigError) as exc:
        told = f"Strava could not be told ({exc}). {REVOKE_BY_HAND}"
    else:
        if outcome.confirmed:
            told = " ".join(p for p in ("Strava confirmed the sign-out.", outcome.note) if p)
        else:
            told = f"Strava did not confirm the sign-out: {outcome.note} {REVOKE_BY_HAND}"
    tokens.delete()
    say(f"Deleted the local tokens ({tokens.path}). {told}")


def _not_its_own(config: Config, account: str, tokens: TokenStore) -> str | None:
    """Why the sign-in stored for ``account`` is not its own athlete's, or None (read only)."""
    from stravasync.state.accounts import crossing_problem

    status = tokens.status()
    if status is None or status.athlete_id is None:
        return None
    return crossing_problem(config.state_dir, config.accounts, account=account,
                            service="strava", athlete_id=str(status.athlete_id))
