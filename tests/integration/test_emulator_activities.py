"""Tests for the emulator's activity endpoints: PUT /activities/{id}, GET /athlete/activities, gear."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from emulator_rig import bearer
from fixtures import fit_bytes, gpx_text, tcx_text

from stravasync.emulator import Emulator, ManualClock

pytestmark = pytest.mark.integration

NOW = datetime(2026, 9, 1, 12, 0, 5, tzinfo=UTC).timestamp()
WRITE, READ = "read,activity:write", "read,activity:write,activity:read"
READ_ALL = "read,activity:write,activity:read_all"
SCOPE_MISSING_READ = {
    "message": "Authorization Error",
    "errors": [{"resource": "AccessToken", "field": "activity:read_permission", "code": "missing"}],
}


@pytest.fixture
def clock() -> ManualClock:
    """A clock the test moves by hand, from this module's start (the emulator fixture uses it)."""
    return ManualClock(NOW)


def day(n: int) -> datetime:
    """Noon UTC on the n-th of May 2024 (a workout's start)."""
    return datetime(2024, 5, n, 12, 0, tzinfo=UTC)


def post(
    http: httpx.Client,
    strava: Emulator,
    tokens: dict[str, Any],
    data: bytes,
    *,
    data_type: str = "gpx",
    **fields: str,
) -> int:
    """POST one file; return its upload id."""
    response = http.post(
        f"{strava.api_url}/uploads",
        headers=bearer(tokens),
        data={"data_type": data_type, **fields},
        files={"file": (f"w.{data_type}", data, "application/octet-stream")},
    )
    assert 201 == response.status_code, response.text
    upload_id: int = response.json()["id"]
    return upload_id


def make_activity(
    http: httpx.Client, strava: Emulator, clock: ManualClock, tokens: dict[str, Any]
) -> int:
    """Upload one GPX, let it process, return the activity id."""
    post(http, strava, tokens, gpx_text(start=day(1)).encode())
    clock.advance(3)
    [activity] = strava.inspect(requests=False)["activities"]
    activity_id: int = activity["id"]
    return activity_id


def listed(
    http: httpx.Client, strava: Emulator, tokens: dict[str, Any], **params: Any
) -> httpx.Response:
    """GET /athlete/activities with `params`."""
    return http.get(f"{strava.api_url}/athlete/activities", headers=bearer(tokens), params=params)


# -- PUT /activities/{id} ---------------------------------------------------------------


def test_put_sets_the_updatable_fields_from_json_and_from_a_form(
    strava: Emulator, clock: ManualClock, http: httpx.Client
) -> None:
    """JSON and form bodies both update; the answer is the updated activity; 'none' clears gear."""
    tokens = strava.issue_tokens(scope=WRITE)
    activity_id = make_activity(http, strava, clock, tokens)
    url = f"{strava.api_url}/activities/{activity_id}"
    changes = {
        "sport_type": "VirtualRide",
        "gear_id": "b2345678",
        "trainer": True,
        "hide_from_home": True,
        "name": "Zwift - Watopia",
        "description": "easy spin",
    }
    answer = http.put(url, headers=bearer(tokens), json=changes)
    assert 200 == answer.status_code
    assert changes == {k: answer.json()[k] for k in changes}
    form = http.put(url, headers=bearer(tokens), data={"commute": "1", "gear_id": "none"})
    assert (200, True, None) == (
        form.status_code,
        form.json()["commute"],
        form.json()["gear_id"],
    )
    [seen] = strava.inspect(requests=False)["activities"]
    assert ("VirtualRide", None, True, True, True) == (
        seen["sport_type"],
        seen["gear_id"],
        seen["trainer"],
        seen["commute"],
        seen["hide_from_home"],
    )
    assert [(200, True, changes), (200, True, {"commute": "1", "gear_id": "none"})] == [
        (u["status"], u["applied"], u["fields"]) for u in seen["updates"]
    ]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"private": True}, ["private"]),  # privacy cannot be set through the API
        ({"type": "Ride", "name": "x"}, ["type"]),
        ({"sport_type": "Bike"}, ["sport_type"]),
        ({"gear_id": "b999"}, ["gear_id"]),  # not one of the athlete's bikes
        ({"trainer": "maybe", "name": 5}, ["name", "trainer"]),
    ],
)
def test_put_refuses_other_fields_and_bad_values_with_400(
    strava: Emulator,
    clock: ManualClock,
    http: httpx.Client,
    body: dict[str, Any],
    fields: list[str],
) -> None:
    """A field Strava does not take, or a value it cannot, is a 400 and changes nothing."""
    tokens = strava.issue_tokens(scope=WRITE)
    activity_id = make_activity(http, strava, clock, tokens)
    response = http.put(
        f"{strava.api_url}/activities/{activity_id}", headers=bearer(tokens), json=body
    )
    assert 400 == response.status_code
    assert {
        "message": "Bad Request",
        "errors": [{"resource": "Activity", "field": f, "code": "invalid"} for f in fields],
    } == {**response.json(), "errors": sorted(response.json()["errors"], key=str)}
    [seen] = strava.inspect(requests=False)["activities"]
    assert ("w.gpx", "Ride", [(400, False)]) == (
        seen["name"],
        seen["sport_type"],
        [(u["status"], u["applied"]) for u in seen["updates"]],
    )


