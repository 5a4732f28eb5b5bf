"""Tests for the Strava API client against the emulator on loopback (tokens, limits, lists, updates)."""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest
import structlog
from emulator_rig import serving
from fixtures import numbered_gpx
from strava_rig import SECRET

from stravasync.config.settings import StravaConfig
from stravasync.errors import (
    AppInactive,
    DuplicateActivity,
    ListScopeMissing,
    RateLimited,
    ReauthRequired,
    ScopeMissing,
    UpdateRefused,
)
from stravasync.logs import configure_logging
from stravasync.strava.client import (
    StravaClient,
    Upload,
)
from stravasync.strava.governor import Governor, next_quarter_hour
from stravasync.strava.oauth import OAuthClient
from stravasync.strava.tokens import TokenSet, TokenStore

# -- against the emulator -------------------------------------------------------------------

emulator_mod = pytest.importorskip("stravasync.emulator")





class Rig:
    """An emulator with a manual clock, and our token store, governor and clients on it."""

    def __init__(self, tmp_path: Path, *, pathless: bool = False, **knobs: object) -> None:
        self.clock = emulator_mod.ManualClock(1_772_446_050.0)
        self._running = contextlib.ExitStack()
        self.strava = self._running.enter_context(
            serving(seed=7, clock=self.clock, client_id="4242", client_secret=SECRET))
        if knobs:
            self.strava.set_knobs(**knobs)
        self.config = StravaConfig(
            client_id="4242",
            client_secret=SECRET,
            api_url=self.strava.pathless_api_url if pathless else self.strava.api_url,
            oauth_url=self.strava.oauth_url,
        )
        self.oauth = OAuthClient(config=self.config)
        self.tokens = TokenStore(state_dir=tmp_path, refresher=self.oauth, clock=self.clock)
        self.governor = Governor(state_file=tmp_path / "ratelimit.json", clock=self.clock)
        self.client = StravaClient(
            config=self.config, tokens=self.tokens, governor=self.governor, clock=self.clock
        )

    def sign_in(self, scope: str = "read,activity:write") -> None:
        """Store tokens issued by the emulator without the OAuth dance."""
        body = self.strava.issue_tokens(scope=scope)
        self.tokens.save_initial(
            TokenSet(
                access_token=str(body["access_token"]),
                refresh_token=str(body["refresh_token"]),
                expires_at=int(str(body["expires_at"])),
                scope=scope,
            )
        )

    def requests(self) -> list[dict[str, object]]:
        """The emulator's request log."""
        return list(self.strava.inspect()["requests"])

    def close(self) -> None:
        """Stop everything."""
        self.client.close()
        self.oauth.close()
        self._running.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """A signed-in rig with 20-minute access tokens."""
    r = Rig(tmp_path, access_token_lifetime_s=1200, processing_min_s=1.0, processing_max_s=3.0)
    r.sign_in()
    yield r
    r.close()


def rescheduling(call: Callable[[], Upload]) -> Upload:
    """Call again a moment later while the governor holds calls back, as the engine does.

    Concurrent callers meet the governor's probe: one call at a time until an answer
    tells a window's real usage. Nothing is sent while it says wait.
    """
    while True:
        try:
            return call()
        except RateLimited:
            time.sleep(0.01)  # kept: "a moment later", as the engine's scheduler would


def follow(rig: Rig, upload: Upload) -> Upload:
    """Poll (advancing the manual clock) until the upload leaves processing."""
    for _ in range(20):
        if not upload.processing:
            return upload
        rig.clock.advance(2)
        upload = rescheduling(partial(rig.client.get_upload, upload.id))
    return upload


