"""What every command can reach: the ``--config`` choice and a lazily loaded config.

Owns :class:`CliContext` and :data:`pass_context`. The command modules import it from
here, and ``stravasync.cli`` imports the command modules: the arrows run one way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from stravasync.config.settings import Config

__all__ = ["CONFIG_HELP", "CliContext", "accept_config_after", "pass_context"]


@dataclass
class CliContext:
    """What every command can reach: the ``--config`` choice and a lazily loaded config."""

    config_path: Path | None = None
    _config: Config | None = field(default=None, repr=False)

    def config(self, *, human: bool = True) -> Config:
        """Load (once) and return the configuration; sets up logging from it.

        ``human``: the command prints for a person on stdout, so its log events go to
        stderr as readable console lines, warnings and errors only, whatever ``[log]``
        says (``format`` and ``level`` are the daemon's), and each configuration
        warning is one ``stravasync: warning: ...`` line. The daemon (``run``) passes
        False: its log is its output, and a warning is a ``config_warning`` event.
        """
        if self._config is None:
            from stravasync.config.settings import load_config
            from stravasync.fsutil import legible
            from stravasync.logs import configure_logging, get_logger

            self._config = load_config(self.config_path)
            configure_logging(fmt=self._config.log.format, level=self._config.log.level,
                              human=human)
            for warning in self._config.warnings:
                if human:
                    click.echo(f"stravasync: warning: {legible(warning)}", err=True)
                else:
                    get_logger().warning("config_warning", message=warning)
        return self._config


pass_context = click.make_pass_decorator(CliContext)
"""Hands a command the :class:`CliContext`."""

CONFIG_HELP = "Configuration file (default: $STRAVASYNC_CONFIG, else the user config dir)."


def _take_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.ensure_object(CliContext).config_path = value


def accept_config_after(command: click.Command) -> None:
    """Let ``--config PATH`` follow the command name too (``stravasync status --config X``)."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            accept_config_after(sub)
        return
    command.params.append(click.Option(
        ["--config", "config_path"], type=click.Path(dir_okay=False, path_type=Path),
        expose_value=False, callback=_take_config, help=CONFIG_HELP))
