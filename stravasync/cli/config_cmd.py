"""``stravasync config``: show the effective configuration, or every problem in it."""

from __future__ import annotations

import json

import click

from stravasync.cli.context import CliContext, pass_context

__all__ = ["config_command"]


@click.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print the configuration as JSON.")
@click.option("--example", is_flag=True,
              help="Print the documented example configuration (a starting point) and exit.")
@pass_context
def config_command(obj: CliContext, *, as_json: bool, example: bool) -> None:
    """Print the effective configuration (secrets masked) and the file it came from.

    Exits 2, listing every problem with its key path, when the file is invalid.
    """
    if example:
        from stravasync.config.settings import example_config

        click.echo(example_config(), nl=False)
        return
    from stravasync.fsutil import legible
    from stravasync.intake.folders import folder_warnings

    config = obj.config()
    if not config.watch.paths:
        click.echo("# warning: [watch] paths is empty: the daemon will watch nothing", err=True)
    for warning in folder_warnings(config.watch.paths, recursive=config.watch.recursive):
        click.echo(f"# warning: {legible(warning)}", err=True)
    data = config.masked()
    accounts = config.masked_accounts()
    rules = config.masked_rules()
    if as_json:
        click.echo(json.dumps({"source": str(config.source), **data, "accounts": accounts,
                               "rules": rules}, indent=2))
        return
    click.echo(f"# configuration from {legible(str(config.source))}")
    for table, values in data.items():
        click.echo(f"\n[{table}]")
        for key, value in values.items():
            click.echo(f"{key} = {_toml_value(value)}")
    for account in accounts:
        click.echo("\n[[accounts]]")
        for key, value in account.items():
            click.echo(f"{key} = {_toml_value(value)}")
    for rule in rules:
        click.echo("\n[[rules]]")
        for key, value in rule.items():
            if key != "set":
                click.echo(f"{key} = {_toml_value(value)}")
        click.echo("[rules.set]")
        for key, value in rule["set"].items():
            click.echo(f"{key} = {_toml_value(value)}")


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(str(value))
