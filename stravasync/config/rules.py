"""Owns ``[[rules]]``: what they may say, which ones match a file, and what they set.

A rule has conditions (``folder``, ``device``, ``sport``, ``glob``, ``account``,
``service``; all optional, all must match) and settings (``[rules.set]``). Every
matching rule applies, top to bottom, and a later rule's keys win. ``name`` and
``description`` are templates::

    {sport} {device} {file} {folder} {start:STRFTIME} {distance_km}

A fact the file lacks renders as an empty string, and the result is tidied (no
double spaces, no dangling ``,``/``-``); a name that renders empty is not sent.

Pure: no I/O, no clock. Facts are read through :class:`FactsLike`, which both
``validate.Facts`` and ``validate.ValidationResult`` satisfy, so this module sits
beside ``config`` without importing the validator. Public API::

    Rule, RuleSettings, FactsLike, STRAVA_SPORT_TYPES, SPORTS
    settings_for(rules, *, path, facts, tz=None, account=None, service=None) -> RuleSettings
    rules_from_toml(raw, *, folder_path, account_names=("me",)) -> (rules, problems)
    rule_warnings(rules) -> [warning]
"""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from fnmatch import fnmatchcase
from pathlib import Path, PurePath
from typing import Any, Protocol

__all__ = [
    "INTERVALS_SETTINGS",
    "SPORTS",
    "STRAVA_SPORT_TYPES",
    "TEMPLATE_FIELDS",
    "FactsLike",
    "Rule",
    "RuleSettings",
    "rule_warnings",
    "rules_from_toml",
    "settings_for",
]

#: Strava's ``SportType`` names, as ``PUT /activities/{id}`` takes them (with the
#: May 2026 additions: Basketball, Cricket, Dance, Padel, PhysicalTherapy, Volleyball).
#: Strava adds types: a name not listed here is a warning, not an error.
STRAVA_SPORT_TYPES: tuple[str, ...] = (
    "AlpineSki", "BackcountrySki", "Badminton", "Basketball", "Canoeing", "Cricket",
    "Crossfit", "Dance", "EBikeRide", "Elliptical", "EMountainBikeRide", "Golf",
    "GravelRide", "Handcycle", "HighIntensityIntervalTraining", "Hike", "IceSkate",
    "InlineSkate", "Kayaking", "Kitesurf", "MountainBikeRide", "NordicSki", "Padel",
    "PhysicalTherapy", "Pickleball", "Pilates", "Racquetball", "Ride", "RockClimbing",
    "RollerSki", "Rowing", "Run", "Sail", "Skateboard", "Snowboard", "Snowshoe",
    "Soccer", "Squash", "StairStepper", "StandUpPaddling", "Surfing", "Swim",
    "TableTennis", "Tennis", "TrailRun", "Velomobile", "VirtualRide", "VirtualRow",
    "VirtualRun", "Volleyball", "Walk", "WeightTraining", "Wheelchair", "Windsurf",
    "Workout", "Yoga",
)  # fmt: skip

#: The validator's normalised sport names (``stravasync.validate.sports``), which the
#: ``sport`` condition compares with; a test keeps the two in step.
SPORTS: tuple[str, ...] = (
    "run", "ride", "ebike_ride", "swim", "walk", "hike", "row", "alpine_ski",
    "nordic_ski", "backcountry_ski", "snowboard", "snowshoe", "ice_skate",
    "inline_skate", "kayak", "canoe", "sup", "surf", "kitesurf", "windsurf", "sail",
    "golf", "rock_climb", "elliptical", "stair_stepper", "weight_training", "yoga",
    "workout", "wheelchair", "handcycle", "multisport", "transition", "other",
)  # fmt: skip

#: Fields a ``name``/``description`` template may use.
TEMPLATE_FIELDS: tuple[str, ...] = ("sport", "device", "file", "folder", "start", "distance_km")

