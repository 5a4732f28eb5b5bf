"""Running the emulator as a program: the banner it prints and the serve-until-stopped loop.

Used by `stravasync emulator` and reusable by the demo (which passes its own `stop`
event and `echo`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from stravasync.emulator.config import EmulatorConfig
from stravasync.emulator.server import Emulator


def describe(emulator: Emulator) -> str:
    """The banner: URLs to configure (Strava and intervals.icu), the household with their
    intervals.icu keys, where to inspect, and a ready `[strava]` snippet."""
    base = emulator.base_url
    athletes = emulator.members()
    default = athletes[0]
    lines = [
        f"    {a['id']} {a['firstname']} {a['lastname']}"
        f"   (intervals.icu {a['intervals_id']}, key {a['intervals_key']})\n"
        for a in athletes
    ]
    return (
        f"Strava API emulator listening on {base}\n"
        f"  api_url   = {emulator.api_url}\n"
        f"  api_url   = {emulator.pathless_api_url}   (path-less, as api-v3.strava.com from 2027)\n"
        f"  oauth_url = {emulator.oauth_url}\n"
        f"  intervals = {emulator.intervals_url}   (intervals.icu api_url; HTTP Basic user "
        f"API_KEY, key {default['intervals_key']})\n"
        "  athletes  (the first signs in unless authorize?athlete=ID says otherwise):\n"
        + "".join(lines)
        + f"  inspect   = {base}/_emulator/state   (knobs: POST JSON to {base}/_emulator/knobs)\n"
        "\nPut this in your stravasync config:\n\n"
        f"{emulator.toml_snippet()}"
    )


def serve_until_stopped(
    config: EmulatorConfig,
    *,
    echo: Callable[[str], None] = print,
    stop: threading.Event | None = None,
    on_ready: Callable[[Emulator], None] | None = None,
) -> None:
    """Serve `config` until `stop` is set or Ctrl-C; print the banner with `echo` first."""
    event = stop or threading.Event()
    with Emulator(config) as emulator:
        echo(describe(emulator))
        if on_ready is not None:
            on_ready(emulator)
        try:
            while not event.wait(0.5):
                pass
        except KeyboardInterrupt:
            echo("stopping the emulator")
