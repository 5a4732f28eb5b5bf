"""Tests for the token store across processes: one refresh at a time."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from processes import reaped

from stravasync.strava.tokens import TokenSet, TokenStore

_CHILD = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    from stravasync.logs import configure_logging
    from stravasync.strava.tokens import TokenSet, TokenStore

    configure_logging(fmt="json", stream=sys.stderr)
    state, log = Path(sys.argv[1]), Path(sys.argv[2])

    class Refresher:
        def refresh(self, refresh_token):
            with log.open("a") as f:
                f.write(refresh_token + "\\n")
            time.sleep(0.3)  # a slow Strava: the others must wait, not refresh too
            return TokenSet(access_token="access-new", refresh_token="refresh-new",
                            expires_at=int(time.time()) + 21600)

    (state / f"ready-{os.getpid()}").touch()
    while not (state / "go").exists():
        time.sleep(0.005)
    print(TokenStore(state_dir=state, refresher=Refresher()).access_token())
    """
)


@pytest.mark.integration
def test_concurrent_refresh_across_processes(tmp_path: Path) -> None:
    """Four processes needing a refresh at once cause exactly one refresh call."""
    state = tmp_path / "state"
    store = TokenStore(state_dir=state)
    store.save_initial(
        TokenSet(
            access_token="access-old", refresh_token="refresh-old", expires_at=int(time.time()) + 30
        )
    )
    log = tmp_path / "refresh.log"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(state), str(log)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(4)
    ]
    with reaped(*children):
        deadline = time.monotonic() + 30
        while len(list(state.glob("ready-*"))) < len(children):  # the interpreters started
            assert time.monotonic() < deadline, "the children did not start"
            time.sleep(0.01)
        (state / "go").touch()
        outputs = [c.communicate(timeout=60)[0].strip() for c in children]
    assert ["access-new"] * 4 == outputs
    assert ["refresh-old"] == log.read_text().split()
