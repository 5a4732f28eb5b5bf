"""Telling the owner: one notice per cause, and the daemon's own account for ``status``.

Owns what the running daemon says about problems that need a person, so that it is
never silent and never repeats itself:

- a watched folder that became unusable, and its recovery;
- the engine halted by an error that needs a person (signed out, scope missing), or
  Strava refusing every call (inactive app, athlete cap), and their end;
- the state folder that cannot be written, and its recovery;
- a file that Strava refused or that is invalid, and each new activity, found by
  following the store's finished workouts (the store is the source of truth, so a
  file uploaded by ``stravasync upload`` is told too); a file problem leaves the list
  as soon as no path shows that content any more (replaced, finished, read again);
- an ``upload.after`` move that failed and is still owed, and its success.

With several accounts the daemon keeps one Attention per account, on that account's
folder, given its ``account`` name: every notice then names the account ("bob: Strava
sign-in needed") and the account's own problems (signed out, scope missing, the
athlete cap, an intervals.icu key refused) say how that account is mended
(``stravasync auth --account bob``). Without a name (one account) nothing changes.

Notices go through :class:`~stravasync.owner.notices.Notices` (once per cause, persisted);
``daemon.json`` (:mod:`stravasync.state.runlock`) carries the folders' health and the open
problems for ``status``. Nothing here calls Strava.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from stravasync import __version__
from stravasync.fsutil import shown
from stravasync.intake.folders import FolderHealth
from stravasync.logs import get_logger
from stravasync.models import ReasonCode, State
from stravasync.owner.needs import account_problem, open_file_problems, owed_text
from stravasync.owner.notices import Notices, error_cause, file_cause, folder_cause
from stravasync.state.runlock import DaemonInfo, write_info

if TYPE_CHECKING:
    from stravasync.errors import StravaSyncError
    from stravasync.state import Store, Workout

__all__ = ["Attention", "activity_url"]

log = get_logger(__name__)

WATERMARK_KEY = "notified_until"
"""Store meta: workouts finished up to this time were already told."""
_DEAD_ENDS = {"app_inactive": "auth:app_inactive", "athlete_limit": "auth:athlete_limit"}
_DEAD_END_TITLES = {"app_inactive": "Strava application inactive",
                    "athlete_limit": "Athlete limit reached"}
_FOLDER_PROBLEMS = ("unreadable", "not_a_folder")
_SERVICES = {"strava": "Strava", "intervals": "intervals.icu"}


def activity_url(api_url: str, activity_id: int) -> str:
    """The web page of an activity, next to the API at ``api_url``.

    Strava's API hosts (``www.strava.com``, ``api-v3.strava.com``…) map to
    ``https://www.strava.com``; any other host (the emulator) keeps its own base.
    """
    parts = urlsplit(api_url)
    host = (parts.hostname or "").lower()
    if host == "strava.com" or host.endswith(".strava.com"):
        return f"https://www.strava.com/activities/{activity_id}"
    return f"{parts.scheme}://{parts.netloc}/activities/{activity_id}"


class Attention:
    """The daemon's voice towards its owner (thread-safe)."""

    def __init__(
        self, *, notices: Notices, state_dir: Path, api_url: str,
        clock: Callable[[], float] = time.time, wake_signal: str | None = None,
        account: str | None = None, service: str = "strava",
    ) -> None:
        """``account``: the account's name when there are several (its notices and
        problems then name it); ``service``: where its files go (``strava`` or
        ``intervals``)."""
        self._notices = notices
        self._account = account
        self._service = service
        self._wake_signal = wake_signal
        self._state_dir = state_dir
        self._api_url = api_url
        self._clock = clock
        self._lock = threading.Lock()
        self._since = clock()
        self._health: dict[str, FolderHealth] = {}
        self._first_report: set[str] = set()
        self._problems: dict[str, str] = {}
        self._began: dict[str, float] = {}
        self._names: dict[str, str] = {}
        self._halt_cause: str | None = None
        self._list_mode: str | None = None

    # -- what the daemon reports -----------------------------------------------------------

    def folder(self, health: FolderHealth) -> None:
        """A watched folder's health changed (the watcher calls this once per change)."""
        key = str(health.path)
        cause = folder_cause(health.path)
        with self._lock:
            before = self._health.get(key)
            self._health[key] = health
            first = key not in self._first_report
            self._first_report.add(key)
        # A device unplugged after it worked is not a problem; one missing from the
        # start (a typo?) is, as is a folder that cannot be read.
        problem = health.state in _FOLDER_PROBLEMS or (health.state == "missing" and first)
        if problem:
            self._problem(cause, f"{shown(health.path)}: {health.error}",
                          title="Watched folder unusable")
        elif health.state == "ok" and before is not None and before.state != "ok":
            self._recovered(cause, f"{shown(health.path)} is watched again")
        self.publish()

    def state_unwritable(self, reason: str | None) -> None:
        """The state folder cannot be written (``reason``), or can again (None)."""
        if reason is None:
            self._recovered("state:unwritable", "the state folder can be written again")
        else:
            self._problem("state:unwritable",
                          f"the state folder {shown(self._state_dir)} cannot be written: "
                          f"{reason}; files are read again once it can",
                          title="State folder not writable")
        self.publish()

    def halted(self, error: StravaSyncError | None) -> None:
        """The engine's halt as it stands now (None: running)."""
        cause = error_cause(error) if error is not None else None
        if error is not None and cause is None:
            cause = "engine:halted"
        with self._lock:
            before, self._halt_cause = self._halt_cause, cause
        if cause == before:
            return
        if before is not None:
            self._recovered(before, "uploads resumed")
        if cause is not None and error is not None:
            title, words = self._words(cause) or (error.title, error.message)
            self._problem(cause, words, title=title)
        self.publish()

    def dead_end(self, reason: str | None, message: str = "") -> None:
        """Strava refuses every call for ``reason`` (a governor pause), or no longer."""
        for known, cause in _DEAD_ENDS.items():
            if known == reason:
                title, words = self._words(cause) or (
                    _DEAD_END_TITLES[known], message or _DEAD_END_TITLES[known])
                self._problem(cause, words, title=title)
            else:
                self._recovered(cause, "Strava accepts calls again")

    def list_mode(self, mode: str) -> None:
        """How uploads are followed now: ``list`` or ``single``."""
        with self._lock:
            changed, self._list_mode = self._list_mode != mode, mode
        if changed:
            self.publish()

    def finished(self, store: Store) -> None:
        """Tell the files that became activities, or were refused, since the last look."""
        raw = store.get_meta(WATERMARK_KEY)
        try:
            since = float(raw) if raw is not None else self._since
        except ValueError:
            since = self._since
        newest = since
        for w in store.finished_since(
                since, states=(State.UPLOADED, State.REJECTED, State.INVALID)):
            newest = max(newest, w.finished_at or since)
            self._tell_finished(w)
        if newest > since:
            store.set_meta(WATERMARK_KEY, repr(newest))
            self._forget_gone_files(store)

    def _forget_gone_files(self, store: Store) -> None:
        """A file problem whose content no path shows any more (replaced, finished, read
        again) leaves the list now, not at the next restart."""
        with self._lock:
            told = [c for c in self._problems if c.startswith("file:")]
        if not told:
            return
        standing = open_file_problems(store.files())
        for cause in told:
            if cause.removeprefix("file:") not in standing:
                name = self._names.get(cause, "a file")
                self._recovered(cause, f"{name} needs nothing more: it was replaced or "
                                       "read again")
        self.publish()

    def owed_moves(self, store: Store) -> None:
        """Tell each ``upload.after`` move that failed (once), and each that is done."""
        owed = {f"archive:{w.sha256}": w for w in store.owed_moves()}
        with self._lock:
            before = [c for c in self._problems if c.startswith("archive:")]
        for cause, w in owed.items():
            if cause not in before:
                self._problem(cause, owed_text(w), title="Archive move failed")
        for cause in before:
            if cause not in owed:
                self._recovered(cause, "an archive move owed is done")
        if owed or before:
            self.publish()

    def _words(self, cause: str) -> tuple[str, str] | None:
        """An account's own title and words for *cause* (None: one account, or none)."""
        return None if self._account is None else account_problem(cause,
                                                                   account=self._account)

    def _named(self, text: str) -> str:
        """*text* naming the account, when there are several."""
        return text if self._account is None else f"{self._account}: {text}"

    def _tell_finished(self, w: Workout) -> None:
        name = Path(w.path).name
        cause = file_cause(w.sha256)
        self._names[cause] = shown(name)
        service = _SERVICES.get(self._service, self._service)
        if w.state is State.UPLOADED and w.activity_id is not None:
            self._recovered(cause, f"{shown(name)} is on {service} now")
            where = (activity_url(self._api_url, w.activity_id) if self._service == "strava"
                     else f"activity {w.activity_id}")
            self._notices.uploaded(
                cause, self._named(f"{shown(name)} is on {service}: {where}"),
                title=self._named("Uploaded"), account=self._account)
        elif w.state is State.REJECTED:
            self._problem(cause, f"{shown(name)} was refused by {service}: {w.error}",
                          title="File refused")
        elif w.state is State.INVALID and w.reason_code != ReasonCode.TOO_OLD:
            self._problem(cause, f"{shown(name)} is not a file Strava would accept: {w.error}",
                          title="File invalid")

    # -- the account for status ---------------------------------------------------------------

    def problems(self) -> dict[str, str]:
        """The problems that need the owner now, by cause."""
        with self._lock:
            return dict(self._problems)

    def publish(self) -> None:
        """Write ``daemon.json`` for ``status`` (best effort)."""
        with self._lock:
            info = DaemonInfo(
                pid=os.getpid(), since=self._since, version=__version__,
                watch=[h.to_json() for h in self._health.values()],
                problems=dict(self._problems), list_mode=self._list_mode,
                problems_since=dict(self._began), wake_signal=self._wake_signal,
                account=self._account)
        write_info(self._state_dir, info)

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued and stop the notice worker."""
        self._notices.close(timeout)

    # -- once per cause ------------------------------------------------------------------------

    def _problem(self, cause: str, message: str, *, title: str) -> None:
        with self._lock:
            self._problems[cause] = message
            self._began.setdefault(cause, self._clock())
        self._notices.problem(cause, self._named(message), title=self._named(title),
                              account=self._account)

    def _recovered(self, cause: str, message: str) -> None:
        with self._lock:
            self._problems.pop(cause, None)
            self._began.pop(cause, None)
            self._names.pop(cause, None)
        # Notices knows what was told, across restarts too: a cause never told is quiet.
        self._notices.recovered(cause, self._named(message), account=self._account)

    def snapshot(self) -> dict[str, Any]:
        """For tests: the open problems and the folders' health."""
        with self._lock:
            return {"problems": dict(self._problems),
                    "watch": [h.to_json() for h in self._health.values()]}
