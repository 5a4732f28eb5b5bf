"""``stravasync service install|uninstall|status``: autostart for the current user."""

from __future__ import annotations

import click

from stravasync.cli.context import CliContext, pass_context

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
    from stravasync.service.preflight import service_warnings

    config = obj.config()  # a missing or invalid config stops here, with every problem
    for warning in service_warnings(config):
        click.echo(f"warning: {warning}", err=True)
    outcome = autostart_for().install(config_path=obj.config_path)
    for line in outcome.lines:
        click.echo(line)


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
