"""Tests for the emulator's intervals.icu API under /intervals/api/v1 (MockTransport)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from engine_rig import emulator_transport
from fixtures import fit_bytes, gpx_text, tcx_text

from stravasync.emulator import EmulatorConfig, EmulatorState, HouseholdAthlete, ManualClock

BASE = "http://emulator.test"
ICU = f"{BASE}/intervals/api/v1"
EMMA, BOB = 1234567, 2345678
EMMA_KEY, BOB_KEY = "emulator-icu-key-1234567", "bob-secret-key"
MAY_1 = datetime(2024, 5, 1, 7, 30, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    """A clock the test moves by hand (2 June 2027)."""
    return ManualClock(1_811_900_000.0)


@pytest.fixture
def emulator(clock: ManualClock) -> EmulatorState:
    """An emulator with Emma (default key) and Bob (own key)."""
    bob = HouseholdAthlete(id=BOB, firstname="Bob", lastname="Builder", intervals_key=BOB_KEY)
    return EmulatorState(EmulatorConfig(seed=7, clock=clock, athletes=(bob,)))


@pytest.fixture
def http(emulator: EmulatorState) -> Iterator[httpx.Client]:
    """An httpx client whose transport is the emulator itself."""
    with httpx.Client(transport=emulator_transport(emulator), base_url=BASE) as client:
        yield client


def key(value: str) -> httpx.BasicAuth:
    """intervals.icu's personal-key auth: user API_KEY, the key as password."""
    return httpx.BasicAuth("API_KEY", value)


def post(
    http: httpx.Client, api_key: str, data: bytes, filename: str, athlete: str = "0", **params: str
) -> httpx.Response:
    """Upload one file to intervals.icu."""
    return http.post(
        f"{ICU}/athlete/{athlete}/activities",
        auth=key(api_key),
        params=params,
        files={"file": (filename, data)},
    )


def listed(http: httpx.Client, api_key: str, **params: str) -> httpx.Response:
    """List the key's athlete's activities."""
    query = {"oldest": "2024-04-01", **params}
    return http.get(f"{ICU}/athlete/0/activities", auth=key(api_key), params=query)


def test_an_upload_is_an_activity_at_once_and_listed_by_date(http: httpx.Client) -> None:
    """POST answers 200 with the id; the list between the dates shows it with its fields."""
    answer = post(http, EMMA_KEY, fit_bytes(start=MAY_1), "ride.fit", name="Ride", external_id="x1")
    found = listed(http, EMMA_KEY, newest="2024-05-01").json()
    assert (200, True) == (answer.status_code, answer.json()["id"].startswith("i"))
    assert [(answer.json()["id"], "2024-05-01T07:30:00", "Ride", "x1")] == [
        (a["id"], a["start_date_local"], a["name"], a["external_id"]) for a in found
    ]


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("run.tcx", tcx_text(start=MAY_1).encode()),
        ("ride.gpx.gz", gzip.compress(gpx_text(start=MAY_1).encode())),
        ("no-extension", fit_bytes(start=MAY_1)),
    ],
)
def test_tcx_gzip_and_unnamed_files_are_read(http: httpx.Client, filename: str, data: bytes) -> None:
    """TCX, gzipped GPX and a FIT without an extension all become activities."""
    answer = post(http, EMMA_KEY, data, filename)
    assert (200, "2024-05-01T07:30:00") == (answer.status_code, answer.json()["start_date_local"])


def test_the_same_file_twice_makes_two_activities(
    emulator: EmulatorState, http: httpx.Client
) -> None:
    """intervals.icu does not refuse a duplicate upload: the client must look before resending."""
    data = fit_bytes(start=MAY_1)
    first, second = (post(http, EMMA_KEY, data, "a.fit", external_id="x") for _ in range(2))
    ids = [first.json()["id"], second.json()["id"]]
    assert (2, ids) == (len(set(ids)), [a["id"] for a in emulator.intervals_activities_of(EMMA)])


def test_the_list_keeps_to_its_dates_newest_first(http: httpx.Client) -> None:
    """oldest/newest are whole days, both inclusive; the newest activity comes first."""
    for day in range(4):
        start = MAY_1 + timedelta(days=day)
        post(http, EMMA_KEY, gpx_text(start=start).encode(), f"d{day}.gpx", external_id=f"d{day}")
    found = listed(http, EMMA_KEY, oldest="2024-05-02", newest="2024-05-03").json()
    bad = listed(http, EMMA_KEY, oldest="May")
    assert (["d2", "d1"], 422) == ([a["external_id"] for a in found], bad.status_code)


def test_each_key_sees_and_fills_only_its_own_athlete(
    emulator: EmulatorState, http: httpx.Client
) -> None:
    """Id 0 and the own id mean the key's athlete; another athlete's path is 403."""
    post(http, BOB_KEY, fit_bytes(start=MAY_1), "b.fit", athlete="0", external_id="b")
    own = post(http, BOB_KEY, gpx_text(start=MAY_1).encode(), "b.gpx", athlete=f"i{BOB}")
    other = post(http, BOB_KEY, fit_bytes(start=MAY_1), "e.fit", athlete=f"i{EMMA}")
    peek = http.get(f"{ICU}/athlete/i{EMMA}/activities", auth=key(BOB_KEY), params={"oldest": "2024-01-01"})
    assert (200, 403, 403) == (own.status_code, other.status_code, peek.status_code)
    assert ([], ["b", None]) == (
        [a["external_id"] for a in listed(http, EMMA_KEY).json()],
        [a["external_id"] for a in emulator.intervals_activities_of(f"i{BOB}")],
    )


