"""Owns ``stravasync upload FILE...``: send the named files now, wait, say what each came to.

One-shot, sharing the state store with the daemon: a file the store already knows
is not sent again (its activity is reported), and one the daemon is sending is
waited for rather than sent twice. ``watch.max_age_days`` does not apply to files
named here. The command prints what :func:`upload_files` reports.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stravasync.config.settings import Config
from stravasync.household import Household, open_accounts
from stravasync.owner.attention import activity_url
from stravasync.stack import require_sign_in
from stravasync.state import ACTIVE_STATES, State
from stravasync.upload.engine import WaitResult
from stravasync.upload.polling import next_attempt_at

if TYPE_CHECKING:
    from stravasync.intake.ingest import Submitted
    from stravasync.state import FileStatus
    from stravasync.upload.router import Lane, Router

__all__ = ["FileReport", "UploadReport", "upload_files"]


@dataclass(frozen=True)
class FileReport:
    """What one named file came to."""

    path: str
    """The file's absolute path, as the store knows it."""
    state: State
    """Its state when the command stopped waiting."""
    url: str | None = None
    """The activity's address, once Strava holds it."""
    error: str | None = None
    """Why it is not on Strava (or why it waits)."""
    waiting: bool = False
    """Work on it is left for later (the rate limit, a backoff)."""
    next_attempt: float | None = None
    """For ``waiting``: when it is tried next (Unix time; never in the past)."""
    account: str = "me"
    """The account this report is about (one report per file and account)."""

    @property
    def on_strava(self) -> bool:
        """Strava holds it (uploaded, or already there)."""
        return self.url is not None


@dataclass(frozen=True)
class UploadReport:
    """What ``upload`` did: one report per file, in the order named."""

    files: list[FileReport]
    outcome: WaitResult | None
    """Why waiting ended; None when nothing had to be waited for."""


def upload_files(config: Config, files: Sequence[Path], *,
                 account: str | None = None) -> UploadReport:
    """Submit ``files`` (each exists) and wait until each is final or left for later.

    Each file goes to the accounts whose folders hold it, or to ``account`` when one is
    named; with one account, to it wherever the file lies (as in 0.2). A file no
    account holds is reported ``skipped`` with the way out (``--account``). One report
    per file and account, in the order named.
    """
    if not files:
        return UploadReport([], None)
    require_sign_in(config)
    with open_accounts(config) as house:
        router = house.router
        plans = [(path, _lanes_for(router, path, account)) for path in files]
        submitted: dict[tuple[int, str], Submitted] = {}
        waiting: dict[str, list[str]] = {lane.name: [] for lane in router.lanes}
        for i, (path, lanes) in enumerate(plans):
            for lane in lanes:
                sub = lane.engine.submit(path, ignore_age=True, writer_done=True)
                submitted[(i, lane.name)] = sub
                if sub.sha256 and sub.state in ACTIVE_STATES:
                    waiting[lane.name].append(sub.sha256)
        for lane in router.lanes:
            lane.engine.focus(waiting[lane.name])
        outcome = None
        if any(waiting.values()):
            router.start()
            outcome = router.wait_idle(only=waiting)
            router.stop(timeout=30.0)
        reports: list[FileReport] = []
        entries = {lane.name: {f.path: f for f in lane.store.files()} for lane in router.lanes
                   if any(lane in lanes for _path, lanes in plans)}  # one read per store
        for i, (path, lanes) in enumerate(plans):
            if not lanes:
                reports.append(FileReport(
                    os.path.realpath(path), State.SKIPPED, error=(
                        "no account's folders hold this file: name the account with "
                        "--account NAME")))
            for lane in lanes:
                sub = submitted[(i, lane.name)]
                reports.append(_report(config, house, lane, sub,
                                       entry=entries[lane.name].get(sub.path), outcome=outcome))
    return UploadReport(reports, outcome)


def _lanes_for(router: Router, path: Path, account: str | None) -> tuple[Lane, ...]:
    """Where a named file goes: the named account, its routes, or the only account."""
    if account is not None:
        return (router.lane(account),)
    routed = router.lanes_for(os.path.abspath(path))
    if not routed and len(router.lanes) == 1:
        return router.lanes  # one account: any file named goes to it, as in 0.2
    return routed


def _report(config: Config, house: Household, lane: Lane, sub: Submitted,
            *, entry: FileStatus | None, outcome: WaitResult | None) -> FileReport:
    """What one file came to on one account (``entry``: its status row, if listed)."""
    store = lane.store
    state = entry.state if entry is not None else sub.state
    planned = entry.next_attempt_at if entry is not None else None
    polled = entry is not None and (entry.upload_id is not None or state is State.UPDATING)
    activity = entry.activity_id if entry is not None else None
    error = (entry.error if entry is not None else None) or sub.error
    workout = store.workout(sub.sha256) if sub.sha256 else None
    if entry is None and workout is not None:
        # upload.after moved or deleted the file once its activity was recorded.
        state, activity, error = workout.state, workout.activity_id, workout.error
    name = lane.name
    if state in (State.UPLOADED, State.DUPLICATE) and activity is not None:
        url = (intervals_activity_url(lane.account.api_url, activity)
               if lane.account.service == "intervals"
               else activity_url(config.strava.api_url, activity))
        return FileReport(sub.path, state, url=url, account=name)
    if state in ACTIVE_STATES and outcome is not None:
        now = time.time()
        paused = (house.governor.paused_until("read" if polled else "upload", now=now)
                  if lane.account.service == "strava" else None)
        return FileReport(sub.path, state, error=error, waiting=True, account=name,
                          next_attempt=next_attempt_at(planned, paused_until=paused, now=now))
    return FileReport(sub.path, state, error=error, account=name)


def intervals_activity_url(api_url: str, activity: int | str) -> str:
    """The web page of an intervals.icu activity, beside the API at ``api_url``."""
    base = api_url.split("/api/", 1)[0].rstrip("/")
    return f"{base}/activities/i{activity}"  # its ids are "i" and a number; we keep the number
