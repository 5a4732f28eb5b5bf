"""The intervals.icu client: what it sends, and what each answer becomes."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime

import httpx
import pytest
from engine_rig import emulator_transport
from fixtures import fit_bytes

from stravasync.emulator import EmulatorConfig, EmulatorState, ManualClock
from stravasync.errors import ApiError, KeyRefused, RateLimited, TransientError, UploadRejected
from stravasync.intervals.client import (
    IntervalsActivity,
    IntervalsAthlete,
    IntervalsClient,
    retry_after_seconds,
)
from stravasync.strava.wire import MAX_REPLY_BYTES

KEY = "s3cr3t-1nterval5-k3y"
NOW = 1_800_000_000.0


def client_for(handler: Callable[[httpx.Request], httpx.Response]) -> IntervalsClient:
    return IntervalsClient(account="jane-icu", api_url="http://icu.test/api/v1",
                           athlete_id="0", api_key=KEY,
                           transport=httpx.MockTransport(handler), clock=lambda: NOW)


def test_an_upload_sends_the_file_with_basic_auth_and_its_ids() -> None:
    """POST /athlete/0/activities: key as Basic password, file as multipart, ids as query."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "i999", "external_id": "stravasync-abc"})

    activity = client_for(handler).upload(data=b"FITDATA", filename="ride.fit",
                                          external_id="stravasync-abc", name="Morning ride",
                                          description="easy")

    assert IntervalsActivity(id="i999", external_id="stravasync-abc") == activity
    request = seen[0]
    assert ("POST", "/api/v1/athlete/0/activities") == (request.method, request.url.path)
    assert {"external_id": "stravasync-abc", "name": "Morning ride", "description": "easy"} \
        == dict(request.url.params)
    assert "Basic " + base64.b64encode(f"API_KEY:{KEY}".encode()).decode() \
        == request.headers["Authorization"]
    body = request.read()
    assert b'name="file"; filename="ride.fit"' in body
    assert b"FITDATA" in body
    assert KEY.encode() not in body
    assert KEY not in str(request.url)


def test_the_list_asks_for_a_span_of_days_and_reads_external_ids() -> None:
    """GET …/activities?oldest&newest; entries keep id, external_id, start and name."""
    def handler(request: httpx.Request) -> httpx.Response:
        assert {"oldest": "2026-12-05", "newest": "2026-12-06"} == dict(request.url.params)
        return httpx.Response(200, json=[
            {"id": "i1", "external_id": "stravasync-abc", "name": "Ride",
             "start_date_local": "2026-12-06T07:00:00"},
            {"id": "i2", "external_id": None, "name": "From Garmin"},
            {"name": "no id: not ours to read"},
        ])

    listed = client_for(handler).activities(oldest=date(2026, 12, 5), newest=date(2026, 12, 6))

    assert [IntervalsActivity(id="i1", external_id="stravasync-abc",
                              start_date_local="2026-12-06T07:00:00", name="Ride"),
            IntervalsActivity(id="i2", name="From Garmin")] == listed


def test_the_athlete_says_whose_key_it_is() -> None:
    """One call to ``/athlete/0`` names the athlete behind the key."""
    def handler(request: httpx.Request) -> httpx.Response:
        assert "/api/v1/athlete/0" == request.url.path
        return httpx.Response(200, json={"id": "i12345", "name": "Jane Doe"})

    assert IntervalsAthlete(id="i12345", name="Jane Doe") == client_for(handler).athlete()


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_stops_the_account_and_says_where_to_make_one(status: int) -> None:
    """401/403 is KeyRefused for this account, pointing at the key page, without the key."""
    client = client_for(lambda r: httpx.Response(status, json={"status": 401,
                                                                "error": "Unauthorized"}))

    with pytest.raises(KeyRefused) as caught:
        client.upload(data=b"x", filename="a.fit", external_id="e")

    assert "jane-icu" == caught.value.account
    assert caught.value.needs_person
    assert "intervals.icu/settings" in str(caught.value)
    assert "$STRAVASYNC_INTERVALS_KEY_JANE_ICU" in str(caught.value)
    assert KEY not in str(caught.value)


def test_a_file_it_cannot_read_is_rejected_with_its_message() -> None:
    """422 with a message is UploadRejected, in intervals.icu's words."""
    client = client_for(lambda r: httpx.Response(422, json={"error": "Unable to read file"}))

    with pytest.raises(UploadRejected) as caught:
        client.upload(data=b"x", filename="a.fit", external_id="e")

    assert "intervals.icu rejected the upload: Unable to read file" == str(caught.value)
    assert "Unable to read file" == caught.value.reason