def test_put_needs_write_scope_and_an_own_activity(
    strava: Emulator, clock: ManualClock, http: httpx.Client
) -> None:
    """Without activity:write: 401; an unknown, foreign or deleted activity: 404."""
    tokens = strava.issue_tokens(scope=WRITE)
    activity_id = make_activity(http, strava, clock, tokens)
    reader = strava.issue_tokens(scope="read,activity:read_all")
    stranger = strava.issue_tokens(athlete_id=42, scope=WRITE)
    url = f"{strava.api_url}/activities/{activity_id}"
    refused = http.put(url, headers=bearer(reader), json={"name": "x"})
    assert (401, "activity:write_permission") == (
        refused.status_code,
        refused.json()["errors"][0]["field"],
    )
    assert 404 == http.put(url, headers=bearer(stranger), json={"name": "x"}).status_code
    unknown = http.put(f"{strava.api_url}/activities/1", headers=bearer(tokens), json={})
    assert (404, "Record Not Found") == (unknown.status_code, unknown.json()["message"])
    strava.delete_activity(activity_id)
    assert 404 == http.put(url, headers=bearer(tokens), json={"name": "x"}).status_code


def test_put_counts_on_the_read_limit(
    strava: Emulator, clock: ManualClock, http: httpx.Client
) -> None:
    """An update is a read: it counts on both limits and is refused with 429 over the read one."""
    tokens = strava.issue_tokens(scope=WRITE)
    activity_id = make_activity(http, strava, clock, tokens)
    strava.set_usage(usage_15=0, usage_day=0, read_usage_15=0, read_usage_day=0)
    url = f"{strava.api_url}/activities/{activity_id}"
    first = http.put(url, headers=bearer(tokens), json={"commute": True})
    assert ("1,1", "1,1") == (
        first.headers["X-RateLimit-Usage"],
        first.headers["X-ReadRateLimit-Usage"],
    )
    strava.set_knobs(read_limit_15=1)
    assert 429 == http.put(url, headers=bearer(tokens), json={"commute": False}).status_code
    assert {"PUT /activities/{id}": 2} == {
        k: v
        for k, v in strava.inspect(requests=False)["counters"]["by_route"].items()
        if k.startswith("PUT")
    }


def test_update_fault_share_answers_5xx_without_applying(
    strava: Emulator, clock: ManualClock, http: httpx.Client
) -> None:
    """With update_5xx_share 1 every PUT fails with a 5xx and nothing changes; other calls work."""
    tokens = strava.issue_tokens(scope=WRITE)
    activity_id = make_activity(http, strava, clock, tokens)
    strava.set_knobs(update_5xx_share=1.0)
    url = f"{strava.api_url}/activities/{activity_id}"
    failed = [http.put(url, headers=bearer(tokens), json={"sport_type": "Run"}) for _ in range(3)]
    assert {500, 502, 503} >= {r.status_code for r in failed}
    assert 200 == http.get(f"{strava.api_url}/athlete", headers=bearer(tokens)).status_code
    strava.set_knobs(update_5xx_share=0.0)
    assert 200 == http.put(url, headers=bearer(tokens), json={"sport_type": "Run"}).status_code
    [seen] = strava.inspect(requests=False)["activities"]
    assert ("Run", [False, False, False, True]) == (
        seen["sport_type"],
        [u["applied"] for u in seen["updates"]],
    )


