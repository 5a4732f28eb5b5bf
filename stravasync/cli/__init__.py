"""Owns the command line: the ``stravasync`` group, its context, and the one place errors end.

Owns option parsing and how a failure looks to a person: an expected failure (any
:class:`~stravasync.errors.StravaSyncError`) prints one line, ``stravasync: <title>:
<message>``, and exits with the error's status; never a traceback. Each area's
commands live in ``stravasync/cli/<area>_cmd.py`` and import heavy modules inside the
command body, so ``stravasync --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from stravasync import __version__
from stravasync.cli.context import CONFIG_HELP, CliContext, accept_config_after
from stravasync.errors import StravaSyncError

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="STRAVASYNC_CONFIG",
    help=CONFIG_HELP,
)
@click.version_option(__version__, prog_name="stravasync")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """Upload workout files (FIT, GPX, TCX) to Strava, each exactly once."""
    from stravasync.logs import configure_logging

    configure_logging(human=True)
    ctx.obj = CliContext(config_path=config_path)


def _register() -> None:
    """Add each area's commands to the group (their modules import nothing heavy)."""
    from stravasync.cli import (
        auth_cmd,
        check_cmd,
        config_cmd,
        demo_cmd,
        emulator_cmd,
        retry_cmd,
        run_cmd,
        service_cmd,
        state_cmd,
        status_cmd,
        upload_cmd,
    )

    cli.add_command(auth_cmd.auth_command)
    cli.add_command(auth_cmd.logout_command)
    cli.add_command(check_cmd.check)
    cli.add_command(config_cmd.config_command)
    cli.add_command(emulator_cmd.emulator_command)
    cli.add_command(service_cmd.service)
    cli.add_command(demo_cmd.demo_command)
    cli.add_command(run_cmd.run_command)
    cli.add_command(state_cmd.state_group)
    cli.add_command(status_cmd.status_command)
    cli.add_command(retry_cmd.retry_command)
    cli.add_command(upload_cmd.upload_command)
    for command in cli.commands.values():
        accept_config_after(command)


_register()


def _fail(error: StravaSyncError) -> NoReturn:
    from stravasync.fsutil import legible
    from stravasync.logs import redact_text

    lines = [legible(line) for line in redact_text(str(error)).split("\n")] or [""]
    first, rest = lines[0], lines[1:]
    click.echo(f"stravasync: {error.title}: {first}", err=True)
    for line in rest:
        click.echo(line, err=True)
    sys.exit(error.exit_code)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``stravasync`` console script."""
    from stravasync.logs import redact_text

    try:
        status = cli.main(args=argv, prog_name="stravasync", standalone_mode=False)
    except StravaSyncError as error:
        _fail(error)
    except click.exceptions.Abort:
        click.echo("stravasync: aborted", err=True)
        sys.exit(130)
    except click.UsageError as error:
        error.show()
        sys.exit(error.exit_code)
    except click.ClickException as error:
        from stravasync.fsutil import legible

        click.echo(f"stravasync: {legible(redact_text(error.format_message()))}", err=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        click.echo("stravasync: interrupted", err=True)
        sys.exit(130)
    # click hands back ctx.exit()'s status instead of exiting when not standalone.
    sys.exit(status if isinstance(status, int) else 0)
