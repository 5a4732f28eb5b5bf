"""One sport vocabulary for every format, so one workout exported twice looks the same.

The engine pairs files by ``(start_time, sport)``; FIT says ``cycling``, TCX says
``Biking``, a Strava GPX says ``1`` and a Garmin GPX says ``road_biking`` for the
same ride. Everything is folded onto these names (Strava's activity types in
snake_case)::

    run ride ebike_ride swim walk hike row alpine_ski nordic_ski backcountry_ski
    snowboard snowshoe ice_skate inline_skate kayak canoe sup surf kitesurf
    windsurf sail golf rock_climb elliptical stair_stepper weight_training yoga
    workout wheelchair handcycle multisport transition other

Sources folded (case, spaces, ``-`` and ``_`` ignored):

- FIT ``sport`` names (``running``, ``cycling``, ``swimming``, ``generic`` ...) and,
  for ``fitness_equipment``/``training``, the ``sub_sport`` (``treadmill`` is a run,
  ``indoor_rowing`` a row, ``strength_training`` weight training ...).
- TCX ``Activity/@Sport``: ``Running``, ``Biking``, ``Other`` (-> ``other``, as FIT
  ``generic`` is, since Garmin exports one as the other).
- GPX ``trk/type``: Garmin Connect words (``road_biking``, ``trail_running``,
  ``lap_swimming`` ...), Strava type names (``Ride``, ``VirtualRide``) and Strava's
  numeric GPX types (``1`` ride, ``4`` hike, ``9`` run, ``10`` walk, ``16`` swim ...).

Unknown words come back as None: better no sport than a wrong one.
"""

from __future__ import annotations

__all__ = ["normalise_fit_sport", "normalise_sport"]

_WORDS: dict[str, str] = {}


def _add(canonical: str, *aliases: str) -> None:
    for word in (canonical, *aliases):
        _WORDS[_key(word)] = canonical


def _key(word: str) -> str:
    return word.strip().lower().replace("_", "").replace("-", "").replace(" ", "")


_add(
    "run",
    "running", "run", "trail_running", "treadmill_running", "street_running",
    "track_running", "indoor_running", "virtual_run", "virtualrun", "trailrun",
    "ultra_run", "9",
)  # fmt: skip
_add(
    "ride",
    "cycling", "biking", "bike", "ride", "road_biking", "road_cycling", "mountain_biking",
    "mountainbikeride", "gravel_cycling", "gravelride", "cyclocross", "indoor_cycling",
    "virtual_ride", "virtualride", "track_cycling", "bmx", "recumbent_cycling",
    "downhill_biking", "spin", "1",
)  # fmt: skip
_add("ebike_ride", "e_biking", "e_bike_ride", "ebikeride", "e_bike_fitness", "17")
_add(
    "swim",
    "swimming", "swim", "lap_swimming", "open_water_swimming", "pool_swimming", "16",
)  # fmt: skip
_add("walk", "walking", "walk", "casual_walking", "speed_walking", "10")
_add("hike", "hiking", "hike", "4")
_add("row", "rowing", "row", "indoor_rowing", "rowing_v2", "21")
_add("alpine_ski", "alpine_skiing", "alpineski", "downhill_skiing", "2")
_add("nordic_ski", "cross_country_skiing", "nordicski", "skate_skiing", "7")
_add("backcountry_ski", "backcountry_skiing", "backcountryski", "3")
_add("snowboard", "snowboarding", "snowboard", "12")
_add("snowshoe", "snowshoeing", "snowshoe", "13")
_add("ice_skate", "ice_skating", "iceskate", "5")
_add("inline_skate", "inline_skating", "inlineskate", "6")
_add("kayak", "kayaking", "kayak", "whitewater_kayaking", "20")
_add("canoe", "canoeing", "canoe", "19")
_add("sup", "stand_up_paddleboarding", "standuppaddling", "paddling", "22")
_add("surf", "surfing", "surf", "23")
_add("kitesurf", "kitesurfing", "kitesurf", "14")
_add("windsurf", "windsurfing", "windsurf", "15")
_add("sail", "sailing", "sail")
_add("golf", "golf")
_add("rock_climb", "rock_climbing", "rockclimbing", "climbing", "bouldering", "26")
_add("elliptical", "elliptical", "25")
_add("stair_stepper", "stair_climbing", "stairstepper", "27")
_add("weight_training", "strength_training", "weighttraining", "28")
_add("yoga", "yoga", "29")
_add("workout", "training", "workout", "fitness_equipment", "cardio_training", "hiit", "crossfit")
_add("wheelchair", "wheelchair_push_run", "wheelchair_push_walk", "wheelchair")
_add("handcycle", "hand_cycling", "handcycle")
_add("multisport", "multisport", "multi_sport", "triathlon", "duathlon")
_add("transition", "transition")
_add("other", "generic", "other", "all")

# FIT sports whose meaning lives in sub_sport.
_FIT_BY_SUB_SPORT: dict[str, dict[str, str]] = {
    "fitness_equipment": {
        "treadmill": "run",
        "elliptical": "elliptical",
        "indoor_rowing": "row",
        "stair_climbing": "stair_stepper",
        "indoor_cycling": "ride",
        "spin": "ride",
        "strength_training": "weight_training",
    },
    "training": {
        "strength_training": "weight_training",
        "yoga": "yoga",
        "pilates": "workout",
        "cardio_training": "workout",
    },
}


def normalise_sport(word: object) -> str | None:
    """Fold a sport word (any format, any case, or a Strava GPX number) to our name."""
    if word is None:
        return None
    return _WORDS.get(_key(str(word)))


def normalise_fit_sport(sport: object, sub_sport: object) -> str | None:
    """Fold a FIT sport (enum name or number) with its sub_sport to our name."""
    if not isinstance(sport, str):
        return None
    by_sub = _FIT_BY_SUB_SPORT.get(sport)
    if by_sub and isinstance(sub_sport, str) and sub_sport in by_sub:
        return by_sub[sub_sport]
    return normalise_sport(sport)
