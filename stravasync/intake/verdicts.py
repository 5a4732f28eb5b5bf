"""Owns judging a content once, whichever accounts its file goes to.

A file in a folder that two accounts share (Strava and intervals.icu, or two athletes)
is read by each account's engine, but judged once: :class:`SharedVerdicts` wraps the
validator and remembers its answer by the bytes' digest and the name's suffixes (which
decide the format), so "a file Strava would refuse is not sent to intervals.icu either"
holds by construction: there is one verdict per content, not one per account.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from pathlib import PurePath
from typing import TYPE_CHECKING

from stravasync.intake.ingest import Validator, default_validator

if TYPE_CHECKING:
    from stravasync.validate.result import ValidationResult

__all__ = ["SharedVerdicts"]


class SharedVerdicts:
    """A validator that judges each content once and tells every caller the same verdict.

    Thread-safe; remembers the last ``size`` verdicts (a verdict is small: facts and a
    reason, never the bytes). Two engines asking at once may both judge a content: the
    verdict is the same either way, the memo only saves the work.
    """

    def __init__(self, validator: Validator = default_validator, *, size: int = 4096) -> None:
        self._validator = validator
        self._size = size
        self._lock = threading.Lock()
        self._seen: OrderedDict[tuple[bytes, str], ValidationResult] = OrderedDict()
        self.judged = 0
        """Contents judged by the wrapped validator (the rest were remembered)."""

    def __call__(self, data: bytes, name: str) -> ValidationResult:
        """The verdict on ``data`` named ``name`` (the wrapped validator's, judged once)."""
        key = (hashlib.sha256(data).digest(), "".join(PurePath(name).suffixes[-2:]).lower())
        with self._lock:
            known = self._seen.get(key)
            if known is not None:
                self._seen.move_to_end(key)
                return known
        result = self._validator(data, name)
        with self._lock:
            self.judged += 1
            self._seen[key] = result
            while len(self._seen) > self._size:
                self._seen.popitem(last=False)
        return result
