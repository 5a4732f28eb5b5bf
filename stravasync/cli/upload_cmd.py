"""``stravasync upload FILE...``: validate, upload and wait for each file, print its activity.

One-shot, sharing the state store with the daemon: a file the store already knows
is not sent again (its activity is printed), and one the daemon is sending is
waited for rather than sent twice. ``watch.max_age_days`` does not apply to files
named here. Each file gets one line on stdout: ``PATH: https://…/activities/N``,
``PATH: STATE: reason``, or ``PATH: not found`` for a path that does not exist (a
mistyped name: nothing is recorded for it). Exit 0 when every file is uploaded or a
duplicate, else 1.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from stravasync.cli.context import CliContext, pass_context

if TYPE_CHECKING:
    from stravasync.config.settings import Config
    from stravasync.upload.engine import Outcome

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
    from stravasync.stack import require_sign_in

    config = obj.config()
    log = get_logger("stravasync.upload")
    # A path that does not exist is a typo, not a file to wait for: say so, record nothing.
    missing = {path for path in files if not os.path.exists(path)}
    present = [path for path in files if path not in missing]
    good: int = 0
    outcome: Outcome | None = None
    reported: list[str] = []
    if present:
        require_sign_in(config)
        good, outcome, reported = _upload(config, present)
    said = iter(reported)
    for path in files:
        click.echo(legible(f"{path}: not found" if path in missing else next(said)))
    log.info("upload_summary", files=len(files), on_strava=good, failed=len(files) - good,
             not_found=len(missing), outcome=outcome.status if outcome is not None else "done")
    if outcome is not None and outcome.fatal is not None:
        raise outcome.fatal
    click.get_current_context().exit(0 if good == len(files) else 1)


def _upload(config: Config, files: list[Path]) -> tuple[int, Outcome | None, list[str]]:
    """Submit ``files`` and wait for them: (how many are on Strava, outcome, a line each)."""
    from stravasync.cli.run_cmd import describe_next
    from stravasync.fsutil import shown
    from stravasync.owner.attention import activity_url
    from stravasync.stack import open_engine
    from stravasync.state import ACTIVE_STATES, State

    good = 0
    lines: list[str] = []
    with open_engine(config) as engine:
        submitted = [engine.submit(path, ignore_age=True, writer_done=True) for path in files]
        waiting = [s.sha256 for s in submitted if s.sha256 and s.state in ACTIVE_STATES]
        engine.focus(waiting)
        outcome = None
        if waiting:
            engine.start()
            outcome = engine.wait_idle(only=waiting)
            engine.stop(timeout=30.0)
        entries = {f.path: f for f in engine.store.files()}
        for sub in submitted:
            name = shown(sub.path)  # a name that is not UTF-8, escaped (issue 10)
            entry = entries.get(sub.path)
            state = entry.state if entry is not None else sub.state
            activity = entry.activity_id if entry is not None else None
            error = (entry.error if entry is not None else None) or sub.error
            workout = engine.store.workout(sub.sha256) if sub.sha256 else None
            if entry is None and workout is not None:
                # upload.after moved or deleted the file once its activity was recorded.
                state, activity, error = workout.state, workout.activity_id, workout.error
            if state in (State.UPLOADED, State.DUPLICATE) and activity is not None:
                good += 1
                url = activity_url(config.strava.api_url, activity)
                lines.append(f"{name}: {url}" if state is State.UPLOADED
                             else f"{name}: duplicate of {url}")
            elif state in ACTIVE_STATES and outcome is not None:
                when = describe_next(outcome)
                later = f"; next attempt {when}" if when else ""
                lines.append(f"{name}: {state.value}: not finished{later}"
                             + (f" ({error})" if error else ""))
            else:
                lines.append(f"{name}: {state.value}: {error or 'no reason given'}")
    return good, outcome, lines

