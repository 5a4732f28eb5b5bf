"""``stravasync upload FILE...``: validate, upload and wait for each file, print its activity.

What is done and waited for is :mod:`stravasync.service.oneshot`'s; this prints it.
Each file gets one line on stdout: ``PATH: https://…/activities/N``, ``PATH: STATE:
reason``, or ``PATH: not found`` for a path that does not exist (a mistyped name:
nothing is recorded for it). Exit 0 when every file is uploaded or a duplicate, else 1.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from stravasync.cli.context import CliContext, pass_context

if TYPE_CHECKING:
    from stravasync.service.oneshot import FileReport

__all__ = ["upload_command"]


@click.command("upload")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--account", "account_name", metavar="NAME",
              help="Send to this account (default: every account whose folders hold the file).")
@pass_context
def upload_command(obj: CliContext, *, files: tuple[Path, ...], account_name: str | None) -> None:
    """Upload each FILE now and wait until Strava has made it an activity.

    Prints the activity's address per file (or why not); with several accounts, one
    line per file and account. Exit status 0 when every file is on every account it
    goes to (uploaded or already there), 1 otherwise.
    """
    from stravasync.fsutil import legible
    from stravasync.logs import get_logger
    from stravasync.service.oneshot import upload_files

    config = obj.config()
    log = get_logger("stravasync.upload")
    # A path that does not exist is a typo, not a file to wait for: say so, record nothing.
    missing = {path for path in files if not os.path.exists(path)}
    report = upload_files(config, [path for path in files if path not in missing],
                          account=account_name)
    several = len(config.accounts) > 1
    said = iter(_per_file(report.files))
    for path in files:
        if path in missing:
            click.echo(legible(f"{path}: not found"))
            continue
        for entry in next(said):
            click.echo(_line(entry, account=several))
    good = sum(1 for f in report.files if f.on_strava)
    outcome = report.outcome
    log.info("upload_summary", files=len(files), on_strava=good,
             failed=len(report.files) - good + len(missing),
             not_found=len(missing), outcome=outcome.status if outcome is not None else "done")
    if outcome is not None and outcome.fatal is not None:
        raise outcome.fatal
    ok = not missing and good == len(report.files)
    click.get_current_context().exit(0 if ok else 1)


def _per_file(reports: list[FileReport]) -> list[list[FileReport]]:
    """The reports of each named file (one per account it went to), in the order named."""
    groups: list[list[FileReport]] = []
    for entry in reports:
        last = groups[-1] if groups else None
        if last is not None and last[0].path == entry.path and \
                entry.account not in {r.account for r in last}:
            last.append(entry)
        else:
            groups.append([entry])
    return groups


def _line(report: FileReport, *, account: bool = False) -> str:
    """One file's line: its activity, or its state and why (naming the account)."""
    from stravasync.fsutil import legible
    from stravasync.models import State
    from stravasync.service.once import describe_time

    name = legible(report.path)  # undecodable bytes and control characters escaped
    if account:
        name = f"{name} [{report.account}]"
    if report.url is not None:
        return (f"{name}: {report.url}" if report.state is State.UPLOADED
                else f"{name}: duplicate of {report.url}")
    if report.waiting:
        when = describe_time(report.next_attempt)
        later = f"; next attempt {when}" if when else ""
        return (f"{name}: {report.state.value}: not finished{later}"
                + (f" ({report.error})" if report.error else ""))
    return f"{name}: {report.state.value}: {report.error or 'no reason given'}"
