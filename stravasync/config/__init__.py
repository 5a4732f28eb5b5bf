"""Owns what the owner wrote: the TOML file, its checks, the rules and safe folders.

- ``accounts``: Owns ``[[accounts]]``: who the workouts go to, and which files each account
  holds.
- ``places``: Owns which folders are safe to watch, to archive into and to delete from.
- ``rules``: Owns ``[[rules]]``: what they may say, which ones match a file, and what they
  set.
- ``schema``: Owns reading TOML tables against frozen dataclasses, collecting every problem.
- ``settings``: Configuration: where the TOML file is, what it may say, and the frozen
  objects it becomes.
"""
