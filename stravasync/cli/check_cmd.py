"""``stravasync check FILE...``: validate workout files locally, and show what rules set.

No network. The configuration is read only for its ``[[rules]]``: where none exists
yet, files are judged all the same; an invalid one is reported (exit 2), since a
person trying their rules wants to know.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from stravasync.cli.context import CliContext, pass_context

__all__ = ["check"]

_FACTS = ("format", "start_time", "sport", "duration_s", "distance_m", "points", "device")


@click.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_context
def check(obj: CliContext, files: tuple[Path, ...], as_json: bool) -> None:
    """Say whether Strava would accept each FILE (ok, invalid or skip), why, and the rules.

    Exit status 0 when every file is ok, 1 otherwise.
    """
    from stravasync.config.accounts import Account, routes_for
    from stravasync.config.rules import Rule, settings_for
    from stravasync.config.settings import resolve_config_path
    from stravasync.fsutil import legible, shown
    from stravasync.validate import Verdict, validate_path

    rules: tuple[Rule, ...] = ()
    accounts: tuple[Account, ...] = ()
    if resolve_config_path(obj.config_path).exists():
        rules, accounts = obj.config().rules, obj.config().accounts
    all_ok = True
    for path in files:
        result = validate_path(path)
        ok = result.verdict is Verdict.OK
        # The account whose folders hold it (a file named by hand: the first account).
        to = (routes_for(accounts, path.absolute()) or accounts)[:1]
        settings = settings_for(rules, path=path.absolute(), facts=result if ok else None,
                                account=to[0].name if to else None,
                                service=to[0].service if to else None)
        if as_json:
            data = result.as_json(path)
            data["path"] = shown(path)
            data["facts"] = {key: data.get(key) for key in _FACTS}
            data["rules"] = settings.as_json()
            data["matched_rules"] = list(settings.matched)
            click.echo(json.dumps(data, ensure_ascii=False))
        else:
            line = f"{shown(path)}: {result.verdict.value} \u2014 {result.summary()}"
            if rules and ok:
                line += f"; rules: {settings.describe()}"
            click.echo(legible(line))
        all_ok = all_ok and ok
    click.get_current_context().exit(0 if all_ok else 1)
