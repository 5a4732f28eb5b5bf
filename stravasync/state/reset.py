"""Owns setting the state database aside: ``stravasync state reset``'s file work.

A damaged ``state.sqlite3`` (and its ``-wal``/``-shm``) is renamed, in its folder,
to ``state.sqlite3.damaged-YYYYmmddTHHMMSS`` (``-wal``/``-shm`` keep their suffix,
so SQLite tools open the copy whole). Nothing is ever deleted. The next start makes
a fresh database; files already on Strava come back as Strava's duplicates and are
linked to their activities again, so nothing uploads twice.
"""

from __future__ import annotations

import os
import sqlite3
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from stravasync.state.base import DB_NAME, header_problem

__all__ = ["SIDE_SUFFIXES", "Moved", "damage", "set_aside"]

#: The database file and SQLite's companions, moved together.
SIDE_SUFFIXES = ("", "-wal", "-shm")


@dataclass(frozen=True)
class Moved:
    """One file set aside."""

    source: Path
    """Where it was."""
    target: Path
    """Where it is now."""


def damage(state_dir: Path) -> str | None:
    """What is wrong with ``state_dir``'s database (SQLite's words), or None when it
    reads well.

    Changes nothing: the file is opened ``immutable`` (no lock, no journal, its
    ``-wal`` left as it is), so a damaged database is set aside exactly as it was.
    """
    path = state_dir / DB_NAME
    problem = header_problem(path)
    if problem is not None:
        return problem
    uri = f"file:{urllib.parse.quote(os.fsencode(path))}?mode=ro&immutable=1"
    try:
        db = sqlite3.connect(uri, uri=True)
        try:
            result = db.execute("PRAGMA quick_check(1)").fetchone()[0]
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    return None if result == "ok" else str(result)


def _free_name(state_dir: Path, stamp: str) -> str:
    base = f"{DB_NAME}.damaged-{stamp}"
    name, n = base, 1
    while any((state_dir / (name + suffix)).exists() for suffix in SIDE_SUFFIXES):
        n += 1
        name = f"{base}.{n}"
    return name


def set_aside(state_dir: Path, *, now: float) -> list[Moved]:
    """Rename the database and its ``-wal``/``-shm`` aside (local time ``now`` in the
    name); return what moved, nothing if there was no database.

    Call it only while no process uses the database (hold the daemon lock): a stale
    ``-wal`` beside a fresh database would be replayed into it.
    """
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(now))
    name = _free_name(state_dir, stamp)
    moved: list[Moved] = []
    for suffix in SIDE_SUFFIXES:
        source, target = state_dir / (DB_NAME + suffix), state_dir / (name + suffix)
        try:
            os.rename(source, target)  # one folder: atomic, never a copy
        except FileNotFoundError:
            continue
        moved.append(Moved(source=source, target=target))
    return moved
