"""Owns ``stravasync demo``: the whole pipeline with no account, and its samples.

- ``household``: ``stravasync demo --household``: two athletes on one Strava app, three
  folders.
- ``pipeline``: ``stravasync demo``: the whole pipeline in one command, with no account and
  no config.
- ``samples``: Small sample workouts made by the package itself, for the demo and for tests.
"""
