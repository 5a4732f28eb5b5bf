"""The composition root: open_stack builds one object graph over one token store and governor."""

from __future__ import annotations

from pathlib import Path

from stravasync.config.settings import config_from_dict
from stravasync.stack import open_stack

SECRET = "client-secret-xyz-123"


def test_open_stack_builds_one_graph(tmp_path: Path) -> None:
    """The engine, the client and the status reader share one token store and governor."""
    config = config_from_dict({"strava": {"client_id": "1", "client_secret": SECRET},
                               "state": {"dir": str(tmp_path / "state")}})
    stack = open_stack(config)
    try:
        assert stack.client.tokens is stack.tokens
        assert stack.client.governor is stack.governor
        assert (tmp_path / "state").is_dir()
    finally:
        stack.close()
