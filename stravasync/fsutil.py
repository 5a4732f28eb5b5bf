"""Small, careful file-system operations shared by the state, token and rate-limit stores.

Owns the one way we write a file that must survive a crash: a temporary file in the
same folder, created with its final (private) mode, written, fsynced, renamed over the
target, and the folder fsynced so the rename itself is durable. And the two ways a
path is rendered: :func:`shown` for JSON, :func:`legible` for a person.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

__all__ = ["atomic_write", "ensure_private_dir", "fsync_dir", "legible", "shown"]


def shown(path: str | os.PathLike[str]) -> str:
    """``path`` for JSON: bytes that are not UTF-8 appear as ``\\xe4`` escapes.

    Anything else is kept exactly (JSON escapes control characters itself); text a
    person reads on a terminal goes through :func:`legible`.
    """
    return os.fspath(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def legible(text: str | os.PathLike[str]) -> str:
    """``text`` for a person's terminal, notice or log line: :func:`shown`, and escaped.

    Every character Python does not call printable (:meth:`str.isprintable`: C0 and C1
    controls, DEL, bidi overrides and marks, line and paragraph separators) appears as
    its escape, ``\\x1b``, ``\\n``, ``\\u202e``: a file name can neither clear the
    screen, set the window title, reorder a line nor start a new one.
    """
    text = shown(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def fsync_dir(path: Path) -> None:
    """Flush a directory entry change (a rename, a new file) to disk."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):  # some file systems refuse fsync on folders
            os.fsync(fd)
    finally:
        os.close(fd)


def ensure_private_dir(path: Path) -> Path:
    """Create *path* (and parents) if needed; every folder we create is 0700.

    ``Path.mkdir(parents=True)`` gives the parents it makes the default mode (0755
    under the usual umask), so each missing folder is made here, top down.
    """
    missing = [path, *path.parents]
    for folder in reversed(missing[:next((i for i, p in enumerate(missing) if p.is_dir()),
                                         len(missing))]):
        folder.mkdir(mode=0o700, exist_ok=True)
    return path


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace *path* with *data* atomically; the file never exists with a wider *mode*."""
    directory = path.parent
    ensure_private_dir(directory)
    tmp = directory / f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, flags, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have narrowed it; never widened
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    os.close(fd)
    os.replace(tmp, path)
    fsync_dir(directory)
