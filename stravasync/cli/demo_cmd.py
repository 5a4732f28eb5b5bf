"""``stravasync demo``: see the whole pipeline work in one command, no account needed."""

from __future__ import annotations

import click


@click.command("demo")
@click.option("--household", is_flag=True,
              help="Two athletes on one Strava app: Jane's folder, Bob's folder and a shared "
                   "one that goes to both, and Jane's folders to her intervals.icu account "
                   "too; a table per account shows which file went where.")
def demo_command(*, household: bool) -> None:
    """Upload sample workouts to a built-in Strava emulator and show what happens.

    Starts the emulator on 127.0.0.1, a temporary config, state and watch folder,
    signs in, runs the daemon while sample files (three workouts, a broken file, a
    route, a copy) are dropped in one by one, prints the status table and cleans up.
    Touches nothing of yours; takes about 5 seconds.
    """
    if household:
        from stravasync.demo.household import run_household_demo

        click.get_current_context().exit(run_household_demo(echo=click.echo))
    from stravasync.demo.pipeline import run_demo

    click.get_current_context().exit(run_demo(echo=click.echo))