_CONDITIONS = ("folder", "device", "sport", "glob", "account", "service")
_SERVICES = ("strava", "intervals")
_SETTINGS = ("name", "description", "trainer", "commute", "sport_type", "gear_id",
             "hide_from_home")
#: The settings intervals.icu takes (with its upload); the others are Strava's only.
INTERVALS_SETTINGS = ("name", "description")
_GEAR_ID = re.compile(r"[bg]\d+|none")
_DEFAULT_START = "%Y-%m-%d %H:%M"
_FILE_SUFFIXES = (".gz", ".fit", ".gpx", ".tcx")


class FactsLike(Protocol):
    """What a rule reads about a workout (``validate.Facts`` has these fields)."""

    @property
    def start_time(self) -> datetime | None: ...
    @property
    def sport(self) -> str | None: ...
    @property
    def distance_m(self) -> float | None: ...
    @property
    def device(self) -> str | None: ...


@dataclass(frozen=True)
class RuleSettings:
    """What rules set on an activity; None means "not set" (Strava's own choice stays)."""

    name: str | None = None
    """Activity name: a template in a rule, rendered text in a result."""
    description: str | None = None
    """Activity description: a template in a rule, rendered text in a result."""
    trainer: bool | None = None
    """Recorded on a trainer (sent with the upload)."""
    commute: bool | None = None
    """A commute (sent with the upload)."""
    sport_type: str | None = None
    """Strava's sport type (set by the update after the upload); one of
    :data:`STRAVA_SPORT_TYPES` in its spelling, or a newer name as the owner wrote it."""
    gear_id: str | None = None
    """``b…`` (bike), ``g…`` (shoes) or ``none`` to clear (set by the update)."""
    hide_from_home: bool | None = None
    """Mute: keep the activity out of followers' feeds (set by the update)."""
    matched: tuple[int, ...] = ()
    """Indexes (0-based, as in ``rules[N]`` key paths) of the rules that applied."""

    def post_fields(self) -> dict[str, Any]:
        """Keyword arguments for ``StravaClient.create_upload``: what goes with the POST."""
        fields = {key: getattr(self, key) for key in ("name", "description", "trainer",
                                                         "commute")}
        return {key: value for key, value in fields.items() if value not in (None, "")}

    def update_fields(self) -> dict[str, Any]:
        """The ``PUT /activities/{id}`` body; empty when no update is needed."""
        fields = {key: getattr(self, key) for key in ("sport_type", "gear_id",
                                                         "hide_from_home")}
        return {key: value for key, value in fields.items() if value is not None}

    def for_service(self, service: str | None) -> RuleSettings:
        """The settings an upload to ``service`` takes: intervals.icu only the name and
        description (:data:`INTERVALS_SETTINGS`); Strava (or not known) all of them."""
        if service != "intervals":
            return self
        return RuleSettings(name=self.name, description=self.description,
                            matched=self.matched)

    def ignored_for(self, service: str | None) -> list[str]:
        """The settings in force that ``service`` does not take (Strava-only ones)."""
        return [key for key in self.as_json() if key not in self.for_service(service).as_json()]

    def as_json(self) -> dict[str, Any]:
        """The ``rules`` object of ``stravasync check --json``: every setting in force."""
        return {**self.post_fields(), **self.update_fields()}

    def describe(self) -> str:
        """One human line for ``stravasync check``: which rules matched, what they set."""
        if not self.matched:
            return "no rule matched"
        which = ", ".join(f"rules[{i}]" for i in self.matched)
        words = []
        for key, value in self.as_json().items():
            if value is True:
                words.append(key)
            elif value is False:
                words.append(f"not {key}")
            elif key in ("name", "description"):
                words.append(f"{key} {value!r}")
            else:
                words.append(f"{key} {value}")
        return f"{which}: " + (", ".join(words) if words else "nothing to set")


