"""``stravasync check FILE...``: validate workout files locally, no network, no config."""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["check"]


@click.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def check(ctx: click.Context, files: tuple[Path, ...], as_json: bool) -> None:
    """Say whether Strava would accept each FILE (ok, invalid or skip) and why.

    Exit status 0 when every file is ok, 1 otherwise.
    """
    from stravasync.validate import Verdict, validate_path

    all_ok = True
    for path in files:
        result = validate_path(path)
        if as_json:
            click.echo(json.dumps(result.as_json(path), ensure_ascii=False))
        else:
            click.echo(f"{path}: {result.verdict.value} \u2014 {result.summary()}")
        all_ok = all_ok and result.verdict is Verdict.OK
    ctx.exit(0 if all_ok else 1)
