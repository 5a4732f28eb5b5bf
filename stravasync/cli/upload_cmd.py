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
@pass_context
def upload_command(obj: CliContext, *, files: tuple[Path, ...]) -> None:
    """Upload each FILE now and wait until Strava has made it an activity.

    Prints the activity's address per file (or why not). Exit status 0 when every
    file is on Strava (uploaded or already there), 1 otherwise.
    """
    from stravasync.fsutil import legible
    from stravasync.logs import get_logger
    from stravasync.service.oneshot import upload_files

    config = obj.config()
    log = get_logger("stravasync.upload")
    # A path that does not exist is a typo, not a file to wait for: say so, record nothing.
    missing = {path for path in files if not os.path.exists(path)}
    report = upload_files(config, [path for path in files if path not in missing])
    said = iter(report.files)
    for path in files:
        click.echo(legible(f"{path}: not found") if path in missing
                   else _line(next(said)))
    good = sum(1 for f in report.files if f.on_strava)
    outcome = report.outcome
    log.info("upload_summary", files=len(files), on_strava=good, failed=len(files) - good,
             not_found=len(missing), outcome=outcome.status if outcome is not None else "done")
    if outcome is not None and outcome.fatal is not None:
        raise outcome.fatal
    click.get_current_context().exit(0 if good == len(files) else 1)


def _line(report: FileReport) -> str:
    """One file's line: its activity, or its state and why."""
    from stravasync.fsutil import legible
    from stravasync.models import State
    from stravasync.service.once import describe_time

    name = legible(report.path)  # undecodable bytes and control characters escaped
    if report.url is not None:
        return (f"{name}: {report.url}" if report.state is State.UPLOADED
                else f"{name}: duplicate of {report.url}")
    if report.waiting:
        when = describe_time(report.next_attempt)
        later = f"; next attempt {when}" if when else ""
        return (f"{name}: {report.state.value}: not finished{later}"
                + (f" ({report.error})" if report.error else ""))
    return f"{name}: {report.state.value}: {report.error or 'no reason given'}"
