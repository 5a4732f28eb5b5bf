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

or run it: ``stravasync emulator --port 8723`` (prints the URLs, the intervals.icu
URL and keys, and a ``[strava]`` snippet; ``--athletes ID[:FIRST[:LAST]],…`` adds
athletes). Over HTTP: ``GET /_emulator/state`` (``?requests=0`` omits the log),
``GET|POST /_emulator/knobs`` (JSON object of knob changes), ``POST /_emulator/usage``,
``POST /_emulator/tokens`` (JSON ``{"athlete_id":…, "scope":…}``),
``POST /_emulator/expire-access-tokens``, ``POST /_emulator/sign-in`` (JSON
``{"athlete_id":…}``), ``GET|POST /_emulator/athletes`` (the household with each
one's activities; POST adds a `HouseholdAthlete` from its JSON fields) and
``POST /_emulator/intervals/revoke-key`` (JSON ``{"athlete": id or "i…"}``).

A household (`HouseholdAthlete`, see `athletes`): the configured athlete plus
``EmulatorConfig.athletes`` (or ``add_athlete``), all on the one application. Who
signs in at ``/oauth/authorize`` is its ``athlete`` field (query, or the approval
page's login step), else the one ``sign_in_as`` picked (at first the configured
one); an id outside the household is a 400. Each athlete has their own uploads,
activities (duplicates are per athlete), gear (default ``b<id>``/``g<id>``) and
``GET /athlete``; the rate limits and the athlete cap are the app's, shared by all.
``activities_of(id)``, ``intervals_activities_of(id)``, ``members()`` and
``inspect()["athletes"]`` show who holds what.

intervals.icu (`intervals`) is served on the same port under ``/intervals/api/v1``
(``Emulator.intervals_url``): every household athlete has an account ``i<id>``
with the key ``emulator-icu-key-<id>`` (``HouseholdAthlete.intervals_id``/``intervals_key``;
``intervals_key()``, ``revoke_intervals_key()``, ``replace_intervals_key()``).
Uploads are synchronous, and the same file sent twice makes two activities:
intervals.icu keeps duplicates that arrive by upload (its FAQ says duplicates are
not always merged, and public clients de-duplicate on their own), so a client must
list by ``external_id`` before sending again. Its calls are logged with kind
``intervals`` and never count on Strava's rate limits.

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
  ``answer_first_upload`` [False]: answer every later upload POST with the athlete's
  first upload object (its id and external_id), keeping nothing of the new file.
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
  ServerUsage starts from ``EmulatorConfig.initial_usage``; ``set_usage()`` overwrites it.
- intervals.icu only: ``intervals_5xx_share`` [0] (500/502/503, no effect),
  ``intervals_drop_share`` [0] (the activity is recorded, the connection dropped),
  ``intervals_latency_s`` [0] (``latency_s`` is Strava's only),
  ``intervals_rate_limit`` [None] calls per ``intervals_rate_window_s`` [1] (more get
  429, with ``Retry-After: intervals_retry_after_s`` [None] if set), and
  ``intervals_unreadable_status`` [422] (or 400) for a file it cannot read.

Fixed settings (`EmulatorConfig`): host/port, client id/secret, the configured
athlete and their ``bikes``/``shoes`` (gear ids b…/g…), extra callback domains, first
upload/activity ids (set them above 2**32 to test 64-bit ids), seed, clock,
``on_request`` callback, body size cap, the other ``athletes`` and the first
intervals.icu activity number.

Processing verdicts (from the content, see `content`): not FIT/GPX/TCX of the
declared type, malformed XML, a FIT whose ``file_id.type`` is not activity, a TCX
without an Activity, whitespace/BOM before a TCX's ``<?xml`` or garbled point times
→ "Improperly formatted data."; no timed track point → "Time information is missing
from GPS file."; gzip that does not inflate or a truncated FIT → "The upload appears
to be malformed…"; same content (sha256 after gunzip) as one of the athlete's
non-deleted activities → duplicate. The activity's start is read from the content
(see `content` and `fitscan`); its ``external_id`` is the upload's echo of it.

Modules:

- ``activities``: Owns the activity endpoints: ``GET|PUT /activities/{id}`` and
  ``GET /athlete/activities``.
- ``api``: The API endpoints (under /api/v3 and path-less): uploads, the athlete,
  activities.
- ``app``: `EmulatorState`: the locked front of the emulator, independent of sockets.
- ``athletes``: Owns the household: the athletes who can sign in, their gear, and who
  signs in next.
- ``config``: The emulator's settings: fixed ones (`EmulatorConfig`) and runtime knobs
  (`Knobs`).
- ``content``: What Strava's processing would say about an uploaded file's content.
- ``core``: The emulator's shared pieces: request and reply values, the mutable core,
  error bodies.
- ``fitscan``: Owns the emulator's minimal walk over FIT messages: the file type and the
  start time.
- ``forms``: Request-body parsing: multipart/form-data, url-encoded forms and JSON.
- ``household``: Owns the household's views over the emulator's state: who holds what,
  on which service.
- ``icubook``: Owns intervals.icu's records: API keys, activities per athlete, and the
  "too fast" window.
- ``intervals``: Owns the intervals.icu API the emulator serves under
  ``/intervals/api/v1``.
- ``oauth``: The OAuth endpoints: authorize, token (code and refresh grants), revoke,
  deauthorize.
- ``ratelimit``: Strava's application rate limits: two windows, two budgets, lazily
  reset.
- ``server``: The HTTP side: a `ThreadingHTTPServer` on loopback, and `Emulator`, the
  object tests hold.
- ``standalone``: Running the emulator as a program: the banner it prints and the
  serve-until-stopped loop.
- ``tokens``: Authorization codes, grants (refresh token + access tokens) and connected
  athletes.
- ``uploads``: Uploads, their processing, and the activities they become.
"""

from stravasync.emulator.app import EmulatorState
from stravasync.emulator.athletes import HouseholdAthlete, parse_athlete
from stravasync.emulator.config import EmulatorConfig, Knobs, ManualClock, ServerUsage
from stravasync.emulator.server import Emulator
from stravasync.emulator.standalone import describe, serve_until_stopped

__all__ = [
    "Emulator",
    "EmulatorConfig",
    "EmulatorState",
    "HouseholdAthlete",
    "Knobs",
    "ManualClock",
    "ServerUsage",
    "describe",
    "parse_athlete",
    "serve_until_stopped",
]
