"""stravasync: get workout recordings onto Strava, each exactly once.

The data path reads top to bottom, and so do the imports. Each line is a layer: a
package or leaf module may import only those on the lines above it, never one beside
or below (``tests/unit/test_layering.py`` holds this list; ``python -m benchmarks.module_graph``
prints the graph)::

    stravasync, errors, models, fsutil, logs, emulator: the leaves
    config, validate: what the owner wrote; what Strava would accept (pure)
    state: the SQLite store, claims and the run lock: the single source of truth
    strava, intake: talking to Strava (client, OAuth, tokens, governor); watching and reading files
    intervals: talking to intervals.icu (it borrows the strava package's httpx helpers)
    upload: dispatch, the POST, following, outcomes, ``upload.after``
    stack: the composition root, which builds the object graph from a config
    household: every account's lane on one Strava app (built from the stack's pieces)
    owner: what the owner is told: status, notices, problems
    service: the daemon, systemd readiness, autostart; the one-shot `run --once` and `upload`
    demo: the whole pipeline with no account
    cli: commands parse and print
    __main__: ``python -m stravasync``

The ``emulator`` package stands for Strava and imports nothing of ours.
"""

__version__ = "0.2.0"
