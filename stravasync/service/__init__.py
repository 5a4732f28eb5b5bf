"""Owns running as a service: the daemon, systemd readiness and autostart.

- ``autostart``: Autostart: the systemd user unit (Linux) and the launchd agent (macOS), one
  class each.
- ``daemon``: The daemon: watcher → ingest thread → engine, as a long-running service.
- ``sdnotify``: Telling systemd how the daemon is doing (sd_notify), and nothing more.
"""
