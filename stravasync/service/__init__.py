"""Owns running as a service: the daemon, systemd readiness, autostart and the one-shot runs.

- ``autostart``: Autostart: the systemd user unit (Linux) and the launchd agent (macOS), one
  class each.
- ``daemon``: The daemon: watcher → ingest thread → engine, as a long-running service.
- ``once``: Owns ``run --once``: scan the watched folders, upload, wait, and the 0/75/1
  exit policy.
- ``oneshot``: Owns ``stravasync upload FILE...``: send the named files now, wait, say
  what each came to.
- ``pickup``: Owns how a file reaches the daemon's engine: the watcher, the inbox and the
  ingest thread.
- ``preflight``: Owns what is checked before the service is installed: what would make it
  fail or idle.
- ``sdnotify``: Telling systemd how the daemon is doing (sd_notify), and nothing more.
"""
