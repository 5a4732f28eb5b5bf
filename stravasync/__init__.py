"""stravasync: get workout recordings onto Strava, each exactly once.

The data path reads top to bottom, and so do the imports (``tests/test_layering.py``
holds the order; ``python -m benchmarks.module_graph`` prints it)::

    models, errors, rules, polling        values and pure policy (leaves)
    config, validate, tokens, ratelimit   reading what is given
    state, wire, gates                    the store; where answers become errors
    watcher, ingest, oauth, strava        intake (watch -> read -> judge); Strava
    outcomes -> transfer, follow          the POST; polls, lists and the update
    engine -> stack                       dispatch; the composition root
    daemon, status -> cli                 the service; what a person sees

The ``emulator`` subpackage stands for Strava and imports nothing of ours.
"""

__version__ = "0.2.0"