@dataclass(frozen=True)
class Rule:
    """One ``[[rules]]`` table: conditions, and the settings they bring."""

    index: int
    """Position in the file (0-based), for ``rules[N]`` key paths and ``matched``."""
    settings: RuleSettings
    """``[rules.set]``, with ``name``/``description`` still templates."""
    folder: Path | None = None
    """The file must lie under this folder (expanded, absolute, as written)."""
    device: str | None = None
    """Case-insensitive substring of the device (spaces, ``_`` and ``-`` ignored)."""
    sport: str | None = None
    """One of :data:`SPORTS`."""
    glob: str | None = None
    """Case-insensitive glob on the file name."""
    account: str | None = None
    """The upload goes to this account (its ``[[accounts]]`` name)."""
    service: str | None = None
    """The upload goes to an account of this service (``strava`` or ``intervals``)."""

    def matches(self, *, path: PurePath, facts: FactsLike | None,
                account: str | None = None, service: str | None = None) -> bool:
        """Whether every condition of this rule holds for the file at *path*, sent to
        *account* of *service* (None: not known, so a rule that names one does not hold)."""
        if not (_wanted(self.account, account) and _wanted(self.service, service)):
            return False
        if self.folder is not None and not _under(path, self.folder):
            return False
        if self.glob is not None and not fnmatchcase(path.name.lower(), self.glob.lower()):
            return False
        if self.device is not None:
            device = facts.device if facts is not None else None
            if not device or _fold(self.device) not in _fold(device):
                return False
        if self.sport is not None:
            return facts is not None and facts.sport == self.sport
        return True


def _wanted(condition: str | None, actual: str | None) -> bool:
    """An ``account``/``service`` condition holds when absent, or equal to where it goes."""
    return condition is None or condition == actual


def settings_for(
    rules: Iterable[Rule], *, path: PurePath, facts: FactsLike | None, tz: tzinfo | None = None,
    account: str | None = None, service: str | None = None,
) -> RuleSettings:
    """Merge every rule matching the file (later keys win) and render its templates.

    *path* is the file's absolute path as the watcher (or the user) names it; *tz* is
    the zone ``{start:...}`` is shown in (None: the machine's local zone).
    """
    merged: dict[str, Any] = {}
    matched: list[int] = []
    for rule in rules:
        if not rule.matches(path=path, facts=facts, account=account, service=service):
            continue
        matched.append(rule.index)
        for key in _SETTINGS:
            value = getattr(rule.settings, key)
            if value is not None:
                merged[key] = value
    values = _template_values(path=path, facts=facts)
    start = facts.start_time if facts is not None else None
    local = start.astimezone(tz) if start is not None else None
    if merged.get("name") is not None:
        merged["name"] = _tidy(_render(merged["name"], values=values, start=local)) or None
    if merged.get("description") is not None:
        text = _render(merged["description"], values=values, start=local)
        lines = (_tidy(line, edges=False) for line in text.splitlines())
        merged["description"] = "\n".join(lines).strip()
        merged["description"] = merged["description"] or None
    return RuleSettings(**merged, matched=tuple(matched))


def rules_from_toml(
    raw: object, *, folder_path: Callable[[str], Path], account_names: Sequence[str] = ("me",),
) -> tuple[tuple[Rule, ...], list[str]]:
    """Read the ``rules`` array of tables; return the rules and every problem found.

    The rules are only fit for use when there are no problems (a rule with a bad
    setting comes back without it, so later checks can still look at its folder).
    *folder_path* expands a ``folder`` as the configuration expands paths. Whether
    a folder lies inside a watched path is the configuration's check, not this one.
    *account_names* are the accounts an ``account`` condition may name.
    """
    if not isinstance(raw, list) or not all(isinstance(r, Mapping) for r in raw):
        return (), ["rules: must be [[rules]] tables (an array of tables)"]
    rules: list[Rule] = []
    problems: list[str] = []
    for index, table in enumerate(raw):
        rules.append(_rule_from_toml(table, index=index, folder_path=folder_path,
                                     account_names=account_names, problems=problems))
    return tuple(rules), problems


