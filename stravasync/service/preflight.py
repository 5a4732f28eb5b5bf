"""Owns what is checked before the service is installed: what would make it fail or idle.

``service install`` prints each as a warning and installs anyway; nothing here changes
anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stravasync.fsutil import legible
from stravasync.intake.folders import folder_warnings
from stravasync.stack import open_tokens
from stravasync.state.runlock import lock_holder

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
    if open_tokens(config).status() is None:
        warnings.append("not signed in yet: run `stravasync auth`; until then the service "
                        "watches and queues files but uploads nothing")
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
