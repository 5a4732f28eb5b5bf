"""Owns ``stravasync upload FILE...``: send the named files now, wait, say what each came to.

One-shot, sharing the state store with the daemon: a file the store already knows
is not sent again (its activity is reported), and one the daemon is sending is
waited for rather than sent twice. ``watch.max_age_days`` does not apply to files
named here. The command prints what :func:`upload_files` reports.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from stravasync.config.settings import Config
from stravasync.owner.attention import activity_url
from stravasync.stack import open_engine, open_governor, require_sign_in
from stravasync.state import ACTIVE_STATES, State
from stravasync.upload.engine import WaitResult
from stravasync.upload.polling import next_attempt_at

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


def upload_files(config: Config, files: Sequence[Path]) -> UploadReport:
    """Submit ``files`` (each exists) and wait until each is final or left for later."""
    if not files:
        return UploadReport([], None)
    require_sign_in(config)
    reports: list[FileReport] = []
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
        governor = open_governor(config)
        for sub in submitted:
            entry = entries.get(sub.path)
            state = entry.state if entry is not None else sub.state
            planned = entry.next_attempt_at if entry is not None else None
            polled = entry is not None and (entry.upload_id is not None
                                            or state is State.UPDATING)
            activity = entry.activity_id if entry is not None else None
            error = (entry.error if entry is not None else None) or sub.error
            workout = engine.store.workout(sub.sha256) if sub.sha256 else None
            if entry is None and workout is not None:
                # upload.after moved or deleted the file once its activity was recorded.
                state, activity, error = workout.state, workout.activity_id, workout.error
            if state in (State.UPLOADED, State.DUPLICATE) and activity is not None:
                url = activity_url(config.strava.api_url, activity)
                reports.append(FileReport(sub.path, state, url=url))
            elif state in ACTIVE_STATES and outcome is not None:
                now = time.time()
                paused = governor.paused_until("read" if polled else "upload", now=now)
                reports.append(FileReport(
                    sub.path, state, error=error, waiting=True,
                    next_attempt=next_attempt_at(planned, paused_until=paused, now=now)))
            else:
                reports.append(FileReport(sub.path, state, error=error))
    return UploadReport(reports, outcome)
