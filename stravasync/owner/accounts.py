"""What ``status`` reads from each account's folder: its files, its sign-in, its problems.

Owns reading one account's state folder (``state.sqlite3``, ``tokens.json`` for Strava,
``account.json``, and the ``daemon.json`` its :class:`~stravasync.owner.attention.Attention`
writes) into an :class:`AccountView`, without changing anything, and turning the views
of several accounts into ``status --json``'s ``needs_you`` entries, each naming its
account. A sign-in the token store shows signed out or dead is a problem of that
account whether or not a daemon runs (the others go on without it), and it leaves the
list the moment the token store shows it mended. An intervals.icu account shows
whether a key is configured and the athlete its folder records, never the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stravasync.errors import AuthError, StateError
from stravasync.models import State
from stravasync.owner.needs import account_problem, needs_you, ranked
from stravasync.state import DB_NAME, Store
from stravasync.state.accounts import read_record
from stravasync.state.runlock import read_info
from stravasync.strava.tokens import TokenStore
from stravasync.upload.listing import FOLLOW_MODE_KEY
from stravasync.upload.outcomes import FOREIGN_ANSWER

if TYPE_CHECKING:
    from stravasync.config.accounts import Account
    from stravasync.state import FileStatus, Workout

__all__ = ["KEY_REFUSED", "AccountView", "named_needs", "read_account", "sign_in_problem",
           "strava_auth"]

_SIGN_IN_CAUSES = ("auth:signed_out", "auth:scope_missing")
KEY_REFUSED = "auth:key_refused"
"""The cause of an intervals.icu key the service refused."""
_SHARED_KINDS = frozenset({"config", "state", "folder"})
"""Problems of the whole daemon, not of one account: listed once, unnamed."""


@dataclass
class AccountView:
    """One account as ``status`` sees it."""

    account: Account
    """The configured account."""
    folder: Path
    """Its state folder."""
    files: list[FileStatus] = field(default_factory=list)
    """Every path its store knows, latest content only."""
    auth: dict[str, Any] | None = None
    """``accounts[].auth``: Strava's token status (None: signed out), or intervals.icu's
    key and recorded athlete."""
    follow_raw: str | None = None
    """How the daemon follows this account's uploads (store meta), if it said."""
    foreign: list[Workout] = field(default_factory=list)
    """Workouts given up because Strava kept answering about another file."""
    owed: list[Workout] = field(default_factory=list)
    """Workouts whose ``upload.after`` move is still owed."""
    problems: dict[str, str] = field(default_factory=dict)
    """The running daemon's open problems for this account, by cause."""
    since: dict[str, float] = field(default_factory=dict)
    """When each of :attr:`problems` began."""
    watch: list[dict[str, Any]] = field(default_factory=list)
    """The folders' health as the running daemon reported it for this account."""


def strava_auth(folder: Path) -> dict[str, Any] | None:
    """SPEC's ``auth`` object from the token store in *folder* (None: signed out)."""
    try:
        token_status = TokenStore(state_dir=folder).status()
    except (StateError, AuthError) as exc:  # a damaged or unreadable token file
        return {"athlete_id": None, "scope": None, "expires_at": None, "problem": exc.message}
    return token_status.as_json() if token_status is not None else None


def _intervals_auth(account: Account, folder: Path) -> dict[str, Any]:
    try:
        record = read_record(folder)
    except StateError as exc:
        return {"key_configured": bool(account.api_key), "key_source": account.api_key_source,
                "athlete_id": None, "problem": exc.message}
    return {"key_configured": bool(account.api_key), "key_source": account.api_key_source,
            "athlete_id": record.athlete_id if record is not None else None}


def read_account(account: Account, folder: Path, *, daemon_pid: int | None,
                 auth: dict[str, Any] | None = None) -> AccountView:
    """Read *account*'s *folder* (read-only); ``daemon_pid``: the daemon holding the lock,
    whose ``daemon.json`` in the folder is believed; ``auth``: already read, if so."""
    view = AccountView(account=account, folder=folder)
    if (folder / DB_NAME).exists():
        store = Store.open(folder, read_only=True)
        try:
            view.files = store.files()
            view.follow_raw = store.get_meta(FOLLOW_MODE_KEY)
            # Strava kept answering about another file: only the owner can sort it out.
            view.foreign = [w for w in store.workouts(states=(State.REJECTED,))
                            if w.reason_code == FOREIGN_ANSWER]
            view.owed = store.owed_moves()
        finally:
            store.close()
    if account.service == "strava":
        view.auth = auth if auth is not None else strava_auth(folder)
    else:
        view.auth = _intervals_auth(account, folder)
    info = read_info(folder) if daemon_pid is not None else None
    if info is not None and info.get("pid") in (daemon_pid, 0):
        view.problems = dict(info.get("problems") or {})
        view.since = dict(info.get("problems_since") or {})
        view.watch = list(info.get("watch") or [])
    if account.service == "intervals" and view.auth is not None:
        # Only the running daemon learns that intervals.icu refuses the key.
        view.auth["key_refused"] = KEY_REFUSED in view.problems
    return view


def sign_in_problem(view: AccountView) -> str | None:
    """The cause of a Strava account's sign-in problem as its token store shows it now."""
    if view.account.service != "strava":
        return None
    if view.auth is None:
        return "auth:signed_out"
    problem = view.auth.get("problem")
    if problem == "scope_missing":
        return "auth:scope_missing"
    return None if problem is None else "auth:signed_out"


def named_needs(views: list[AccountView], *, shared: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``needs_you`` for several accounts: each account's problems named (``account`` and
    ``NAME: …``), the daemon's own (``shared``: config, state folder) and folders once."""
    entries = [{k: v for k, v in e.items() if k != "account"} for e in shared]
    seen = {(e["kind"], e.get("path")) for e in entries}
    for view in views:
        name = view.account.name
        problems, since = dict(view.problems), dict(view.since)
        if view.account.service == "strava":  # the token store is the truth, now
            for cause in _SIGN_IN_CAUSES:
                problems.pop(cause, None)
            signed = sign_in_problem(view)
            if signed is not None:
                problems[signed] = ""
        for cause in problems:
            words = account_problem(cause, account=name)
            if words is not None:
                problems[cause] = words[1]
        for entry in needs_you(problems=problems, since=since, files=view.files,
                               state_dir=view.folder, owed=view.owed, refused=view.foreign,
                               account=name):
            if entry["kind"] in _SHARED_KINDS:
                key = (entry["kind"], entry.get("path"))
                if key not in seen:
                    seen.add(key)
                    entries.append(entry)
                continue
            entry["account"] = name
            entry["message"] = f"{name}: {entry['message']}"
            entries.append(entry)
    return ranked(entries)
