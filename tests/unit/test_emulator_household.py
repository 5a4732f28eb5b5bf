"""Tests for the emulator's household: several athletes on one Strava app (MockTransport)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import click
import httpx
import pytest
from engine_rig import emulator_transport
from fixtures import gpx_text

from stravasync.cli.emulator_cmd import build_config, emulator_command
from stravasync.emulator import EmulatorConfig, EmulatorState, HouseholdAthlete, Knobs, ManualClock

BASE = "http://strava.test"
API, OAUTH = f"{BASE}/api/v3", f"{BASE}/oauth"
CLIENT = {"client_id": "12345", "client_secret": "emulator-secret"}
AUTHORIZE = {
    "client_id": "12345",
    "redirect_uri": "http://127.0.0.1:8999/callback",
    "response_type": "code",
    "approval_prompt": "auto",
    "scope": "read,activity:write,activity:read_all,profile:read_all",
    "state": "s-1",
}
EMMA, BOB, ANN = 1234567, 2345678, 3456789
HOUSEHOLD = (
    HouseholdAthlete(id=BOB, firstname="Bob", lastname="Builder"),
    HouseholdAthlete(id=ANN, firstname="Ann", lastname="Other", bikes=(("b999", "Ann's gravel bike"),)),
)


@pytest.fixture
def clock() -> ManualClock:
    """A clock the test moves by hand."""
    return ManualClock(1_800_000_000.0)


@pytest.fixture
def strava(clock: ManualClock) -> EmulatorState:
    """An emulator with three athletes and one-second processing."""
    knobs = Knobs(processing_min_s=1.0, processing_max_s=1.0, duplicate_html_share=0.0)
    return EmulatorState(EmulatorConfig(seed=3, clock=clock, knobs=knobs, athletes=HOUSEHOLD))


@pytest.fixture
def http(strava: EmulatorState) -> Iterator[httpx.Client]:
    """An httpx client whose transport is the emulator itself."""
    with httpx.Client(transport=emulator_transport(strava), base_url=BASE) as client:
        yield client


def sign_in(http: httpx.Client, **extra: str) -> httpx.Response:
    """Play the browser at /oauth/authorize (no redirect followed)."""
    return http.get(f"{OAUTH}/authorize", params={**AUTHORIZE, **extra})


def tokens_of(http: httpx.Client, answer: httpx.Response) -> dict[str, Any]:
    """Exchange the code in the authorize redirect for tokens."""
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    grant = {**CLIENT, "code": code, "grant_type": "authorization_code"}
    response = http.post(f"{OAUTH}/token", data=grant)
    assert 200 == response.status_code, response.text
    return dict(response.json())


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    """The Authorization header for `tokens`."""
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def upload(http: httpx.Client, tokens: dict[str, Any], data: bytes, name: str) -> int:
    """POST one GPX; return the upload id."""
    response = http.post(
        f"{API}/uploads",
        headers=bearer(tokens),
        data={"data_type": "gpx", "external_id": name},
        files={"file": (f"{name}.gpx", data)},
    )
    assert 201 == response.status_code, response.text
    return int(response.json()["id"])


def workout(hour: int) -> bytes:
    """A distinct GPX workout starting `hour` hours into 1 May 2024."""
    start = datetime(2024, 5, 1, tzinfo=UTC) + timedelta(hours=hour)
    return gpx_text(start=start).encode()


def test_the_athlete_parameter_chooses_who_signs_in(http: httpx.Client) -> None:
    """authorize?athlete=N signs N in; without it the configured athlete signs in."""
    bob = tokens_of(http, sign_in(http, athlete=str(BOB)))
    emma = tokens_of(http, sign_in(http))
    assert [(BOB, "Bob", "Builder"), (EMMA, "Emma", "Ulator")] == [
        (t["athlete"]["id"], t["athlete"]["firstname"], t["athlete"]["lastname"])
        for t in (bob, emma)
    ]


def test_sign_in_as_picks_the_athlete_of_the_next_sign_ins(
    strava: EmulatorState, http: httpx.Client
) -> None:
    """After sign_in_as (Python or /_emulator/sign-in) authorize signs that athlete in."""
    strava.sign_in_as(ANN)
    first = tokens_of(http, sign_in(http))["athlete"]["id"]
    switched = http.post(f"{BASE}/_emulator/sign-in", json={"athlete_id": BOB})
    second = tokens_of(http, sign_in(http))["athlete"]["id"]
    unknown = http.post(f"{BASE}/_emulator/sign-in", json={"athlete_id": 42})
    assert (ANN, 200, BOB, 400) == (first, switched.status_code, second, unknown.status_code)


def test_the_approval_page_has_a_login_step(strava: EmulatorState, http: httpx.Client) -> None:
    """With the approval page, the athlete chosen on it is the one who signs in."""
    strava.set_knobs(approval_page=True)
    page = sign_in(http)
    form = {**AUTHORIZE, "athlete": str(ANN), "approve": "yes", "grant": "activity:write"}
    answer = http.post(f"{OAUTH}/authorize", data=form)
    tokens = tokens_of(http, answer)
    assert (200, True, ANN, "activity:write") == (
        page.status_code,
        f'<option value="{ANN}">Ann Other ({ANN})</option>' in page.text,
        tokens["athlete"]["id"],
        parse_qs(urlsplit(answer.headers["location"]).query)["scope"][0],
    )


def test_an_athlete_outside_the_household_cannot_sign_in(http: httpx.Client) -> None:
    """authorize?athlete= with an unknown id is a bad request, not a made-up athlete."""
    answer = sign_in(http, athlete="42")
    assert (400, None) == (answer.status_code, answer.headers.get("location"))


def test_each_athlete_sees_only_their_own_profile_gear_and_activities(
    strava: EmulatorState, clock: ManualClock, http: httpx.Client
) -> None:
    """Uploads land on the uploader's athlete; /athlete and the list show only their own."""
    emma = tokens_of(http, sign_in(http))
    ann = tokens_of(http, sign_in(http, athlete=str(ANN)))
    upload(http, emma, workout(1), "e1")
    upload(http, ann, workout(2), "a1")
    upload(http, ann, workout(1), "a2")  # Emma's file: not a duplicate on Ann's account
    clock.advance(2)
    listed = {
        who: [a["external_id"] for a in http.get(f"{API}/athlete/activities", headers=bearer(t)).json()]
        for who, t in (("emma", emma), ("ann", ann))
    }
    profile = http.get(f"{API}/athlete", headers=bearer(ann)).json()
    assert {"emma": ["e1.gpx"], "ann": ["a1.gpx", "a2.gpx"]} == listed
    assert ("Ann", ["b999"], [f"g{ANN}"]) == (
        profile["firstname"],
        [b["id"] for b in profile["bikes"]],
        [s["id"] for s in profile["shoes"]],
    )
    assert (["e1.gpx"], ["a1.gpx", "a2.gpx"], []) == tuple(
        [a["external_id"] for a in strava.activities_of(who)] for who in (EMMA, ANN, BOB)
    )