def test_upload_fields_arrive_on_the_activity(
    strava: Emulator, clock: ManualClock, http: httpx.Client
) -> None:
    """name, description, trainer and commute sent with the POST show on upload and activity."""
    tokens = strava.issue_tokens(scope=WRITE)
    post(
        http,
        strava,
        tokens,
        gpx_text().encode(),
        name="Commute home",
        description="rainy",
        trainer="1",
        commute="1",
    )
    clock.advance(3)
    state = strava.inspect(requests=False)
    [upload], [activity] = state["uploads"], state["activities"]
    expected = ("Commute home", "rainy", True, True)
    assert expected == tuple(upload[k] for k in ("name", "description", "trainer", "commute"))
    assert expected == tuple(activity[k] for k in ("name", "description", "trainer", "commute"))


# -- gear -------------------------------------------------------------------------------


def test_athlete_gear_comes_with_profile_read_all_only(
    strava: Emulator, http: httpx.Client
) -> None:
    """GET /athlete lists bikes and shoes with ids for profile:read_all, as Strava's detail."""
    detailed = http.get(
        f"{strava.api_url}/athlete",
        headers=bearer(strava.issue_tokens(scope="read,profile:read_all,activity:write")),
    ).json()
    assert (3, ["b1234567", "b2345678"], ["g3456789"], [True, False]) == (
        detailed["resource_state"],
        [b["id"] for b in detailed["bikes"]],
        [g["id"] for g in detailed["shoes"]],
        [b["primary"] for b in detailed["bikes"]],
    )
    summary = http.get(f"{strava.api_url}/athlete", headers=bearer(strava.issue_tokens())).json()
    assert (2, False) == (summary["resource_state"], "bikes" in summary)


# -- GET /athlete/activities ------------------------------------------------------------


def test_list_is_newest_first_with_paging_and_the_summary_fields(
    strava: Emulator, clock: ManualClock, http: httpx.Client
) -> None:
    """Without after: newest start first, paged; each summary carries the upload's ids."""
    tokens = strava.issue_tokens(scope=READ)
    for n in (3, 1, 4, 2, 5):  # uploaded out of start order
        post(http, strava, tokens, gpx_text(start=day(n)).encode(), external_id=f"e{n}")
    clock.advance(3)
    whole = listed(http, strava, tokens).json()
    assert [5, 4, 3, 2, 1] == [int(a["start_date"][8:10]) for a in whole]
    page_2 = listed(http, strava, tokens, page=2, per_page=2).json()
    assert [a["id"] for a in whole[2:4]] == [a["id"] for a in page_2]
    first = whole[0]
    assert {
        "start_date": "2024-05-05T12:00:00Z",
        "external_id": "e5.gpx",
        "upload_id_str": str(first["upload_id"]),
        "private": False,
        "sport_type": "Ride",
        "name": "w.gpx",
    } == {
        k: first[k]
        for k in ("start_date", "external_id", "upload_id_str", "private", "sport_type", "name")
    }
    upload = next(
        u for u in strava.inspect(requests=False)["uploads"] if u["activity_id"] == first["id"]
    )
    assert upload["id"] == first["upload_id"]
    assert [whole[4]["id"]] == [
        a["id"] for a in listed(http, strava, tokens, page=3, per_page=2).json()
    ]


def test_list_filters_on_the_workout_start_not_the_upload_time(
    strava: Emulator, clock: ManualClock, http: httpx.Client
) -> None:
    """after/before compare the start time (strictly); with after the list runs oldest first."""
    tokens = strava.issue_tokens(scope=READ)
    for n in (2, 9, 5):
        post(http, strava, tokens, gpx_text(start=day(n)).encode())
    clock.advance(3)
    uploaded_at = int(NOW) - 10  # just before the uploads: no workout started after it
    assert [] == listed(http, strava, tokens, after=uploaded_at).json()
    since = listed(http, strava, tokens, after=int(day(2).timestamp())).json()
    assert ["2024-05-05T12:00:00Z", "2024-05-09T12:00:00Z"] == [a["start_date"] for a in since]
    window = listed(
        http, strava, tokens, after=int(day(1).timestamp()), before=int(day(9).timestamp())
    ).json()
    assert ["2024-05-02T12:00:00Z", "2024-05-05T12:00:00Z"] == [a["start_date"] for a in window]
    older = listed(http, strava, tokens, before=int(day(9).timestamp())).json()
    assert ["2024-05-05T12:00:00Z", "2024-05-02T12:00:00Z"] == [a["start_date"] for a in older]


