"""Owns which folders are safe to watch, to archive into and to delete from.

Judgements on configured paths, made both as written (lexically normalised) and
as they resolve through symlinks, so ``~/link -> /`` is caught too. Each
function returns problems with their key paths for the configuration to report;
nothing is created or changed on disk.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["SYSTEM_FOLDERS", "place_problems", "rule_folder_problems", "spellings"]

#: Folders that hold no workouts: never watched, nor anything under them.
SYSTEM_FOLDERS = (Path("/proc"), Path("/sys"), Path("/dev"))


def spellings(path: Path) -> tuple[Path, Path]:
    """*path* as written (``..`` folded) and as it resolves through symlinks."""
    return Path(os.path.normpath(path)), Path(os.path.realpath(path))


def _within(inner: Path, outer: Path) -> bool:
    """Whether *inner* is *outer* or under it, as written or as resolved."""
    return any(i.is_relative_to(o) for i, o in zip(spellings(inner), spellings(outer),
                                                     strict=True))


def _system_reason(path: Path) -> str | None:
    for spelling in spellings(path):
        if spelling == Path(spelling.anchor):
            return "the whole file system is not a workout folder"
        for system in SYSTEM_FOLDERS:
            if spelling.is_relative_to(system):
                return f"{system} is a system folder, not a workout folder"
    return None


def place_problems(
    *,
    watched: Sequence[tuple[str, Path]],
    state_dir: Path,
    after: str,
    archive_dir: Path | None,
    delete_outside_home: bool,
    home: Path,
) -> list[str]:
    """Problems with where files are watched, archived and deleted.

    *watched* pairs each watched folder's key path (``watch.paths[0]``,
    ``accounts[1].paths``) with its expanded absolute path.
    """
    problems: list[str] = []
    for key, path in watched:
        reason = _system_reason(path)
        if reason is not None:
            problems.append(f"{key}: {path}: {reason}; watch the folder your "
                            "device or app writes workouts to")
        elif _within(path, state_dir):
            problems.append(f"{key}: {path} is the state folder ({state_dir}) "
                            "or inside it: watch the folder your workouts land in")
    if after == "move" and archive_dir is not None:
        for key, path in watched:
            if _within(archive_dir, path):
                problems.append(
                    f"upload.archive_dir: {archive_dir} lies inside the watched folder "
                    f"{path} ({key}), so moved files would be found again: "
                    "choose a folder outside every watched path"
                )
    if after == "delete" and not delete_outside_home:
        outside = [str(path) for _, path in watched
                   if not _inside_home(path, home) and _system_reason(path) is None]
        if outside:
            problems.append(
                f'upload.after: "delete" would delete files outside your home folder '
                f"({home}) in {', '.join(outside)}: set upload.delete_outside_home = true "
                'to confirm, or use after = "keep" or "move"'
            )
    return problems


def _inside_home(path: Path, home: Path) -> bool:
    """Whether *path* really (symlinks resolved) lies under the home folder."""
    real_home = spellings(home)[1]
    if real_home == Path(real_home.anchor):
        return False  # a home of "/" would make every folder "inside home"
    return spellings(path)[1].is_relative_to(real_home)


def rule_folder_problems(
    folders: Iterable[tuple[int, Path]], *, watched: Sequence[Path]
) -> list[str]:
    """A rule's ``folder`` must lie inside a watched path, as written (that is how
    the watcher names files, and how the rule is matched)."""
    problems = []
    for index, folder in folders:
        written = spellings(folder)[0]
        if not any(written.is_relative_to(spellings(w)[0]) for w in watched):
            problems.append(
                f"rules[{index}].folder: {folder} is not inside any watched path "
                f"({', '.join(str(w) for w in watched) or 'none'}): a rule for it would "
                "never match; add it to watch.paths or write it under one of them"
            )
    return problems