@pytest.mark.parametrize(("header", "until"), [
    ("30", NOW + 30), (None, NOW), ("Thu, 15 Jan 2027 08:00:30 GMT", 1_800_000_030.0)])
def test_too_many_requests_waits_as_long_as_retry_after_says(
        header: str | None, until: float) -> None:
    """429 is RateLimited until now plus Retry-After (seconds or an HTTP date)."""
    headers = {"Retry-After": header} if header else {}
    client = client_for(lambda r: httpx.Response(429, headers=headers))

    with pytest.raises(RateLimited) as caught:
        client.activities(oldest=date(2026, 1, 1), newest=date(2026, 1, 2))

    assert until == caught.value.until


@pytest.mark.parametrize("fault", ["500", "503", "connect", "timeout", "html"])
def test_faults_pass_by_themselves(fault: str) -> None:
    """5xx, a dropped connection, a timeout and a non-JSON answer are transient."""
    def handler(request: httpx.Request) -> httpx.Response:
        if fault == "connect":
            raise httpx.ConnectError("refused", request=request)
        if fault == "timeout":
            raise httpx.ReadTimeout("slow", request=request)
        if fault == "html":
            return httpx.Response(200, text="<html>maintenance</html>")
        return httpx.Response(int(fault))

    with pytest.raises(TransientError):
        client_for(handler).upload(data=b"x", filename="a.fit", external_id="e")


def test_an_endless_reply_is_not_read_past_the_cap() -> None:
    """A reply larger than any real answer is a transient fault, and reading stops early."""
    sent = 0

    def endless() -> Iterator[bytes]:
        nonlocal sent
        while True:
            sent += 1
            yield b"[" * 65536

    class Endless(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            return endless()

    client = client_for(lambda r: httpx.Response(200, stream=Endless()))

    with pytest.raises(TransientError, match="larger than"):
        client.activities(oldest=date(2026, 1, 1), newest=date(2026, 1, 2))
    assert sent <= MAX_REPLY_BYTES // 65536 + 2


def test_other_answers_are_api_errors_with_the_reason() -> None:
    """A 404 on a list is an ApiError naming the status and the reason."""
    client = client_for(lambda r: httpx.Response(404, json={"error": "Athlete not found"}))

    with pytest.raises(ApiError, match="HTTP 404: Athlete not found"):
        client.activities(oldest=date(2026, 1, 1), newest=date(2026, 1, 2))


def test_retry_after_that_makes_no_sense_is_ignored() -> None:
    """Garbage in Retry-After means no hint, not a crash."""
    assert None is retry_after_seconds("soon", now=NOW)
    assert 0.0 == retry_after_seconds("0", now=NOW)


# Against the emulator (behind MockTransport): the client and the emulator agree.

def emulated(state: EmulatorState, key: str = "emulator-icu-key-1234567") -> IntervalsClient:
    return IntervalsClient(account="jane-icu", api_url="http://emulator.test/intervals/api/v1",
                           athlete_id="0", api_key=key, transport=emulator_transport(state),
                           clock=lambda: NOW)


def test_the_client_uploads_lists_and_names_the_athlete_on_the_emulator() -> None:
    """An upload is listed on its day with our external id; the key names its athlete."""
    state = EmulatorState(EmulatorConfig(seed=1, clock=ManualClock(NOW)))
    client = emulated(state)
    start = datetime(2026, 12, 6, 7, 30, tzinfo=UTC)

    made = client.upload(data=fit_bytes(start=start), filename="ride.fit",
                         external_id="stravasync-abc", name="Morning ride")
    listed = client.activities(oldest=date(2026, 12, 5), newest=date(2026, 12, 7))

    assert [(made.id, "stravasync-abc")] == [(a.id, a.external_id) for a in listed]
    assert "i1234567" == client.athlete().id


def test_the_emulators_refusals_become_the_clients_errors() -> None:
    """Unreadable file → UploadRejected; too fast → RateLimited; revoked key → KeyRefused."""
    state = EmulatorState(EmulatorConfig(seed=1, clock=ManualClock(NOW)))
    client = emulated(state)

    with pytest.raises(UploadRejected):
        client.upload(data=b"not a workout", filename="x.fit", external_id="e1")
    state.set_knobs(intervals_rate_limit=0, intervals_retry_after_s=7)
    with pytest.raises(RateLimited) as limited:
        client.activities(oldest=date(2026, 12, 5), newest=date(2026, 12, 6))
    assert NOW + 7 == limited.value.until
    state.set_knobs(intervals_rate_limit=None)
    state.revoke_intervals_key(1234567)
    with pytest.raises(KeyRefused):
        client.activities(oldest=date(2026, 12, 5), newest=date(2026, 12, 6))
