"""Owns the household: the athletes who can sign in, their gear, and who signs in next.

The emulator stands for one Strava application that several athletes connect to
(each with their own activities, uploads and gear; the app's rate limits are
shared), and for intervals.icu, where the same people may hold an account with a
personal API key. `Roster` is the list of them: the configured athlete first (the
default one), then `EmulatorConfig.athletes`, then any added at runtime.

Who signs in at `/oauth/authorize` is, in this order: the `athlete` query or form
field (the approval page's login step sets it), else the athlete "logged in to
strava.com in the browser" (`Roster.signed_in`, set by `sign_in_as`), which starts
as the configured athlete. Not thread-safe: the emulator state calls it under its lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Gear = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class HouseholdAthlete:
    """One person of the household: a Strava athlete and their intervals.icu account."""

    id: int
    """Strava athlete id."""
    firstname: str = "Athlete"
    """First name, as in `GET /athlete`."""
    lastname: str = ""
    """Last name."""
    bikes: Gear | None = None
    """Bikes as (gear id, name), the first primary; None = one bike ``b<id>``."""
    shoes: Gear | None = None
    """Shoes as (gear id, name), the first primary; None = one pair ``g<id>``."""
    intervals_id: str | None = None
    """intervals.icu athlete id; None = ``i<id>``."""
    intervals_key: str | None = None
    """intervals.icu personal API key; None = ``emulator-icu-key-<id>``."""

    def __post_init__(self) -> None:
        if self.id <= 0:
            raise ValueError(f"athlete id must be positive, not {self.id}")
        if self.intervals_id is not None and not _icu_id_ok(self.intervals_id):
            raise ValueError(f"intervals.icu ids look like i12345, not {self.intervals_id!r}")

    @property
    def gear_bikes(self) -> Gear:
        """The bikes in force."""
        own = ((f"b{self.id}", f"{self.firstname}'s bike"),)
        return self.bikes if self.bikes is not None else own

    @property
    def gear_shoes(self) -> Gear:
        """The shoes in force."""
        own = ((f"g{self.id}", f"{self.firstname}'s shoes"),)
        return self.shoes if self.shoes is not None else own

    @property
    def icu_id(self) -> str:
        """The intervals.icu athlete id in force."""
        return self.intervals_id or f"i{self.id}"

    @property
    def icu_key(self) -> str:
        """The intervals.icu API key the athlete starts with."""
        return self.intervals_key or f"emulator-icu-key-{self.id}"

    def describe(self) -> dict[str, Any]:
        """The athlete for inspection (the key included: it is the emulator's own fake)."""
        return {
            "id": self.id,
            "firstname": self.firstname,
            "lastname": self.lastname,
            "bikes": [list(g) for g in self.gear_bikes],
            "shoes": [list(g) for g in self.gear_shoes],
            "intervals_id": self.icu_id,
        }


def _icu_id_ok(text: str) -> bool:
    return len(text) > 1 and text[0] == "i" and text[1:].isascii() and text[1:].isdigit()


def parse_athlete(text: str) -> HouseholdAthlete:
    """An athlete from ``ID[:FIRST[:LAST]]`` (as `stravasync emulator --athletes` takes it)."""
    parts = text.strip().split(":")
    if len(parts) > 3 or not parts[0].strip().isdigit():
        raise ValueError(f"expected ID[:FIRST[:LAST]] like 2345678:Bob:Builder, not {text!r}")
    names = [p.strip() for p in parts[1:]]
    first = names[0] if names and names[0] else "Athlete"
    last = names[1] if len(names) > 1 else ""
    return HouseholdAthlete(id=int(parts[0]), firstname=first, lastname=last or parts[0].strip())


class Roster:
    """The athletes who can sign in, and who the browser is logged in as."""

    def __init__(self, first: HouseholdAthlete, others: tuple[HouseholdAthlete, ...] = ()) -> None:
        self._by_id: dict[int, HouseholdAthlete] = {}
        for athlete in (first, *others):
            self.add(athlete)
        self.default_id = first.id
        """The configured athlete (the default for seeded tokens and activities)."""
        self.signed_in = first.id
        """Who signs in at /oauth/authorize when the request does not say."""

    def add(self, athlete: HouseholdAthlete) -> None:
        """Add an athlete; refuse an id or intervals.icu id or key already taken."""
        if athlete.id in self._by_id:
            raise ValueError(f"athlete {athlete.id} is already in the household")
        for other in self._by_id.values():
            if athlete.icu_id == other.icu_id or athlete.icu_key == other.icu_key:
                raise ValueError(f"athlete {athlete.id}'s intervals.icu id or key is taken")
        self._by_id[athlete.id] = athlete

    def get(self, athlete_id: int) -> HouseholdAthlete | None:
        """The athlete with this Strava id, if in the household."""
        return self._by_id.get(athlete_id)

    def all(self) -> list[HouseholdAthlete]:
        """Everyone, the configured athlete first."""
        return list(self._by_id.values())

    def sign_in_as(self, athlete_id: int) -> None:
        """Make `athlete_id` the one the next sign-ins use (ValueError if unknown)."""
        if athlete_id not in self._by_id:
            raise ValueError(f"athlete {athlete_id} is not in the household")
        self.signed_in = athlete_id

    def chosen(self, text: str | None) -> HouseholdAthlete | None:
        """Who signs in: the athlete named by `text` (an id), else the signed-in one.

        None if `text` names no athlete of the household.
        """
        if text is None or not text.strip():
            return self._by_id[self.signed_in]
        value = text.strip()
        return self._by_id.get(int(value)) if value.isascii() and value.isdigit() else None
