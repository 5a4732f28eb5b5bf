"""Where the daemon keeps its state, for a configuration file that cannot say any more.

Owns ``<user state dir>/stravasync/state-dirs.json``: for each configuration file a
daemon ran with, the state folder it used (written at each start and reload, best
effort). When the file later has a typo, the running daemon keeps its last good
configuration, and ``status`` finds that daemon's folder here (:func:`last_state_dir`),
else in the default place, to report on it with the configuration problem first.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from stravasync.config.settings import Config, config_from_dict, default_state_dir
from stravasync.fsutil import atomic_write, ensure_private_dir
from stravasync.logs import get_logger

__all__ = ["POINTER_NAME", "last_state_dir", "remember_state_dir", "stand_in_config"]

log = get_logger(__name__)

POINTER_NAME = "state-dirs.json"


def _pointers() -> dict[str, str]:
    try:
        data = json.loads((default_state_dir() / POINTER_NAME).read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items() if isinstance(v, str)}


def remember_state_dir(config: Config) -> None:
    """Note that ``config``'s file uses ``config.state_dir`` (best effort)."""
    if config.source is None:
        return
    key = os.path.abspath(config.source)
    pointers = _pointers()
    if pointers.get(key) == str(config.state_dir):
        return
    pointers[key] = str(config.state_dir)
    try:
        ensure_private_dir(default_state_dir())
        atomic_write(default_state_dir() / POINTER_NAME,
                     json.dumps(pointers, indent=1).encode(), mode=0o600)
    except OSError as exc:
        log.debug("state_pointer_unwritten", error=exc.strerror or str(exc))


def last_state_dir(source: Path) -> Path:
    """The state folder a daemon last used with the file ``source``, else the default."""
    found = _pointers().get(os.path.abspath(source))
    return Path(found) if found else default_state_dir()


def stand_in_config(source: Path) -> Config:
    """A configuration with defaults, for reading the state of ``source``'s daemon only."""
    return config_from_dict(
        {"strava": {"client_id": "0"}, "state": {"dir": str(last_state_dir(source))}},
        source=source)
