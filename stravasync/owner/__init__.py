"""Owns what the owner is told: ``status``, the notices, and what needs them.

- ``accounts``: What ``status`` reads from each account's folder: its files, its sign-in, its
  problems.
- ``accounts_table``: The lines of ``stravasync status`` that differ when several accounts are
  configured.
- ``attention``: Telling the owner: one notice per cause, and the daemon's own account for
  ``status``.
- ``needs``: The "needs you" list: what only the owner can fix, as it stands now.
- ``notices``: Owns telling the owner when something needs them: the ``[notify]`` notices.
- ``status``: What ``stravasync status`` and the demo show: gathered without changing
  anything.
"""
