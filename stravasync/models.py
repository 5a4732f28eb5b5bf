"""Values every layer speaks of, with no behaviour and no imports of ours.

Owns :class:`State`, SPEC's file states: the store records them, the dedupe rules
and the transfer decide them, ``status`` shows them.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["State"]


class State(StrEnum):
    """SPEC's file states (``status --json`` ``state``)."""

    PENDING = "pending"
    """Seen, not yet settled or validated."""
    QUEUED = "queued"
    """Valid, waiting for its turn or for rate-limit budget."""
    UPLOADING = "uploading"
    """Sent (or about to be); being followed."""
    UPLOADED = "uploaded"
    """Strava made an activity of it; ``activity_id`` is set."""
    DUPLICATE = "duplicate"
    """Strava (or we) already had it; ``activity_id`` is the existing activity."""
    INVALID = "invalid"
    """Local validation failed; never sent."""
    REJECTED = "rejected"
    """Strava refused it; ``error`` says why, verbatim."""
    SKIPPED = "skipped"
    """Not an activity file, or older than ``watch.max_age_days``."""
    RETRYING = "retrying"
    """A transient failure; tried again at ``next_attempt_at``."""
    UPDATING = "updating"
    """On Strava (``activity_id`` set); the ``[[rules]]`` update is still to be sent."""
