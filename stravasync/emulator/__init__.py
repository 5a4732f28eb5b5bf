"""Owns a Strava API emulator on loopback: OAuth, uploads, processing, rate limits, faults.

It stands for Strava (see ``../shared/strava-api.md``) and imports nothing of
stravasync outside this subpackage. Stdlib only (click for the command line).

Use it from tests::

    clock = ManualClock()
    with Emulator(EmulatorConfig(seed=1, clock=clock)) as strava:
        tokens = strava.issue_tokens(scope="read,activity:write")   # no OAuth dance
        ...  # httpx against strava.api_url / strava.oauth_url
        clock.advance(5)                                             # processing, expiry, windows
        strava.set_knobs(error_5xx_share=0.2)
        state = strava.inspect()      # uploads, activities, counters, request log

or run it: ``stravasync emulator --port 8723`` (prints the URLs and a ``[strava]``
snippet). Over HTTP: ``GET /_emulator/state`` (``?requests=0`` omits the log),
``GET|POST /_emulator/knobs`` (JSON object of knob changes), ``POST /_emulator/usage``,
``POST /_emulator/tokens`` (JSON ``{"athlete_id":…, "scope":…}``) and
``POST /_emulator/expire-access-tokens``.

Endpoints: ``GET|POST /oauth/authorize``, ``POST /oauth/token`` (authorization_code,
refresh_token), ``POST /oauth/revoke`` (HTTP Basic client credentials, ``token=``; either
token of a grant revokes both), ``POST /oauth/deauthorize`` (Bearer header only, see the
knobs), and the API both under ``/api/v3`` and path-less at the root (as
``https://api-v3.strava.com`` serves it from 4 January 2027; ``Emulator.pathless_api_url``):
``POST /uploads``, ``GET /uploads/{id}``, ``GET /athlete`` (bikes and shoes with
``profile:read_all``, as Strava's detailed athlete), ``GET /athlete/activities``
(``before``/``after`` on the workout's start time, strictly; oldest first with ``after``,
newest first without; ``page``, ``per_page`` 30 by default, at most 200; needs
``activity:read`` or ``activity:read_all``, private ones only with the latter),
``GET /activities/{id}`` and ``PUT /activities/{id}`` (``activity:write``; JSON or form;
only name, description, sport_type, gear_id, trainer, commute, hide_from_home; anything
else 400). Every API call counts on the overall limit, all but upload POSTs on the read
limit too.

In ``/_emulator/state`` each activity shows its fields (``name``, ``description``,
``sport_type``, ``gear_id``, ``trainer``, ``commute``, ``hide_from_home``, ``private``,
``start_date`` ISO, ``start_time`` Unix, ``external_id``, ``upload_id``, ``deleted``…)
and ``updates``: one ``{"time", "fields", "status", "applied"}`` per PUT that reached it.

Knobs (`Knobs`; change at runtime with ``set_knobs(**kw)``), defaults in brackets:

- ``processing_min_s``/``processing_max_s`` [0.5/2.0]: processing time of an upload,
  uniform, from the seeded RNG, measured on the injected clock; processing finishes
  whether or not anyone polls.
- ``stuck_share`` [0] with ``stuck_s`` [900]: share of uploads that stay processing
  that long. ``deleted_share`` [0]: share ending "The created activity has been
  deleted." (error and activity_id null).
- ``duplicate_html_share`` [0.5]: share of duplicate errors in the HTML form
  (``<a href='/activities/N' target='_blank'>activity N</a>``) rather than plain.
  ``duplicate_at_post`` [False]: refuse a duplicate of an existing activity at POST
  (400 with the Upload object whose error says ``duplicate of activity N``).
- ``alter_external_id`` [True]: echo ``external_id`` with the extension appended.
- ``error_5xx_share`` [0]: share of API calls answered 500, 502 or 503 (no effect).
  ``update_5xx_share`` [0]: share of activity PUTs answered 500/502/503, not applied
  (recorded in the activity's ``updates``). ``private_share`` [0]: share of new
  activities that are private (own seeded RNG, so other draws replay unchanged).
  ``drop_upload_share`` [0]: share of upload POSTs that are created (and processed)
  but answered by closing the connection. ``latency_s`` [0]: wall-clock delay added
  to every API/OAuth answer.
- ``inactive`` [False]: 403 Application Status Inactive on every API and OAuth call.
  ``athlete_limit`` (alias ``athlete_cap``) [None]: connected athletes allowed; a new
  athlete beyond it gets Strava's HTML 403 page "Limit of connected athletes exceeded"
  at authorize, with no redirect (so no code comes back); a code issued earlier is
  refused at exchange, and athletes beyond the first N connected get 403 on API calls.
- ``header_only_tokens`` [True]: ``/oauth/deauthorize`` refuses (401) a request with
  ``access_token`` in its form or query, as Strava from 1 June 2027; False = before.
  ``deauthorize_retired`` [False]: ``/oauth/deauthorize`` answers 404.
- ``approval_page`` [False]: HTML consent page (with scope check boxes) instead of an
  immediate redirect. ``granted_scope`` [None]: e.g. ``"read"`` to grant only those of
  the requested scopes (the athlete unticked activity:write).
- ``access_token_lifetime_s`` [21600], ``code_lifetime_s`` [600],
  ``rotate_refresh_tokens`` [True]: a new refresh token on every refresh, the old one
  dead at once (issued access tokens live until they expire).
- ``limit_15``/``limit_day`` [200/2000], ``read_limit_15``/``read_limit_day``
  [100/1000]; ``rate_limit_field`` ["rate limit"]: the 429 error's field text.
  Usage starts from ``EmulatorConfig.initial_usage``; ``set_usage()`` overwrites it.

Fixed settings (`EmulatorConfig`): host/port, client id/secret, the signing-in
athlete and their ``bikes``/``shoes`` (gear ids b…/g…), extra callback domains, first
upload/activity ids (set them above 2**32 to test 64-bit ids), seed, clock,
``on_request`` callback, body size cap.

Processing verdicts (from the content, see `content`): not FIT/GPX/TCX of the
declared type, malformed XML, a FIT whose ``file_id.type`` is not activity, a TCX
without an Activity, whitespace/BOM before a TCX's ``<?xml`` or garbled point times
→ "Improperly formatted data."; no timed track point → "Time information is missing
from GPS file."; gzip that does not inflate or a truncated FIT → "The upload appears
to be malformed…"; same content (sha256 after gunzip) as one of the athlete's
non-deleted activities → duplicate. The activity's start is read from the content
(see `content` and `fitscan`); its ``external_id`` is the upload's echo of it.
"""

from stravasync.emulator.app import EmulatorState
from stravasync.emulator.config import EmulatorConfig, Knobs, ManualClock, ServerUsage
from stravasync.emulator.server import Emulator
from stravasync.emulator.standalone import describe, serve_until_stopped

__all__ = [
    "Emulator",
    "EmulatorConfig",
    "EmulatorState",
    "Knobs",
    "ManualClock",
    "ServerUsage",
    "describe",
    "serve_until_stopped",
]
