"""Owns talking to Strava: the API client, sign-in, tokens and the rate-limit governor.

- ``client``: The Strava API client: uploads, upload polls, activity lists and updates, the
  athlete.
- ``governor``: The rate-limit governor: may this call be sent now, and if not, when?
- ``oauth``: Strava's OAuth endpoints: code exchange, token refresh and sign-out.
- ``ratewindows``: Strava's rate-limit windows as values: limits, usage, headers, and "does
  one more call fit?".
- ``signin``: Signing in to Strava: the authorization-code flow.
- ``tokens``: The token store: Strava tokens on disk, kept alive, refreshed exactly once at
  a time.
- ``wire``: The translation boundary: where Strava's HTTP answers and httpx's failures
  become ours.
"""
