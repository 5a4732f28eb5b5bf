"""Owns what is checked before the service is installed: what would make it fail or idle.

``service install`` prints each as a warning and installs anyway; nothing here changes
anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stravasync.config.accounts import key_variable
from stravasync.fsutil import legible
from stravasync.intake.folders import folder_warnings
from stravasync.state.accounts import account_folders
from stravasync.state.runlock import lock_holder
from stravasync.strava.tokens import TokenStore

if TYPE_CHECKING:
    from stravasync.config.settings import Config

__all__ = ["service_warnings"]


def service_warnings(config: Config) -> list[str]:
    """What would make the installed service fail or do nothing, said up front."""
    warnings: list[str] = []
    holder = lock_holder(config.state_dir)
    if holder is not None:
        pid = f"pid {holder}" if holder else "another process"
        warnings.append(f"stravasync already runs for {legible(config.state_dir)} ({pid}), "
                        "in the foreground or by hand: stop it first (Ctrl-C where it runs); "
                        "until it stops, the service finds the state folder taken, cannot "
                        "start, and is tried again every 30 seconds")
    warnings.extend(_sign_in_warnings(config))
    if config.strava.client_secret_source == "env":  # noqa: S105 - a source name
        warnings.append("the client secret comes from $STRAVASYNC_CLIENT_SECRET, which the "
                        "service does not see: set client_secret_file in the config, or the "
                        "access token cannot be renewed after 6 hours")
    if not config.watch.paths:
        warnings.append("[watch] paths is empty: the service will watch nothing")
    warnings.extend(folder_warnings(config.watch.paths, recursive=config.watch.recursive))
    private_tmp = [p for p in (*config.watch.paths, config.state_dir)
                   if p.is_relative_to("/tmp") or p.is_relative_to("/var/tmp")]  # noqa: S108
    if private_tmp:
        warnings.append("the service runs with a private /tmp and cannot see "
                        + ", ".join(str(p) for p in private_tmp))
    return warnings


def _sign_in_warnings(config: Config) -> list[str]:
    """Each account that could not send yet: signed out (Strava) or without a key."""
    if len(config.accounts) == 1 and config.accounts[0].service == "strava":
        if TokenStore(state_dir=config.state_dir).status() is None:
            return ["not signed in yet: run `stravasync auth`; until then the service "
                    "watches and queues files but uploads nothing"]
        return []
    folders = account_folders(config.state_dir, config.accounts)
    warnings: list[str] = []
    for account in config.accounts:
        if account.service == "strava" and TokenStore(
                state_dir=folders[account.name]).status() is None:
            warnings.append(f"account {account.name} is not signed in yet: run `stravasync "
                            f"auth --account {account.name}`; until then its files wait")
        elif account.service == "intervals" and not account.api_key:
            warnings.append(f"account {account.name} has no intervals.icu API key: set "
                            f"api_key_file or ${key_variable(account.name)}; until then its "
                            "files wait")
        elif account.service == "intervals" and account.api_key_source == "env":
            warnings.append(f"account {account.name} takes its key from "
                            f"${key_variable(account.name)}, which the service does not see: "
                            "set api_key_file instead")
    return warnings