def test_an_athlete_cannot_use_another_athletes_gear_or_uploads(
    clock: ManualClock, http: httpx.Client
) -> None:
    """Bob cannot poll Emma's upload, and Emma's bike is not a gear_id on Bob's activity."""
    emma = tokens_of(http, sign_in(http))
    bob = tokens_of(http, sign_in(http, athlete=str(BOB)))
    emmas = upload(http, emma, workout(1), "e1")
    bobs = upload(http, bob, workout(2), "b1")
    clock.advance(2)
    activity = http.get(f"{API}/uploads/{bobs}", headers=bearer(bob)).json()["activity_id"]
    poll = http.get(f"{API}/uploads/{emmas}", headers=bearer(bob))
    put = http.put(f"{API}/activities/{activity}", headers=bearer(bob), json={"gear_id": "b1234567"})
    own = http.put(f"{API}/activities/{activity}", headers=bearer(bob), json={"gear_id": f"b{BOB}"})
    assert (404, 400, 200) == (poll.status_code, put.status_code, own.status_code)


def test_every_athletes_calls_spend_the_one_app_budget(
    strava: EmulatorState, http: httpx.Client
) -> None:
    """Rate limits are per app: each athlete's call counts on the same usage and headers."""
    strava.set_knobs(limit_15=3)
    everyone = [tokens_of(http, sign_in(http, athlete=str(a))) for a in (EMMA, BOB, ANN, EMMA)]
    answers = [http.get(f"{API}/athlete", headers=bearer(t)) for t in everyone]
    assert [(200, "1"), (200, "2"), (200, "3"), (429, "4")] == [
        (r.status_code, r.headers["X-RateLimit-Usage"].split(",")[0]) for r in answers
    ]


