"""stravasync: get workout recordings onto Strava, each exactly once.

Modules, with dependencies flowing one way (see ``../shared/STYLE.md``)::

    errors, logs, fsutil -> config -> state -> validate, ratelimit
        -> tokens, auth, strava -> watcher -> engine -> daemon -> cli

The ``emulator`` subpackage stands for Strava and imports nothing of ours.
"""

__version__ = "0.1.0"
