"""`stravasync emulator`: run the built-in Strava API emulator on loopback until Ctrl-C."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from stravasync.emulator import EmulatorConfig, HouseholdAthlete

LARGE_ID_OFFSET = 2**32


def _pair(text: str, *, option: str) -> tuple[int, int]:
    try:
        first, second = (int(part) for part in text.split(","))
    except ValueError:
        raise click.BadParameter(
            f"expected two integers like 200,2000, not {text!r}", param_hint=option
        ) from None
    if first < 0 or second < 0:
        raise click.BadParameter("must not be negative", param_hint=option)
    return first, second


def _household(values: tuple[str, ...]) -> tuple[HouseholdAthlete, ...]:
    from stravasync.emulator import parse_athlete

    entries = [entry for value in values for entry in value.split(",") if entry.strip()]
    try:
        return tuple(parse_athlete(entry) for entry in entries)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--athletes") from None


def build_config(options: dict[str, Any]) -> EmulatorConfig:
    """Turn the command's options into an `EmulatorConfig` (raises click errors)."""
    from stravasync.emulator import EmulatorConfig, Knobs, ServerUsage
    from stravasync.emulator.athletes import Roster

    limit_15, limit_day = _pair(options["limits"], option="--limits")
    read_limit_15, read_limit_day = _pair(options["read_limits"], option="--read-limits")
    usage_15, usage_day = _pair(options["usage"], option="--usage")
    read_usage_15, read_usage_day = _pair(options["read_usage"], option="--read-usage")
    processing_min, processing_max = options["processing"]
    try:
        knobs = Knobs().replace(
            processing_min_s=processing_min,
            processing_max_s=processing_max,
            stuck_share=options["stuck_share"],
            stuck_s=options["stuck_seconds"],
            deleted_share=options["deleted_share"],
            duplicate_html_share=options["duplicate_html_share"],
            duplicate_at_post=options["duplicate_at_post"],
            alter_external_id=options["alter_external_id"],
            error_5xx_share=options["fault_5xx_share"],
            update_5xx_share=options["update_5xx_share"],
            private_share=options["private_share"],
            drop_upload_share=options["drop_upload_share"],
            latency_s=options["latency"],
            inactive=options["inactive"],
            athlete_limit=options["athlete_limit"],
            header_only_tokens=options["header_only_tokens"],
            deauthorize_retired=options["deauthorize_retired"],
            approval_page=options["approval_page"],
            granted_scope=options["granted_scope"],
            access_token_lifetime_s=options["token_lifetime"],
            code_lifetime_s=options["code_lifetime"],
            rotate_refresh_tokens=options["rotate"],
            limit_15=limit_15,
            limit_day=limit_day,
            read_limit_15=read_limit_15,
            read_limit_day=read_limit_day,
            rate_limit_field=options["rate_limit_field"],
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    offset = LARGE_ID_OFFSET if options["large_ids"] else 0
    config = EmulatorConfig(
        host=options["host"],
        port=options["port"],
        client_id=options["client_id"],
        client_secret=options["client_secret"],
        athlete_id=options["athlete_id"],
        upload_id_start=9000001 + offset,
        activity_id_start=7000001 + offset,
        seed=options["seed"],
        knobs=knobs,
        initial_usage=ServerUsage(
            usage_15=usage_15,
            usage_day=usage_day,
            read_usage_15=read_usage_15,
            read_usage_day=read_usage_day,
        ),
        on_request=None if options["quiet"] else _print_request,
        athletes=_household(options["athletes"]),
    )
    try:
        Roster(config.configured_athlete(), config.athletes)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--athletes") from None
    return config


def _print_request(entry: Any) -> None:
    status = entry["status"] if entry["status"] is not None else "DROPPED"
    note = f" ({entry['note']})" if entry["note"] else ""
    click.echo(f"{entry['method']} {entry['path']} -> {status} [{entry['kind']}]{note}", err=True)


SHARE = click.FloatRange(0.0, 1.0)


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8723,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0 = any free port).",
)
@click.option("--client-id", default="12345", show_default=True, help="The app's client id.")
@click.option(
    "--client-secret",
    default="emulator-secret",
    show_default=True,
    help='The app\'s client secret ("" accepts any).',
)
@click.option(
    "--athlete-id", default=1234567, show_default=True, type=int, help="The athlete who signs in."
)
@click.option(
    "--athletes",
    multiple=True,
    metavar="ID[:FIRST[:LAST]],...",
    help="More athletes who can sign in (a household on one app), each with their own "
    "activities, gear and intervals.icu key; choose one with authorize?athlete=ID "
    "[default: only --athlete-id].",
)
@click.option("--seed", type=int, default=None, help="Seed for random draws [default: random].")
@click.option(
    "--processing",
    nargs=2,
    type=float,
    default=(0.5, 2.0),
    show_default=True,
    metavar="MIN MAX",
    help="Processing time range of an upload, seconds.",
)
@click.option(
    "--stuck-share",
    type=SHARE,
    default=0.0,
    show_default=True,
    help="Share of uploads stuck in processing for --stuck-seconds.",
)
@click.option(
    "--stuck-seconds",
    type=float,
    default=900.0,
    show_default=True,
    help="How long a stuck upload stays processing.",
)
@click.option(
    "--deleted-share",
    type=SHARE,
    default=0.0,
    show_default=True,
    help='Share of uploads ending "The created activity has been deleted."',
)
@click.option(
    "--duplicate-html-share",
    type=SHARE,
    default=0.5,
    show_default=True,
    help="Share of duplicate errors in the HTML form.",
)
@click.option(
    "--duplicate-at-post/--duplicate-when-processed",
    default=False,
    show_default=True,
    help="Refuse duplicates already at POST time (400).",
)
@click.option(
    "--alter-external-id/--keep-external-id",
    default=True,
    show_default=True,
    help="Echo external_id with the file extension appended.",
)
@click.option(
    "--fault-5xx-share",
    type=SHARE,
    default=0.0,
    show_default=True,
    help="Share of API calls answered 500/502/503.",
)
@click.option(
    "--update-5xx-share",
    type=SHARE,
    default=0.0,
    show_default=True,
    help="Share of activity updates (PUT /activities/{id}) answered 500/502/503, not applied.",
)
@click.option(
    "--private-share",
    type=SHARE,
    default=0.0,
    show_default=True,
    help="Share of new activities that are private (listed only with activity:read_all).",
)
@click.option(
    "--drop-upload-share",
    type=SHARE,
    default=0.0,
    show_default=True,
    help="Share of upload POSTs created, then answered by dropping the connection.",
)
@click.option(
    "--latency",
    type=click.FloatRange(0.0),
    default=0.0,
    show_default=True,
    help="Seconds added before every API/OAuth answer.",
)
@click.option("--inactive", is_flag=True, help="App inactive: 403 on every call.")
@click.option(
    "--athlete-limit",
    "--athlete-cap",
    "athlete_limit",
    type=click.IntRange(0),
    default=None,
    help="Connected athletes allowed; a new one beyond it gets Strava's 403 page at "
    "authorize, with no redirect [default: no limit].",
)
@click.option(
    "--header-only-tokens/--form-tokens",
    default=True,
    show_default=True,
    help="/oauth/deauthorize refuses a token in a form field or query string (Strava from "
    "1 June 2027); --form-tokens also takes access_token= as before.",
)
@click.option(
    "--deauthorize-retired",
    is_flag=True,
    help="/oauth/deauthorize answers 404, as Strava retires it on 1 June 2027.",
)
@click.option("--approval-page", is_flag=True, help="Show an HTML approval page at authorize.")
@click.option(
    "--granted-scope",
    default=None,
    help='Grant only these of the requested scopes, e.g. "read" [default: all asked].',
)
@click.option(
    "--token-lifetime",
    type=click.IntRange(1),
    default=21600,
    show_default=True,
    help="Access-token lifetime, seconds.",
)
@click.option(
    "--code-lifetime",
    type=click.IntRange(1),
    default=600,
    show_default=True,
    help="Authorization-code lifetime, seconds.",
)
@click.option(
    "--rotate/--no-rotate",
    default=True,
    show_default=True,
    help="New refresh token on every refresh (the old one dies).",
)
@click.option(
    "--limits",
    default="200,2000",
    show_default=True,
    metavar="N15,NDAY",
    help="Overall rate limits.",
)
@click.option(
    "--read-limits",
    default="100,1000",
    show_default=True,
    metavar="N15,NDAY",
    help="Read rate limits.",
)
@click.option(
    "--usage", default="0,0", show_default=True, metavar="N15,NDAY", help="Overall usage at start."
)
@click.option(
    "--read-usage",
    default="0,0",
    show_default=True,
    metavar="N15,NDAY",
    help="Read usage at start.",
)
@click.option(
    "--rate-limit-field",
    default="rate limit",
    show_default=True,
    help='The 429 error\'s field text (or "overall rate limit").',
)
@click.option("--large-ids", is_flag=True, help="Start upload/activity ids above 2**32.")
@click.option("--quiet", is_flag=True, help="Do not print a line per request.")
def emulator_command(**options: Any) -> None:
    """Run the Strava API emulator on loopback until Ctrl-C.

    Prints the api_url and oauth_url to put in a config (and a ready [strava]
    snippet). Inspect it at /_emulator/state; change knobs at runtime by POSTing
    JSON to /_emulator/knobs.
    """
    from stravasync.emulator import serve_until_stopped

    config = build_config(options)
    try:
        serve_until_stopped(config, echo=click.echo)
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}"
        ) from None
    sys.stdout.flush()