def test_the_cap_counts_distinct_athletes_and_refuses_the_next_one_at_authorize(
    strava: EmulatorState, http: httpx.Client
) -> None:
    """With a cap of 2, two athletes connect (one twice); the third gets the 403 page."""
    strava.set_knobs(athlete_cap=2)
    for athlete in (EMMA, BOB, EMMA):
        tokens_of(http, sign_in(http, athlete=str(athlete)))
    refused = sign_in(http, athlete=str(ANN))
    state = strava.inspect(requests=False)
    assert (403, None, True) == (
        refused.status_code,
        refused.headers.get("location"),
        "Limit of connected athletes exceeded" in refused.text,
    )
    assert ([EMMA, BOB], [True, True, False]) == (
        state["connected_athletes"],
        [a["connected"] for a in state["athletes"]],
    )


def test_inspection_lists_each_athletes_activities_and_uploads(
    strava: EmulatorState, clock: ManualClock, http: httpx.Client
) -> None:
    """/_emulator/athletes (and inspect()["athletes"]) split activities and uploads by athlete."""
    bob = tokens_of(http, sign_in(http, athlete=str(BOB)))
    upload_id = upload(http, bob, workout(3), "b1")
    clock.advance(2)
    seen = {a["id"]: a for a in http.get(f"{BASE}/_emulator/athletes").json()}
    assert ([], [], ["b1.gpx"], [upload_id]) == (
        seen[EMMA]["activities"],
        seen[EMMA]["uploads"],
        [a["external_id"] for a in seen[BOB]["activities"]],
        seen[BOB]["uploads"],
    )


def test_athletes_can_join_the_household_at_runtime(
    strava: EmulatorState, http: httpx.Client
) -> None:
    """POST /_emulator/athletes adds a member who can then sign in; a taken id is refused."""
    added = http.post(f"{BASE}/_emulator/athletes", json={"id": 555, "firstname": "Zoe"})
    again = http.post(f"{BASE}/_emulator/athletes", json={"id": 555})
    zoe = tokens_of(http, sign_in(http, athlete="555"))
    assert (200, 400, "Zoe") == (added.status_code, again.status_code, zoe["athlete"]["firstname"])


def test_the_emulator_command_takes_a_household() -> None:
    """--athletes ID[:FIRST[:LAST]],… adds athletes; a malformed or repeated one is refused."""
    context = emulator_command.make_context(
        "emulator", ["--athletes", "2345678:Bob:Builder,3456789:Ann", "--athletes", "42"]
    )
    config = build_config(context.params)
    bad = emulator_command.make_context("emulator", ["--athletes", "bob"])
    twice = emulator_command.make_context("emulator", ["--athletes", "1234567:Emma"])
    assert [(BOB, "Bob", "Builder"), (ANN, "Ann", "3456789"), (42, "Athlete", "42")] == [
        (a.id, a.firstname, a.lastname) for a in config.athletes
    ]
    with pytest.raises(click.BadParameter, match="ID\\[:FIRST\\[:LAST\\]\\]"):
        build_config(bad.params)
    with pytest.raises(click.BadParameter, match="already in the household"):
        build_config(twice.params)
