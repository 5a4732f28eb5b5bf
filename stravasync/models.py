"""Values every layer speaks of, with no behaviour and no imports of ours.

Owns :class:`State`, SPEC's file states: the store records them, the dedupe rules
and the transfer decide them, ``status`` shows them; and :class:`ReasonCode`, the
machine-readable why a workout ended where it did.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ReasonCode", "State"]


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


class ReasonCode(StrEnum):
    """Why a workout is where it is, for machines: the store's ``reason_code``, the
    ``reason`` of log events. The person reads ``error``; code compares these."""

    INVALID = "invalid"
    """Local validation refused the file."""
    TOO_LARGE = "too_large"
    """The file is larger than anything Strava would take; never read."""
    NOT_ACTIVITY = "not_activity"
    """A file of a known kind that holds no activity (a course, settings)."""
    TOO_OLD = "too_old"
    """The workout started before ``watch.max_age_days``."""
    CHANGED = "changed"
    """The file changed before it was uploaded; its new content is handled on its own."""
    SAME_CONTENT = "same_content"
    """Another path holds the very same content (only in log events)."""
    SAME_WORKOUT = "same_workout"
    """The same recording in another format, sent once (the richest format)."""
