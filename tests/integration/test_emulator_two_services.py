"""Tests for the emulator's household and intervals.icu side over real loopback sockets."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fixtures import fit_bytes

from stravasync.emulator import (
    Emulator,
    EmulatorConfig,
    HouseholdAthlete,
    Knobs,
    ManualClock,
    serve_until_stopped,
)

pytestmark = pytest.mark.integration

BOB = 2345678
MAY_1 = datetime(2024, 5, 1, 7, 30, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    """A clock the test moves by hand."""
    return ManualClock(1_800_000_000.0)


@pytest.fixture
def emulator(clock: ManualClock) -> Iterator[Emulator]:
    """A running emulator with Emma and Bob, one-second processing."""
    config = EmulatorConfig(
        seed=11,
        clock=clock,
        knobs=Knobs(processing_min_s=1.0, processing_max_s=1.0),
        athletes=(HouseholdAthlete(id=BOB, firstname="Bob", lastname="Builder"),),
    )
    with Emulator(config) as running:
        yield running


def test_one_file_to_two_strava_athletes_and_intervals_lands_once_each(
    emulator: Emulator, clock: ManualClock
) -> None:
    """One process serves both services; each copy lands only on its own athlete."""
    data = fit_bytes(start=MAY_1)
    with httpx.Client(timeout=10.0) as http:
        for athlete in (emulator.config.athlete_id, BOB):
            emulator.sign_in_as(athlete)
            answer = http.get(
                f"{emulator.oauth_url}/authorize",
                params={
                    "client_id": "12345",
                    "redirect_uri": "http://127.0.0.1:8999/cb",
                    "response_type": "code",
                    "scope": "activity:write",
                },
            )
            code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
            tokens = http.post(
                f"{emulator.oauth_url}/token",
                data={
                    "client_id": "12345",
                    "client_secret": "emulator-secret",
                    "code": code,
                    "grant_type": "authorization_code",
                },
            ).json()
            http.post(
                f"{emulator.api_url}/uploads",
                headers={"Authorization": f"Bearer {tokens['access_token']}"},
                data={"data_type": "fit", "external_id": f"to-{athlete}"},
                files={"file": ("w.fit", data)},
            ).raise_for_status()
        key = emulator.intervals_key(BOB)
        assert key is not None
        icu = http.post(
            f"{emulator.intervals_url}/athlete/0/activities",
            auth=("API_KEY", key),
            params={"external_id": "icu-bob"},
            files={"file": ("w.fit", data)},
        )
    clock.advance(2)
    assert (200, ["to-1234567.fit"], ["to-2345678.fit"], [], ["icu-bob"]) == (
        icu.status_code,
        [a["external_id"] for a in emulator.activities_of(emulator.config.athlete_id)],
        [a["external_id"] for a in emulator.activities_of(BOB)],
        emulator.intervals_activities_of(emulator.config.athlete_id),
        [a["external_id"] for a in emulator.intervals_activities_of(BOB)],
    )


def test_a_dropped_intervals_upload_is_a_closed_connection_but_recorded(
    emulator: Emulator,
) -> None:
    """intervals_drop_share closes the socket after recording, as a crash after the POST."""
    emulator.set_knobs(intervals_drop_share=1.0)
    with httpx.Client(timeout=10.0) as http, pytest.raises(httpx.RemoteProtocolError):
        http.post(
            f"{emulator.intervals_url}/athlete/0/activities",
            auth=("API_KEY", emulator.intervals_key() or ""),
            params={"external_id": "x"},
            files={"file": ("w.fit", fit_bytes(start=MAY_1 + timedelta(days=1)))},
        )
    assert [("x", True)] == [
        (a["external_id"], a["dropped"])
        for a in emulator.intervals_activities_of(emulator.config.athlete_id)
    ]


def test_the_banner_prints_the_intervals_url_and_keys() -> None:
    """`stravasync emulator` shows the intervals.icu api_url and each athlete's key."""
    lines: list[str] = []
    stop = threading.Event()
    seen: list[str] = []

    def ready(running: Emulator) -> None:
        seen.append(running.intervals_url)
        stop.set()

    config = EmulatorConfig(athletes=(HouseholdAthlete(id=BOB, firstname="Bob", intervals_key="k-bob"),))
    serve_until_stopped(config, echo=lines.append, stop=stop, on_ready=ready)
    assert f"  intervals = {seen[0]}   (intervals.icu api_url" in lines[0]
    assert "key emulator-icu-key-1234567" in lines[0]
    assert f"{BOB} Bob    (intervals.icu i{BOB}, key k-bob)" in lines[0]