@pytest.mark.integration
def test_emulator_many_uploads_across_refreshes(rig: Rig) -> None:
    """Concurrent uploads over hours of token rotation all land; no dead token is ever sent."""
    import threading

    done: list[Upload] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def worker(first: int) -> None:
        try:
            for n in range(first, first + 8):
                up = rescheduling(partial(rig.client.create_upload, data=numbered_gpx(n), data_type="gpx",
                                          external_id=f"ext-{n}", reserve=4))
                # 32 uploads x 2 min = over an hour of 20-minute tokens, whatever the
                # threads' interleaving: several refreshes must happen.
                rig.clock.advance(120)
                final = follow(rig, up)
                with lock:
                    done.append(final)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(i * 100,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [] == failures
    assert 32 == len(done)
    assert all(u.ready for u in done)
    token_calls = [r for r in rig.requests() if r["path"] == "/oauth/token"]
    assert len(token_calls) >= 3  # several refreshes happened
    assert {200} == {r["status"] for r in token_calls}  # never a dead refresh token
    api_calls = [r for r in rig.requests() if r["kind"] != "oauth"]
    assert {200, 201} == {r["status"] for r in api_calls}  # not even one 401


@pytest.mark.integration
def test_emulator_401_midrun_refreshes_and_retries_once(rig: Rig) -> None:
    """An access token killed early costs one 401, one refresh and one retry."""
    rig.client.get_upload(
        str(rig.client.create_upload(data=numbered_gpx(1), data_type="gpx", external_id="e1").id)
    )
    rig.strava.expire_access_tokens()
    before = len(rig.requests())
    up = rig.client.create_upload(data=numbered_gpx(2), data_type="gpx", external_id="e2")
    after = rig.requests()[before:]
    assert [
        ("POST", "/api/v3/uploads", 401),
        ("POST", "/oauth/token", 200),
        ("POST", "/api/v3/uploads", 201),
    ] == [(r["method"], r["path"], r["status"]) for r in after]
    assert up.processing


@pytest.mark.integration
def test_emulator_revoked_athlete_is_reauth(rig: Rig) -> None:
    """After the athlete revokes access: ReauthRequired, then no more calls at all."""
    rig.strava.revoke_athlete()
    before = len(rig.requests())
    with pytest.raises(ReauthRequired, match="stravasync auth"):
        rig.client.create_upload(data=numbered_gpx(3), data_type="gpx", external_id="e3")
    for _ in range(5):
        with pytest.raises(ReauthRequired):
            rig.client.get_upload("9000001")
    assert 2 == len(rig.requests()) - before  # one 401, one refused refresh


@pytest.mark.integration
def test_emulator_inactive_app_stops_calls(rig: Rig) -> None:
    """An inactive app: AppInactive once from Strava, then from us without calls."""
    rig.strava.set_knobs(inactive=True)
    before = len(rig.requests())
    for _ in range(5):
        with pytest.raises(AppInactive):
            rig.client.create_upload(data=numbered_gpx(4), data_type="gpx", external_id="e4")
    assert 1 == len(rig.requests()) - before
    rig.clock.advance(3601)
    rig.strava.set_knobs(inactive=False)
    assert rig.client.create_upload(data=numbered_gpx(4), data_type="gpx", external_id="e4").processing


@pytest.mark.integration
def test_emulator_missing_scope(tmp_path: Path) -> None:
    """Tokens without activity:write: ScopeMissing after one call, none after."""
    r = Rig(tmp_path)
    try:
        r.sign_in(scope="read")
        for _ in range(3):
            with pytest.raises(ScopeMissing):
                r.client.create_upload(data=numbered_gpx(5), data_type="gpx", external_id="e5")
        assert 1 == len([x for x in r.requests() if x["kind"] != "oauth"])
    finally:
        r.close()


@pytest.mark.integration
def test_emulator_rate_limit_headers_and_429(rig: Rig) -> None:
    """Near the limit the governor holds calls back; a 429 pauses until the boundary."""
    rig.strava.set_usage(usage_15=199, read_usage_15=10)
    rig.client.create_upload(data=numbered_gpx(6), data_type="gpx", external_id="e6")
    before = len(rig.requests())
    with pytest.raises(RateLimited) as info:
        rig.client.get_upload("9000001")
    assert next_quarter_hour(rig.clock()) == info.value.until
    assert before == len(rig.requests())  # predicted from headers: nothing sent
    rig.clock.advance(info.value.until - rig.clock())
    rig.strava.set_usage(read_usage_15=100)
    with pytest.raises(RateLimited) as second:
        rig.client.get_upload("9000001")  # the governor did not know: Strava says 429
    assert next_quarter_hour(rig.clock()) == second.value.until
    n = len(rig.requests())
    with pytest.raises(RateLimited):
        rig.client.get_upload("9000001")
    assert n == len(rig.requests())


@pytest.mark.integration
def test_emulator_duplicates(rig: Rig) -> None:
    """Duplicates are reported with the existing activity id, at poll and at POST time."""
    first = follow(rig, rig.client.create_upload(data=numbered_gpx(7), data_type="gpx", external_id="e7"))
    assert first.activity_id is not None
    second = follow(rig, rig.client.create_upload(data=numbered_gpx(7), data_type="gpx", external_id="e7b"))
    assert first.activity_id == second.duplicate_of()
    rig.strava.set_knobs(duplicate_at_post=True)
    with pytest.raises(DuplicateActivity) as info:
        rig.client.create_upload(data=numbered_gpx(7), data_type="gpx", external_id="e7c")
    assert first.activity_id == info.value.activity_id


@pytest.mark.integration
def test_emulator_inactive_app_during_refresh(rig: Rig) -> None:
    """An inactive app met while refreshing is a dead end too: no refresh loop."""
    rig.strava.set_knobs(inactive=True)
    rig.clock.advance(1200)  # the access token has expired: the next call must refresh
    before = len(rig.requests())
    for _ in range(4):
        with pytest.raises(AppInactive):
            rig.client.get_upload("9000001")
    assert [("POST", "/oauth/token", 403)] == [
        (r["method"], r["path"], r["status"]) for r in rig.requests()[before:]
    ]


@pytest.mark.integration
def test_emulator_logs_hold_no_tokens(rig: Rig) -> None:
    """Through refreshes, a forced 401 and a revoked athlete, no token reaches the logs."""
    stream = io.StringIO()
    configure_logging(fmt="json", level="debug", stream=stream)
    seen: set[str] = {SECRET}
    try:
        for n in range(3):  # through the real configured output
            saved = json.loads(rig.tokens.path.read_text())
            seen |= {saved["access_token"], saved["refresh_token"]}
            follow(
                rig,
                rig.client.create_upload(data=numbered_gpx(20 + n), data_type="gpx", external_id=f"l{n}"),
            )
            rig.clock.advance(700)
        with structlog.testing.capture_logs() as captured:  # before any redaction
            rig.strava.expire_access_tokens()
            rig.client.get_upload("9000001")
            saved = json.loads(rig.tokens.path.read_text())
            seen |= {saved["access_token"], saved["refresh_token"]}
            rig.strava.revoke_athlete()
            with pytest.raises(ReauthRequired) as info:
                rig.client.get_upload("9000001")
    finally:
        configure_logging(fmt="json", level="info", stream=io.StringIO())
    output = stream.getvalue() + json.dumps(captured, default=str) + str(info.value)
    assert "token_refreshed" in stream.getvalue()
    assert "refresh_token_dead" in json.dumps(captured)
    assert all(token not in output for token in seen)


@pytest.mark.integration
def test_emulator_pathless_api_url_uploads_and_polls(tmp_path: Path) -> None:
    """An api_url without /api/v3 (Strava's host from January 2027) uploads and polls."""
    r = Rig(tmp_path, pathless=True, processing_min_s=1.0, processing_max_s=2.0)
    try:
        r.sign_in()
        assert "/api/" not in r.config.api_url
        done = follow(r, r.client.create_upload(data=numbered_gpx(40), data_type="gpx",
                                                external_id="p1"))
        assert done.ready
        api = [(x["method"], x["path"], x["status"]) for x in r.requests() if x["kind"] != "oauth"]
        assert ("POST", "/uploads", 201) == api[0]
        assert {("GET", f"/uploads/{done.id}", 200)} == set(api[1:])
    finally:
        r.close()


def uploaded(rig: Rig, count: int) -> list[Upload]:
    """``count`` uploads of distinct workouts, followed until they are activities."""
    return [follow(rig, rig.client.create_upload(data=numbered_gpx(60 + n), data_type="gpx",
                                                 external_id=f"x{n}")) for n in range(count)]


@pytest.mark.integration
@pytest.mark.parametrize(("scope", "private_seen"), [
    ("read,activity:write,activity:read_all", True),
    ("read,activity:write,activity:read", False),
])
def test_emulator_list_matches_uploads(tmp_path: Path, scope: str, private_seen: bool) -> None:
    """One list call settles every upload that became an activity; private ones need read_all."""
    r = Rig(tmp_path, private_share=0.5, processing_min_s=1.0, processing_max_s=2.0)
    try:
        r.sign_in(scope=scope)
        ups = uploaded(r, 6)
        private = {str(a["upload_id"]) for a in r.strava.inspect()["activities"] if a["private"]}
        assert 0 < len(private) < 6  # the knob made some private, some not
        before = len(r.requests())
        found = r.client.list_activities(after=None, before=None)
        assert 1 == len(r.requests()) - before
        by_upload = {a.upload_id: a.id for a in found}
        expected = {u.id: u.activity_id for u in ups if private_seen or u.id not in private}
        assert expected == by_upload
        assert private_seen == r.client.can_list()
    finally:
        r.close()


@pytest.mark.integration
def test_emulator_list_without_read_scope_keeps_uploading(tmp_path: Path) -> None:
    """A sign-in with only read,activity:write cannot list, but it still uploads."""
    r = Rig(tmp_path)
    try:
        r.sign_in(scope="read,activity:write")
        assert not r.client.can_list()
        with pytest.raises(ListScopeMissing):
            r.client.list_activities(after=None, before=None)
        status = r.tokens.status()
        assert status is not None
        assert status.problem is None
        assert r.client.create_upload(data=numbered_gpx(80), data_type="gpx", external_id="y").processing
    finally:
        r.close()


@pytest.mark.integration
def test_emulator_update_applies_fields_and_refuses_unknown_gear(rig: Rig) -> None:
    """A PUT sets the fields, counted as a read; unknown gear is refused with Strava's words."""
    (done,) = uploaded(rig, 1)
    assert done.activity_id is not None
    rig.client.update_activity(done.activity_id, {"sport_type": "VirtualRide",
                                                  "gear_id": "b2345678", "hide_from_home": True})
    with pytest.raises(UpdateRefused) as info:
        rig.client.update_activity(done.activity_id, {"gear_id": "b999"})
    assert "gear_id" in info.value.reason
    with pytest.raises(UpdateRefused, match="gone"):
        rig.client.update_activity(done.activity_id + 1000, {"commute": True})
    (activity,) = [a for a in rig.strava.inspect()["activities"] if a["id"] == done.activity_id]
    assert ("VirtualRide", "b2345678", True) == (
        activity["sport_type"], activity["gear_id"], activity["hide_from_home"])
    assert [200, 400] == [u["status"] for u in activity["updates"]]
    puts = [x for x in rig.requests() if x["method"] == "PUT"]
    assert {"read"} == {x["kind"] for x in puts}