def test_list_takes_the_start_from_fit_and_tcx_content(
    strava: Emulator, clock: ManualClock, http: httpx.Client
) -> None:
    """FIT (first record) and TCX (first lap) starts become start_date."""
    tokens = strava.issue_tokens(scope=READ)
    post(http, strava, tokens, fit_bytes(start=day(7)), data_type="fit")
    post(http, strava, tokens, tcx_text(start=day(8)).encode(), data_type="tcx")
    clock.advance(3)
    assert ["2024-05-08T12:00:00Z", "2024-05-07T12:00:00Z"] == [
        a["start_date"] for a in listed(http, strava, tokens).json()
    ]


def test_list_per_page_defaults_to_30_and_stops_at_200(
    strava: Emulator, http: httpx.Client
) -> None:
    """Without per_page 30 come back; a per_page above 200 gives 200."""
    tokens = strava.issue_tokens(scope=READ)
    for n in range(205):
        strava.add_activity(b"seeded %d" % n, start_date=NOW - 3600 - n)
    assert 30 == len(listed(http, strava, tokens).json())
    assert 200 == len(listed(http, strava, tokens, per_page=500).json())
    bad = listed(http, strava, tokens, per_page="ten")
    assert (400, "per_page") == (bad.status_code, bad.json()["errors"][0]["field"])


def test_list_shows_only_activities(
    strava: Emulator, clock: ManualClock, http: httpx.Client
) -> None:
    """Errors, duplicates, deleted activities and uploads still processing are never listed."""
    tokens = strava.issue_tokens(scope=READ)
    post(http, strava, tokens, gpx_text(start=day(1)).encode())
    post(http, strava, tokens, gpx_text(start=day(1)).encode())  # one of the two: a duplicate
    post(http, strava, tokens, gpx_text(timed=0).encode())  # an error
    clock.advance(3)
    strava.set_knobs(deleted_share=1.0)
    post(http, strava, tokens, gpx_text(start=day(2)).encode())
    clock.advance(3)
    strava.set_knobs(deleted_share=0.0, stuck_share=1.0)
    post(http, strava, tokens, gpx_text(start=day(3)).encode())
    clock.advance(3)
    uploads = strava.inspect(requests=False)["uploads"]
    assert ["deleted", "duplicate", "error", "processing", "ready"] == sorted(
        u["state"] for u in uploads
    )
    ready = [u["id"] for u in uploads if u["state"] == "ready"]
    assert ready == [a["upload_id"] for a in listed(http, strava, tokens).json()]


def test_private_activities_need_read_all_and_the_list_needs_activity_read(
    strava: Emulator, clock: ManualClock, http: httpx.Client
) -> None:
    """A quarter private: hidden without activity:read_all; `read` alone is refused with 401."""
    strava.set_knobs(private_share=0.25)
    writer = strava.issue_tokens(scope=WRITE)
    for n in range(1, 21):
        post(http, strava, writer, gpx_text(start=day(n)).encode())
    clock.advance(3)
    everything = listed(http, strava, strava.issue_tokens(scope=READ_ALL), per_page=50).json()
    private = [a["id"] for a in everything if a["private"]]
    public = listed(http, strava, strava.issue_tokens(scope=READ), per_page=50).json()
    assert 20 == len(everything)
    assert 0 < len(private) < 10
    assert sorted({a["id"] for a in everything} - set(private)) == sorted(a["id"] for a in public)
    refused = listed(http, strava, writer)
    assert (401, SCOPE_MISSING_READ) == (refused.status_code, refused.json())
    one = http.get(
        f"{strava.api_url}/activities/{private[0]}", headers=bearer(strava.issue_tokens(scope=READ))
    )
    assert 404 == one.status_code


def test_one_list_call_is_one_read(
    strava: Emulator, clock: ManualClock, http: httpx.Client
) -> None:
    """However many activities come back, a list call counts once on each limit."""
    tokens = strava.issue_tokens(scope=READ)
    for n in range(1, 6):
        post(http, strava, tokens, gpx_text(start=day(n)).encode())
    clock.advance(3)
    response = listed(http, strava, tokens, per_page=200)
    assert (5, "6,6", "1,1") == (
        len(response.json()),
        response.headers["X-RateLimit-Usage"],
        response.headers["X-ReadRateLimit-Usage"],
    )