def test_a_wrong_key_is_401_and_a_revoked_key_403(
    emulator: EmulatorState, http: httpx.Client
) -> None:
    """Both need a person: a key never issued (or no auth) is 401, a revoked one 403."""
    wrong = listed(http, "nope")
    anonymous = http.get(f"{ICU}/athlete/0/activities", params={"oldest": "2024-01-01"})
    other_user = http.get(f"{ICU}/athlete/0", auth=httpx.BasicAuth("athlete", EMMA_KEY))
    revoking = http.post(f"{BASE}/_emulator/intervals/revoke-key", json={"athlete": EMMA})
    revoked = listed(http, EMMA_KEY)
    emulator.replace_intervals_key(EMMA, "fresh")
    assert [401, 401, 401, 403, 200] == [
        r.status_code for r in (wrong, anonymous, other_user, revoked, listed(http, "fresh"))
    ]
    assert ({"revoked": 1}, {"status": 403, "error": "API key has been revoked"}) == (
        revoking.json(),
        revoked.json(),
    )


def test_an_unreadable_file_gets_422_with_a_message(
    emulator: EmulatorState, http: httpx.Client
) -> None:
    """The emulator's content checks apply; the status can be set to 400 by a knob."""
    untimed = gpx_text(start=MAY_1, timed=0).encode()
    answer = post(http, EMMA_KEY, untimed, "a.gpx")
    emulator.set_knobs(intervals_unreadable_status=400)
    garbage = post(http, EMMA_KEY, b"hello", "b.txt")
    missing = http.post(f"{ICU}/athlete/0/activities", auth=key(EMMA_KEY), data={"name": "x"})
    assert (422, "Unable to read a.gpx: Time information is missing from GPS file.") == (
        answer.status_code,
        answer.json()["error"],
    )
    assert (400, 400, []) == (
        garbage.status_code,
        missing.status_code,
        emulator.intervals_activities_of(EMMA),
    )


def test_too_fast_gets_429_with_retry_after_until_the_window_moves(
    emulator: EmulatorState, clock: ManualClock, http: httpx.Client
) -> None:
    """Over intervals_rate_limit calls per window answers 429 (Retry-After if set)."""
    emulator.set_knobs(intervals_rate_limit=2, intervals_rate_window_s=10, intervals_retry_after_s=7)
    answers = [listed(http, EMMA_KEY) for _ in range(3)]
    clock.advance(10)
    later = listed(http, EMMA_KEY)
    assert [(200, None), (200, None), (429, "7"), (200, None)] == [
        (r.status_code, r.headers.get("retry-after")) for r in [*answers, later]
    ]


def test_faults_are_5xx_and_a_dropped_upload_is_still_recorded(
    emulator: EmulatorState, http: httpx.Client
) -> None:
    """intervals_5xx_share answers 5xx without effect; intervals_drop_share keeps the activity."""
    emulator.set_knobs(intervals_5xx_share=1.0)
    failed = post(http, EMMA_KEY, fit_bytes(start=MAY_1), "a.fit", external_id="x")
    emulator.set_knobs(intervals_5xx_share=0.0, intervals_drop_share=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        post(http, EMMA_KEY, fit_bytes(start=MAY_1), "a.fit", external_id="x")
    emulator.set_knobs(intervals_drop_share=0.0)
    assert (True, ["x"], [True]) == (
        failed.status_code in {500, 502, 503},
        [a["external_id"] for a in listed(http, EMMA_KEY).json()],
        [a["dropped"] for a in emulator.intervals_activities_of(EMMA)],
    )


def test_intervals_calls_do_not_count_on_stravas_budget(
    emulator: EmulatorState, http: httpx.Client
) -> None:
    """intervals.icu calls are logged apart: Strava's rate-limit usage and API calls stay 0."""
    post(http, EMMA_KEY, fit_bytes(start=MAY_1), "a.fit")
    state = emulator.inspect()
    assert (0, 0, 1, {"200": 1}, "POST /athlete/{id}/activities") == (
        state["rate_limit"]["usage_15"],
        state["counters"]["api_calls"],
        state["intervals"]["calls"],
        state["intervals"]["by_status"],
        state["requests"][-1]["route"],
    )


def test_the_athlete_endpoint_names_the_keys_athlete(http: httpx.Client) -> None:
    """GET /athlete/0 says whose key it is (a cheap check of a key)."""
    answer = http.get(f"{ICU}/athlete/0", auth=key(BOB_KEY))
    assert {"id": f"i{BOB}", "name": "Bob Builder"} == answer.json()


def test_the_intervals_latency_knob_is_apart_from_stravas(emulator: EmulatorState) -> None:
    """intervals_latency_s delays intervals.icu answers only; latency_s Strava's only."""
    emulator.set_knobs(intervals_latency_s=0.5, latency_s=0.25)
    assert (0.5, 0.25, 0.25, 0.0) == (
        emulator.latency_for("/intervals/api/v1/athlete/0/activities"),
        emulator.latency_for("/api/v3/uploads"),
        emulator.latency_for("/oauth/token"),
        emulator.latency_for("/_emulator/state"),
    )
