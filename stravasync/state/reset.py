"""Owns setting the state database aside: ``stravasync state reset``'s file work.

A damaged ``state.sqlite3`` (and its ``-wal``/``-shm``) is renamed, in its folder,
to ``state.sqlite3.damaged-YYYYmmddTHHMMSS`` (``-wal``/``-shm`` keep their suffix,
so SQLite tools open the copy whole). Nothing is ever deleted. The next start makes
a fresh database; files already on Strava come back as Strava's duplicates and are
linked to their activities again, so nothing uploads twice.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from stravasync.state.base import DB_NAME, StateCorrupt
from stravasync.state.store import Store

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
    """What is wrong with ``state_dir``'s database (one line), or None when it reads well.

    Opens it the way the daemon does (and so upgrades a healthy one's schema). Other
    failures (a full disk, a newer schema) are raised: they are not damage.
    """
    try:
        Store.open(state_dir).close()
    except StateCorrupt as exc:
        return exc.message
    return None


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
