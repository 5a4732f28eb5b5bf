"""Tests for stravasync.service.sdnotify where no socket is reached: disabled, unreachable, the
watchdog interval."""

from __future__ import annotations

import os

import pytest

from stravasync.service.sdnotify import SystemdNotifier, watchdog_interval


def test_without_notify_socket_nothing_happens() -> None:
    """Without $NOTIFY_SOCKET the notifier is disabled and every call is a no-op."""
    notifier = SystemdNotifier({})
    notifier.ready()
    notifier.watchdog()
    assert not notifier.enabled
    assert not SystemdNotifier().enabled  # conftest removes NOTIFY_SOCKET from the environment


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "60000000"}, 30.0),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid())}, 30.0),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "1"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    """The ping interval is half of $WATCHDOG_USEC, for this process only."""
    assert expected == watchdog_interval(env)
