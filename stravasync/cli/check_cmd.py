"""``stravasync check FILE...``: validate workout files locally, and show what rules set.

No network. The configuration is read only for its ``[[rules]]``: where none exists
yet, files are judged all the same; an invalid one is reported (exit 2), since a
person trying their rules wants to know.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from stravasync.cli.context import CliContext, pass_context

if TYPE_CHECKING:
    from stravasync.config.accounts import Account
    from stravasync.config.rules import RuleSettings

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
    from stravasync.config.accounts import routes_for
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
        # Every account whose folders hold it (a file named by hand: the first account).
        to = routes_for(accounts, path.absolute()) or accounts[:1]
        each: list[tuple[Account | None, RuleSettings]] = [
            (account, settings_for(rules, path=path.absolute(), facts=result if ok else None,
                                   account=account.name, service=account.service))
            for account in to]
        if not each:  # no configuration: rules apply to nobody in particular
            each = [(None, settings_for(rules, path=path.absolute(),
                                        facts=result if ok else None))]
        if as_json:
            data = result.as_json(path)
            data["path"] = shown(path)
            data["facts"] = {key: data.get(key) for key in _FACTS}
            service = each[0][0].service if each[0][0] is not None else None
            data["rules"] = each[0][1].for_service(service).as_json()
            data["matched_rules"] = list(each[0][1].matched)
            if accounts:
                data["accounts"] = [_account_json(a, settings) for a, settings in each
                                    if a is not None]
            click.echo(json.dumps(data, ensure_ascii=False))
        else:
            line = f"{shown(path)}: {result.verdict.value} \u2014 {result.summary()}"
            if rules and ok:
                line += "".join(_rules_text(a, settings, named=len(accounts) > 1)
                                for a, settings in each)
            click.echo(legible(line))
        all_ok = all_ok and ok
    click.get_current_context().exit(0 if all_ok else 1)


def _rules_text(account: Account | None, settings: RuleSettings, *, named: bool) -> str:
    """``; rules: …`` for one account the file goes to (named when there are several),
    with the settings its service ignores (intervals.icu takes the name and description)."""
    service = account.service if account is not None else None
    where = ""
    if named and account is not None:
        where = f" for {account.name}" + (" (intervals.icu)" if service == "intervals" else "")
    text = f"; rules{where}: {settings.for_service(service).describe()}"
    ignored = settings.ignored_for(service)
    if ignored:
        text += f" ({', '.join(ignored)} ignored there: Strava only)"
    return text


def _account_json(account: Account, settings: RuleSettings) -> dict[str, Any]:
    """One entry of ``accounts`` in ``check --json``: what applies for that account."""
    return {"account": account.name, "service": account.service,
            "rules": settings.for_service(account.service).as_json(),
            "matched_rules": list(settings.matched),
            "ignored": settings.ignored_for(account.service)}
