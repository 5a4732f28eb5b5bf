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
    from stravasync.config import Config

__all__ = ["CliContext", "pass_context"]


@dataclass
class CliContext:
    """What every command can reach: the ``--config`` choice and a lazily loaded config."""

    config_path: Path | None = None
    _config: Config | None = field(default=None, repr=False)

    def config(self) -> Config:
        """Load (once) and return the configuration; sets up logging from it."""
        if self._config is None:
            from stravasync.config import load_config
            from stravasync.logs import configure_logging, get_logger

            self._config = load_config(self.config_path)
            configure_logging(fmt=self._config.log.format, level=self._config.log.level)
            for warning in self._config.warnings:
                get_logger().warning("config_warning", message=warning)
        return self._config


pass_context = click.make_pass_decorator(CliContext)
"""Hands a command the :class:`CliContext`."""
