"""The emulator's settings: fixed ones (`EmulatorConfig`) and runtime knobs (`Knobs`).

Also owns the exact texts Strava answers with (status strings, error bodies), so the
rest of the emulator never spells one twice, and `ManualClock`, a clock tests move.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stravasync.emulator.athletes import HouseholdAthlete

STATUS_PROCESSING = "Your activity is still being processed."
STATUS_READY = "Your activity is ready."
STATUS_ERROR = "There was an error processing your activity."
STATUS_DELETED = "The created activity has been deleted."

ERROR_IMPROPER = "Improperly formatted data."
ERROR_EMPTY = "The file is empty."
ERROR_NO_TIME = "Time information is missing from GPS file."
ERROR_MALFORMED = "The upload appears to be malformed and we are unable to process it"

DATA_TYPES = ("fit", "fit.gz", "tcx", "tcx.gz", "gpx", "gpx.gz")
KNOWN_SCOPES = (
    "read",
    "read_all",
    "profile:read_all",
    "profile:write",
    "activity:read",
    "activity:read_all",
    "activity:write",
)
# fmt: off
SPORT_TYPES = frozenset(
    {
        "AlpineSki", "BackcountrySki", "Badminton", "Canoeing", "Crossfit", "EBikeRide",
        "Basketball", "Cricket", "Dance", "Padel", "PhysicalTherapy", "Volleyball",
        "Elliptical", "EMountainBikeRide", "Golf", "GravelRide", "Handcycle",
        "HighIntensityIntervalTraining", "Hike", "IceSkate", "InlineSkate", "Kayaking", "Kitesurf",
        "MountainBikeRide", "NordicSki", "Pickleball", "Pilates", "Racquetball", "Ride",
        "RockClimbing", "RollerSki", "Rowing", "Run", "Sail", "Skateboard", "Snowboard",
        "Snowshoe", "Soccer", "Squash", "StairStepper", "StandUpPaddling", "Surfing", "Swim",
        "TableTennis", "Tennis", "TrailRun", "Velomobile", "VirtualRide", "VirtualRow",
        "VirtualRun", "Walk", "WeightTraining", "Wheelchair", "Windsurf", "Workout", "Yoga",
    }
)
# fmt: on
"""Strava's SportType names (swagger v3), the values `sport_type` may take."""
UPDATABLE_FIELDS = (
    "name",
    "description",
    "sport_type",
    "gear_id",
    "trainer",
    "commute",
    "hide_from_home",
)
"""What `PUT /activities/{id}` takes; any other field is refused with 400."""
KNOB_ALIASES = {"athlete_cap": "athlete_limit"}
"""Other names accepted for a knob by `Knobs.replace`."""