def _rule_from_toml(
    table: Mapping[str, Any],
    *,
    index: int,
    folder_path: Callable[[str], Path],
    account_names: Sequence[str],
    problems: list[str],
) -> Rule:
    where = f"rules[{index}]"
    _unknown(table, where, (*_CONDITIONS, "set"), problems)
    text = {key: _string(table, key, where, problems) for key in _CONDITIONS}
    sport = text["sport"]
    if sport is not None:
        sport = sport.lower().replace("-", "_").replace(" ", "_")
        if sport not in SPORTS:
            problems.append(f"{where}.sport: unknown sport {text['sport']!r} "
                            f"(one of: {', '.join(SPORTS)})")
    if text["glob"] is not None and "/" in text["glob"]:
        problems.append(f"{where}.glob: a file-name glob cannot hold '/', "
                        f"got {text['glob']!r} (use folder for the folder)")
    if text["account"] is not None and text["account"] not in account_names:
        problems.append(f"{where}.account: no account is named {text['account']!r} "
                        f"(accounts: {', '.join(account_names)})")
    if text["service"] is not None and text["service"] not in _SERVICES:
        problems.append(f"{where}.service: must be one of {', '.join(_SERVICES)}, "
                        f"got {text['service']!r}")
    raw_set = table.get("set", {})
    if not isinstance(raw_set, Mapping):
        problems.append(f"{where}.set: must be a table ([rules.set]), got {raw_set!r}")
        raw_set = {}
    elif not raw_set:
        problems.append(f"{where}.set: missing: a rule needs [rules.set] with something to set")
    settings = _settings_from_toml(raw_set, where=f"{where}.set", problems=problems)
    return Rule(
        index=index,
        settings=settings,
        folder=folder_path(text["folder"]) if text["folder"] is not None else None,
        device=text["device"],
        sport=sport,
        glob=text["glob"],
        account=text["account"],
        service=text["service"],
    )


def _settings_from_toml(
    table: Mapping[str, Any], *, where: str, problems: list[str]
) -> RuleSettings:
    _unknown(table, where, _SETTINGS, problems)
    values: dict[str, Any] = {}
    for key in ("name", "description"):
        template = _string(table, key, where, problems)
        if template is not None:
            problems.extend(f"{where}.{key}: {p}" for p in _template_problems(template))
            values[key] = template
    for key in ("trainer", "commute", "hide_from_home"):
        if key in table:
            if isinstance(table[key], bool):
                values[key] = table[key]
            else:
                problems.append(f"{where}.{key}: expected true/false, got {table[key]!r}")
    sport_type = _string(table, "sport_type", where, problems)
    if sport_type is not None:
        by_fold = {name.lower(): name for name in STRAVA_SPORT_TYPES}
        values["sport_type"] = by_fold.get(sport_type.lower(), sport_type)
    gear_id = _string(table, "gear_id", where, problems)
    if gear_id is not None:
        if _GEAR_ID.fullmatch(gear_id):
            values["gear_id"] = gear_id
        else:
            problems.append(f"{where}.gear_id: {gear_id!r} is not a gear id: b followed by "
                            "digits (a bike), g followed by digits (shoes), or none (no gear)")
    return RuleSettings(**values)


def rule_warnings(rules: Iterable[Rule]) -> list[str]:
    """A line per ``sport_type`` not among :data:`STRAVA_SPORT_TYPES`, naming the closest.

    A warning, not an error: Strava adds sport types, the name is sent as written, and
    Strava's own refusal of the update tells the owner if it is not one.
    """
    warnings = []
    for rule in rules:
        sport_type = rule.settings.sport_type
        if sport_type is None or sport_type in STRAVA_SPORT_TYPES:
            continue
        by_fold = {name.lower(): name for name in STRAVA_SPORT_TYPES}
        close = difflib.get_close_matches(sport_type.lower(), list(by_fold), n=1, cutoff=0.6)
        hint = f" (did you mean {by_fold[close[0]]!r}?)" if close else ""
        warnings.append(
            f"rules[{rule.index}].set.sport_type: {sport_type!r} is not a sport type "
            f"stravasync knows{hint}: it is sent as written, and Strava refuses the "
            "update if it does not know it either")
    return warnings


