"""``stravasync service install|uninstall|status``: autostart for the current user."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from stravasync.cli.context import CliContext, pass_context

if TYPE_CHECKING:
    from stravasync.config.settings import Config

__all__ = ["service"]


@click.group("service")
def service() -> None:
    """Run stravasync in the background: systemd user unit (Linux) or launchd agent (macOS)."""


@service.command("install")
@pass_context
def install(obj: CliContext) -> None:
    """Install, enable and start the service (with --config, it runs with that file).

    Where systemd/launchd cannot be reached (containers, no user session) the file is
    still written and the commands to start it later are printed. The configuration
    is checked first: a service that would exit at once is not installed.
    """
    from stravasync.service.autostart import autostart_for

    config = obj.config()  # a missing or invalid config stops here, with every problem
    for warning in service_warnings(config):
        click.echo(f"warning: {warning}", err=True)
    outcome = autostart_for().install(config_path=obj.config_path)
    for line in outcome.lines:
        click.echo(line)


def service_warnings(config: Config) -> list[str]:
    """What would make the installed service fail or do nothing, said up front."""
    from stravasync.cli.config_cmd import folder_warnings
    from stravasync.fsutil import legible
    from stravasync.stack import open_tokens
    from stravasync.state.runlock import lock_holder

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
    warnings.extend(folder_warnings(config))
    private_tmp = [p for p in (*config.watch.paths, config.state_dir)
                   if p.is_relative_to("/tmp") or p.is_relative_to("/var/tmp")]  # noqa: S108
    if private_tmp:
        warnings.append("the service runs with a private /tmp and cannot see "
                        + ", ".join(str(p) for p in private_tmp))
    return warnings


@service.command("uninstall")
def uninstall() -> None:
    """Stop and disable the service, and remove its file."""
    from stravasync.service.autostart import autostart_for

    for line in autostart_for().uninstall().lines:
        click.echo(line)


@service.command("status")
@click.pass_context
def status(ctx: click.Context) -> None:
    """Say whether the service is installed and what systemd/launchd reports.

    Exit status 0 when installed, 1 when not.
    """
    from stravasync.service.autostart import autostart_for

    outcome = autostart_for().status()
    for line in outcome.lines:
        click.echo(line)
    ctx.exit(0 if outcome.installed else 1)
