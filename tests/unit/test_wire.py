"""Tests for the translation boundary: Strava's answers become the right errors and words."""

from __future__ import annotations

import httpx
import pytest

from stravasync.errors import (
    AccessTokenInvalid,
    ApiError,
    AppInactive,
    AthleteLimitReached,
    ListScopeMissing,
    RateLimited,
    ScopeMissing,
    TransientError,
    UpdateRefused,
)
from stravasync.strava.wire import (
    DEAD_END_MESSAGES,
    dead_end,
    is_athlete_limit,
    missing_permission,
    raise_for_response,
)


def answer(status: int, *errors: tuple[str, str, str], message: str = "") -> httpx.Response:
    """A Strava error answer with ``errors`` as (resource, field, code)."""
    items = [{"resource": r, "field": f, "code": c} for r, f, c in errors]
    return httpx.Response(status, json={"message": message, "errors": items})


def raised(response: httpx.Response, **options: bool) -> BaseException:
    """The error raise_for_response raises for ``response`` (fails if none)."""
    with pytest.raises(ApiError) as info:
        raise_for_response(response, governor=None, clock=lambda: 1_800_000_000.0, **options)
    return info.value


def raised_auth(response: httpx.Response) -> BaseException:
    """The error of an answer that is not an ApiError (a missing upload permission)."""
    with pytest.raises(ScopeMissing) as info:
        raise_for_response(response, governor=None)
    return info.value


@pytest.mark.parametrize(("field", "expected"), [
    ("activity:write_permission", "activity:write"),
    ("activity:read_permission", "activity:read"),
    ("activity:read_all_permission", "activity:read_all"),
    ("permission", "activity:write"),
])
def test_missing_permission_names_the_grant(field: str, expected: str) -> None:
    """The permission Strava says is missing is read from the error's field."""
    body = {"errors": [{"resource": "AccessToken", "field": field, "code": "missing"}]}
    assert expected == missing_permission(body)


def test_a_missing_read_grant_only_stops_listing() -> None:
    """No activity:read: ListScopeMissing, which no person must act on, and says uploads work."""
    error = raised(answer(401, ("AccessToken", "activity:read_permission", "missing")))
    assert isinstance(error, ListScopeMissing)
    assert (False, False) == (error.needs_person, error.stops_every_call)
    assert "Uploads still work" in str(error)


def test_a_missing_write_grant_is_a_dead_sign_in() -> None:
    """No activity:write: ScopeMissing, which needs the person to sign in again."""
    error = raised_auth(answer(401, ("AccessToken", "activity:write_permission", "missing")))
    assert error.needs_person  # type: ignore[attr-defined]


def test_an_unknown_gear_refuses_the_update_with_stravas_words() -> None:
    """A 400 to an activity update is UpdateRefused carrying Strava's reason verbatim."""
    error = raised(answer(400, ("Activity", "gear_id", "invalid"), message="Bad Request"),
                   update=True)
    assert isinstance(error, UpdateRefused)
    assert "Bad Request (Activity gear_id invalid)" == error.reason
    assert 400 == error.status_code


def test_an_update_of_a_gone_activity_is_refused() -> None:
    """A 404 to an activity update says the activity is gone."""
    error = raised(answer(404, ("Activity", "id", "invalid"), message="Record Not Found"),
                   update=True)
    assert isinstance(error, UpdateRefused)
    assert "gone" in error.reason


@pytest.mark.parametrize(("status", "kind"), [
    (500, TransientError), (502, TransientError), (503, TransientError),
    (429, RateLimited), (401, AccessTokenInvalid),
])
def test_an_update_that_may_pass_is_not_refused(status: int, kind: type[ApiError]) -> None:
    """5xx, 429 and a refused token are not UpdateRefused: the update can be sent again."""
    codes = ("Application", "rate limit", "exceeded") if status == 429 else (
        "Athlete", "access_token", "invalid")
    error = raised(answer(status, codes), update=True)
    assert kind is type(error)


def test_athlete_cap_advice_is_the_2026_rule() -> None:
    """The cap advice: a new app starts at 1, the owner raises it (10 without review)."""
    text = DEAD_END_MESSAGES["athlete_limit"]
    assert "cap of 1" in text
    assert "up to 10 athletes without review" in text
    assert "more than 10 athletes needs Strava's review" in text
    assert "https://www.strava.com/settings/api" in text
    assert "apps in review" not in text


def test_inactive_app_advice_names_the_subscription() -> None:
    """The inactive-app advice: subscribe, then reactivate at strava.com/settings/api."""
    error = raised(answer(403, ("Application", "Status", "Inactive"), message="Forbidden"))
    assert isinstance(error, AppInactive)
    assert "subscription" in str(error)
    assert "subscribes, then reactivates the app at https://www.strava.com/settings/api" in str(
        error)
    assert str(error).endswith("stravasync will try again hourly.")


def test_athlete_cap_page_is_recognised() -> None:
    """Strava's "Limit of connected athletes exceeded" 403 is the athlete cap."""
    response = httpx.Response(403, text="<h1>Forbidden</h1><p>Limit of connected athletes "
                                        "exceeded</p>")
    assert is_athlete_limit(response)
    assert isinstance(raised(response), AthleteLimitReached)


def test_a_dead_end_met_by_a_person_does_not_promise_hourly_retries() -> None:
    """A dead end's closing advice is the caller's, e.g. to sign in again."""
    error = dead_end("athlete_limit", status_code=403, advice="Then run `stravasync auth` again.")
    assert isinstance(error, AthleteLimitReached)
    assert "hourly" not in str(error)
    assert str(error).endswith("Then run `stravasync auth` again.")