def _unknown(table: Mapping[str, Any], where: str, known: Sequence[str],
             problems: list[str]) -> None:
    for key in table:
        if key not in known:
            problems.append(f"{where}.{key}: unknown key (known: {', '.join(sorted(known))})")


def _string(table: Mapping[str, Any], key: str, where: str, problems: list[str]) -> str | None:
    """A string setting; an empty one counts as not given (SPEC writes ``device = ""``)."""
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(f"{where}.{key}: expected a string, got {value!r}")
        return None
    return value if value.strip() else None


def _template_problems(template: str) -> list[str]:
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        return [f"{exc} in {template!r} (write {{{{ and }}}} for literal braces)"]
    problems = []
    for _literal, field_name, spec, conversion in parts:
        if field_name is None:
            continue
        if field_name not in TEMPLATE_FIELDS:
            problems.append(f"unknown template field {{{field_name}}} "
                            f"(known: {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)})")
        elif conversion or (spec and field_name != "start"):
            problems.append(f"{{{field_name}}} takes no format: only {{start:STRFTIME}} does")
    return problems


def _render(template: str, *, values: Mapping[str, str], start: datetime | None) -> str:
    out: list[str] = []
    for literal, field_name, spec, _conversion in string.Formatter().parse(template):
        out.append(literal)
        if field_name == "start":
            out.append(start.strftime(spec or _DEFAULT_START) if start is not None else "")
        elif field_name is not None:
            out.append(values.get(field_name, ""))
    return "".join(out)


def _template_values(*, path: PurePath, facts: FactsLike | None) -> dict[str, str]:
    stem = path.name
    for suffix in _FILE_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    sport = facts.sport if facts is not None else None
    device = facts.device if facts is not None else None
    distance = facts.distance_m if facts is not None else None
    return {
        "sport": sport.replace("_", " ").capitalize() if sport else "",
        "device": _pretty_device(device) if device else "",
        "file": stem,
        "folder": path.parent.name,
        "distance_km": f"{distance / 1000:.1f}" if distance is not None else "",
    }


def _pretty_device(device: str) -> str:
    """``garmin edge_530`` -> ``Garmin Edge 530``; words with capitals stay as written."""
    words = device.replace("_", " ").split()
    return " ".join(w.capitalize() if w.islower() else w for w in words)


_SEPARATORS = ",;:|/\u00b7\u2013\u2014-"  # middle dot, en and em dash
_EMPTY_BRACKETS = re.compile(r"\(\s*\)|\[\s*\]")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,;:.!?)\]])")
_REPEATED_SEPARATORS = re.compile(rf"([{_SEPARATORS}])(?:\s*[{_SEPARATORS}])+")
_SPACES = re.compile(r"\s+")


def _tidy(text: str, *, edges: bool = True) -> str:
    """Mend what empty fields leave behind: double spaces, ``( )``, ``, ,`` and, with
    *edges*, separators left at either end (a description keeps its ``- `` bullets)."""
    text = _SPACES.sub(" ", text)
    text = _EMPTY_BRACKETS.sub("", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    text = _REPEATED_SEPARATORS.sub(r"\1", text)
    text = _SPACES.sub(" ", text)
    return text.strip(" " + _SEPARATORS) if edges else text.strip()


def _under(path: PurePath, folder: PurePath) -> bool:
    return _normal(path).is_relative_to(_normal(folder))


def _normal(path: PurePath) -> PurePath:
    """Lexically normalised (``a/./b/../c`` -> ``a/c``), never touching the disk."""
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if len(parts) > 1:
                parts.pop()
        elif part != ".":
            parts.append(part)
    return type(path)(*parts) if parts else path


def _fold(text: str) -> str:
    return re.sub(r"[\s_-]+", "", text.lower())
