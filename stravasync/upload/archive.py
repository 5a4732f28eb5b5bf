"""``upload.after``: what happens to a workout's files once Strava holds the activity.

Owns :func:`carry_out_after`: keep; move into ``archive_dir``, keeping the path
relative to its watched folder and never overwriting a file; or delete. Only files
under a watched folder are touched, and only while they are still what was read
(same size and mtime). The activity id is always recorded before this runs, so a
crash in the middle is finished at the next start (``after_done`` stays false).

A move that fails (the archive full, a permission) stays owed in the store with its
reason and a time to try again (:func:`next_try_at`: a minute, doubling to an hour);
:func:`carry_out_owed` tries the due ones again, and a restart or ``run --once``
tries every owed one. No temporary copy is ever left behind in the archive.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from stravasync.logs import get_logger

if TYPE_CHECKING:
    from stravasync.config.settings import Config
    from stravasync.state import PathRecord, Store, Workout

__all__ = ["Peers", "carry_out_after", "carry_out_owed", "next_try_at", "watch_root"]

Peers = Callable[[str], "Sequence[Store]"]
"""The stores of the *other* accounts a path goes to (several accounts, one file).

A file that goes to several accounts is moved or deleted only once every one of them
has it: until then it stays where it is, and the last account to finish carries the
move out (and tells the others' stores where the file went).
"""

log = get_logger(__name__)

FIRST_RETRY_S = 60.0
"""Seconds before a failed move is tried again the first time (then doubling)."""
MAX_RETRY_S = 3600.0
"""The longest wait between two tries of a failed move."""
_ONE_AT_A_TIME = threading.Lock()
"""A rescan and the owed-move job never move the same file at once (two archive copies)."""


def next_try_at(failures: int, *, now: float) -> float:
    """When a move that failed ``failures`` times in a row is tried again."""
    return now + min(MAX_RETRY_S, FIRST_RETRY_S * 2.0 ** max(failures - 1, 0))


def watch_root(path: str, roots: tuple[Path, ...]) -> Path | None:
    """The watched folder ``path`` lies in (the deepest), or None."""
    real = os.path.realpath(path)
    best: Path | None = None
    for root in roots:
        base = os.path.realpath(root)
        if real.startswith(base.rstrip(os.sep) + os.sep) and (
            best is None or len(base) > len(str(best))
        ):
            best = Path(base)
    return best


def _free_name(target: Path) -> Path:
    """``target``, or ``name-1.ext``, ``name-2.ext`` … if taken (``.fit.gz`` kept whole)."""
    if not target.exists():
        return target
    name = target.name
    cut = len(name) - len("".join(target.suffixes[-2:])) if name.endswith(".gz") else (
        len(name) - len(target.suffix))
    stem, ext = name[:cut], name[cut:]
    n = 1
    while (candidate := target.with_name(f"{stem}-{n}{ext}")).exists():
        n += 1
    return candidate


def _move_no_overwrite(source: Path, target: Path) -> Path:
    """Move ``source`` to ``target`` (or a free variant of it); never replaces a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    while True:
        dest = _free_name(target)
        try:
            os.link(source, dest)  # fails if dest appeared meanwhile: never overwrites
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP):
                raise
            tmp = dest.with_name(f".{dest.name}.stravasync-tmp")
            try:  # a copy cut short (the archive full) leaves no temporary file
                shutil.copy2(source, tmp)
                os.link(tmp, dest)
            except FileExistsError:
                continue
            finally:
                with contextlib.suppress(OSError):
                    tmp.unlink()
        source.unlink()
        return dest


def carry_out_owed(config: Config, store: Store, *, now: float,
                   peers: Peers | None = None) -> int:
    """Try again the owed moves whose time has come; return how many are still owed."""
    for w in store.owed_moves(due_by=now):
        carry_out_after(config, store, w, now=now, peers=peers)
    return len(store.owed_moves())


def _peers_have(peers: Sequence[Store], path: str, workout: Workout) -> bool:
    """Whether every other account this path goes to holds this content as an activity."""
    for peer in peers:
        record = peer.path_record(path)
        if record is None or record.sha256 != workout.sha256:
            return False
        theirs = peer.workout(workout.sha256)
        if theirs is None or theirs.activity_id is None:
            return False
    return True


def carry_out_after(
    config: Config, store: Store, workout: Workout, *, now: float | None = None,
    peers: Peers | None = None,
) -> None:
    """Apply ``upload.after`` to the files of a workout Strava holds (activity id recorded).

    Only files under a watched folder are moved or deleted, and only if they still are
    what we read (same size and mtime); ``stravasync upload`` of a file elsewhere leaves
    it alone. A failure is logged and the move stays owed, to be tried again at
    :func:`next_try_at` (never in a loop). A file other accounts wait for (``peers``)
    stays, not owed: the last of them to finish moves it.
    """
    with _ONE_AT_A_TIME:  # read again inside: another thread may have moved it meanwhile
        _carry_out(config, store, store.workout(workout.sha256) or workout, now=now,
                   peers=peers)


def _carry_out(config: Config, store: Store, workout: Workout, *, now: float | None,
               peers: Peers | None) -> None:
    failed: str | None = None
    waiting = False
    if config.upload.after == "keep" or workout.activity_id is None or workout.after_done:
        return
    for name in store.paths_of(workout.sha256):
        record = store.path_record(name)
        root = watch_root(name, config.watch.paths)
        if record is None or root is None:
            continue
        others = peers(name) if peers is not None else ()
        if not _peers_have(others, name, workout):
            waiting = True
            log.debug("file_after_waits", path=name, sha256=workout.sha256)
            continue
        try:
            if not _move_or_delete(config, (store, *others), workout, name,
                                   root=root, record=record):
                return  # "move" without an archive folder: nothing to do
        except FileNotFoundError:
            continue
        except OSError as exc:
            failed = exc.strerror or str(exc)
            log.warning("file_archive_failed", path=name, sha256=workout.sha256,
                        error=f"{type(exc).__name__}: {failed}",
                        failures=workout.after_failures + 1)
    if failed is None and waiting:
        return  # another account still sends this file: the last one to finish moves it
    if failed is None:
        if workout.after_error is not None:
            log.info("file_archive_recovered", sha256=workout.sha256)
        store.mark_after_done(workout.sha256)
        return
    when = time.time() if now is None else now
    store.after_failed(workout.sha256, error=failed,
                       next_at=next_try_at(workout.after_failures + 1, now=when))


def _move_or_delete(config: Config, holders: Sequence[Store], workout: Workout, name: str,
                    *, root: Path, record: PathRecord) -> bool:
    """Move or delete one file still as it was read; tell every store that knows it.

    False when there is nowhere to move it (no archive folder).
    """
    path = Path(name)
    st = os.stat(path)
    if (st.st_size, st.st_mtime_ns) != (record.size, record.mtime_ns):
        return True
    if config.upload.after == "delete":
        path.unlink()
        for holder in holders:
            holder.forget_path(name)
        log.info("file_deleted", path=name, sha256=workout.sha256,
                 activity_id=workout.activity_id)
        return True
    archive = config.upload.archive_dir
    if archive is None:
        return False
    relative = Path(os.path.realpath(path)).relative_to(root)
    dest = _move_no_overwrite(path, archive / relative)
    moved = os.stat(dest)
    for holder in holders:
        holder.move_path(name, str(dest), size=moved.st_size, mtime_ns=moved.st_mtime_ns)
    log.info("file_archived", path=name, to=str(dest), sha256=workout.sha256,
             activity_id=workout.activity_id)
    return True