@dataclass(frozen=True)
class Knobs:
    """Behaviour that tests and benchmarks change while the emulator runs."""

    processing_min_s: float = 0.5
    """Shortest processing time of an upload (seconds of the injected clock)."""
    processing_max_s: float = 2.0
    """Longest processing time; each upload draws uniformly in [min, max]."""
    stuck_share: float = 0.0
    """Share of uploads that stay "still being processed" for `stuck_s`."""
    stuck_s: float = 900.0
    """How long a stuck upload stays processing before it becomes ready."""
    deleted_share: float = 0.0
    """Share of uploads that end as "The created activity has been deleted."."""
    duplicate_html_share: float = 0.5
    """Share of duplicate errors written in the HTML form (<a href=...>)."""
    duplicate_at_post: bool = False
    """Refuse a duplicate of an existing activity already at POST time (400)."""
    alter_external_id: bool = True
    """Echo external_id with the file extension appended, as Strava may do."""
    answer_first_upload: bool = False
    """Answer every later upload POST with the athlete's first upload (a server that lies
    about which file it took): the new file is not kept."""
    error_5xx_share: float = 0.0
    """Share of API calls answered 500/502/503 (nothing else happens)."""
    update_5xx_share: float = 0.0
    """Share of activity updates (PUT /activities/{id}) answered 500/502/503, not applied."""
    private_share: float = 0.0
    """Share of new activities that are private (hidden from lists without read_all)."""
    drop_upload_share: float = 0.0
    """Share of upload POSTs that are created, then answered with a dropped connection."""
    latency_s: float = 0.0
    """Real (wall-clock) delay added before each API and OAuth answer."""
    inactive: bool = False
    """Application inactive: every API and OAuth call gets 403 Status Inactive."""
    athlete_limit: int | None = None
    """Connected athletes allowed (None = no cap; alias athlete_cap): a new athlete beyond it
    gets Strava's 403 page at authorize (no redirect), 403 at code exchange and API calls."""
    header_only_tokens: bool = True
    """/oauth/deauthorize refuses a token in a form field or the query string (from 1 June
    2027); False = the older behaviour, which also took it from `access_token=`."""
    deauthorize_retired: bool = False
    """/oauth/deauthorize is gone (404), as Strava announced for 1 June 2027."""
    approval_page: bool = False
    """Show an HTML approval page at /oauth/authorize instead of auto-approving."""
    granted_scope: str | None = None
    """If set, the athlete grants only requested scopes also listed here (e.g. "read")."""
    access_token_lifetime_s: int = 21600
    """Access-token lifetime (seconds)."""
    code_lifetime_s: int = 600
    """Authorization-code lifetime (seconds)."""
    rotate_refresh_tokens: bool = True
    """Issue a new refresh token on every refresh; the old one dies at once."""
    limit_15: int = 200
    """Overall 15-minute limit."""
    limit_day: int = 2000
    """Overall daily limit."""
    read_limit_15: int = 100
    """Read 15-minute limit."""
    read_limit_day: int = 1000
    """Read daily limit."""
    rate_limit_field: str = "rate limit"
    """The `field` text of the 429 error ("rate limit" or "overall rate limit")."""
    intervals_5xx_share: float = 0.0
    """intervals.icu: share of calls answered 500/502/503 (nothing else happens)."""
    intervals_drop_share: float = 0.0
    """intervals.icu: share of upload POSTs recorded, then answered by dropping the connection."""
    intervals_latency_s: float = 0.0
    """intervals.icu: real (wall-clock) delay added before each answer."""
    intervals_rate_limit: int | None = None
    """intervals.icu: calls allowed per `intervals_rate_window_s` (None = no limit); more get
    429 and are not counted."""
    intervals_rate_window_s: float = 1.0
    """intervals.icu: the sliding window of `intervals_rate_limit` (seconds of the clock)."""
    intervals_retry_after_s: int | None = None
    """intervals.icu: the Retry-After header of a 429 (None = no header)."""
    intervals_unreadable_status: int = 422
    """intervals.icu: the status (422 or 400) of an upload whose file it cannot read."""

    def replace(self, **changes: Any) -> Knobs:
        """Return a copy with `changes`, refusing unknown names and bad values."""
        names = {f.name: f for f in dataclasses.fields(self)}
        changes = {KNOB_ALIASES.get(name, name): value for name, value in changes.items()}
        unknown = sorted(set(changes) - set(names))
        if unknown:
            raise ValueError(f"unknown knob(s): {', '.join(unknown)}")
        coerced = {
            name: _coerce(name, value=value, annotation=names[name].type)
            for name, value in changes.items()
        }
        new = dataclasses.replace(self, **coerced)
        new.check()
        return new

    def check(self) -> None:
        """Raise ValueError if a knob is out of range."""
        shares = (
            "stuck_share",
            "deleted_share",
            "duplicate_html_share",
            "error_5xx_share",
            "drop_upload_share",
            "update_5xx_share",
            "private_share",
        )
        for name in shares:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], not {value}")
        if not 0.0 <= self.processing_min_s <= self.processing_max_s:
            raise ValueError("need 0 <= processing_min_s <= processing_max_s")
        for name in ("limit_15", "limit_day", "read_limit_15", "read_limit_day"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.latency_s < 0 or self.stuck_s < 0:
            raise ValueError("latency_s and stuck_s must not be negative")
        if self.athlete_limit is not None and self.athlete_limit < 0:
            raise ValueError("athlete_limit must not be negative")
        self._check_intervals()

    def _check_intervals(self) -> None:
        for name in ("intervals_5xx_share", "intervals_drop_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], not {value}")
        if self.intervals_latency_s < 0 or self.intervals_rate_window_s <= 0:
            raise ValueError("need intervals_latency_s >= 0 and intervals_rate_window_s > 0")
        for name in ("intervals_rate_limit", "intervals_retry_after_s"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative")
        if self.intervals_unreadable_status not in (400, 422):
            raise ValueError("intervals_unreadable_status must be 400 or 422")

    def as_dict(self) -> dict[str, Any]:
        """The knobs as a JSON-ready dict."""
        return dataclasses.asdict(self)


def _coerce(name: str, *, value: Any, annotation: object) -> Any:
    """Turn a JSON/CLI value into the knob's type (bools stay bools, ints stay ints)."""
    kind = str(annotation).split(" ", 1)[0]
    if value is None and "None" in str(annotation):
        return None
    converters: dict[str, Callable[[Any], Any]] = {
        "bool": _to_bool,
        "float": float,
        "int": _to_int,
        "str": str,
    }
    try:
        return converters[kind](value)
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"bad value for {name}: {value!r}") from exc


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if value is None:
        raise TypeError("null")
    return bool(value)


def _to_int(value: Any) -> int:
    if isinstance(value, bool) or value is None or float(value) != int(float(value)):
        raise ValueError("not an integer")
    return int(float(value))


@dataclass(frozen=True)
class ServerUsage:
    """Rate-limit usage as Strava itself counts it, in the current windows.

    The server's count: what the client only learns from the ``X-RateLimit-Usage``
    headers (``stravasync.strava.ratewindows.Usage`` is the client's view).
    """

    usage_15: int = 0
    """Overall requests in the current 15-minute window."""
    usage_day: int = 0
    """Overall requests today (UTC)."""
    read_usage_15: int = 0
    """Read requests in the current 15-minute window."""
    read_usage_day: int = 0
    """Read requests today (UTC)."""


@dataclass(frozen=True)
class EmulatorConfig:
    """What stays fixed for one emulator's life."""

    host: str = "127.0.0.1"
    """Address to bind (loopback)."""
    port: int = 0
    """Port to bind; 0 picks a free one."""
    client_id: str = "12345"
    """The one application's client id."""
    client_secret: str = "emulator-secret"  # noqa: S105  # a fake app's fake secret
    """Its client secret; "" accepts any secret."""
    athlete_id: int = 1234567
    """The athlete who signs in through /oauth/authorize."""
    athlete_firstname: str = "Emma"
    """That athlete's first name."""
    athlete_lastname: str = "Ulator"
    """That athlete's last name."""
    bikes: tuple[tuple[str, str], ...] = (("b1234567", "Road bike"), ("b2345678", "Trainer bike"))
    """The signing-in athlete's bikes as (gear id, name); the first is the primary one."""
    shoes: tuple[tuple[str, str], ...] = (("g3456789", "Trail shoes"),)
    """The signing-in athlete's shoes as (gear id, name); the first is the primary one."""
    callback_domains: tuple[str, ...] = ()
    """Redirect-URI hosts allowed besides localhost and 127.0.0.1."""
    upload_id_start: int = 9000001
    """First upload id (use a value above 2**32 to test 64-bit handling)."""
    activity_id_start: int = 7000001
    """First activity id."""
    seed: int | None = None
    """Seed of the random draws (processing times, fault shares); None = random."""
    knobs: Knobs = field(default_factory=Knobs)
    """The knobs the emulator starts with."""
    initial_usage: ServerUsage = field(default_factory=ServerUsage)
    """Rate-limit usage at start (in the windows current at start)."""
    clock: Callable[[], float] = time.time
    """Unix time source; inject a `ManualClock` to move time in tests."""
    on_request: Callable[[Mapping[str, Any]], None] | None = None
    """Called (outside the lock) with each request-log entry, e.g. to print it."""
    max_body_bytes: int = 200 * 1024 * 1024
    """Largest request body accepted (413 above)."""
    athletes: tuple[HouseholdAthlete, ...] = ()
    """The household besides the athlete above (each with own activities, uploads, gear
    and intervals.icu key); all share the app's rate limits and athlete cap."""
    intervals_activity_id_start: int = 50000001
    """First intervals.icu activity number (ids are "i" + number)."""

    def configured_athlete(self) -> HouseholdAthlete:
        """The athlete set by `athlete_id`, names and gear above: the default one."""
        return HouseholdAthlete(
            id=self.athlete_id,
            firstname=self.athlete_firstname,
            lastname=self.athlete_lastname,
            bikes=self.bikes,
            shoes=self.shoes,
        )


class ManualClock:
    """A thread-safe clock that only moves when told to; call it for the time."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by `seconds`; return the new time."""
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, now: float) -> None:
        """Jump to `now` (Unix seconds)."""
        with self._lock:
            self._now = now
