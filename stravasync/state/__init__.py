"""Owns the state store: what stravasync knows about every file and upload (SQLite, WAL).

``state_dir/state.sqlite3`` is the single source of truth: the daemon can be killed
at any line and resume from it. See :mod:`stravasync.state.store` for the store,
:mod:`stravasync.state.verdicts` for recording files as they are read,
:mod:`stravasync.state.retries` for ``stravasync retry``,
:mod:`stravasync.state.model` for the values it hands out,
:mod:`stravasync.state.schema` for the versioned schema and its migrations,
:mod:`stravasync.state.owed` for the ``upload.after`` moves still owed,
:mod:`stravasync.state.pointer` for finding the daemon's folder despite a broken
configuration, :mod:`stravasync.state.reset` for setting a damaged database aside, and
:mod:`stravasync.state.accounts` for which folder belongs to which account.
"""

from stravasync.errors import StateCorrupt, StateUnwritable
from stravasync.state.model import (
    ACTIVE_STATES,
    FINAL_STATES,
    FileFacts,
    FileStatus,
    PathRecord,
    State,
    Workout,
)
from stravasync.state.schema import MIGRATIONS, SCHEMA_VERSION
from stravasync.state.store import DB_NAME, Ingested, Store

__all__ = [
    "ACTIVE_STATES",
    "DB_NAME",
    "FINAL_STATES",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "FileFacts",
    "FileStatus",
    "Ingested",
    "PathRecord",
    "State",
    "StateCorrupt",
    "StateUnwritable",
    "Store",
    "Workout",
]
