"""An API reply is read only up to a size no real answer needs; more is a transient fault."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stravasync.config.settings import StravaConfig
from stravasync.errors import ReplyTooLarge, TransientError
from stravasync.strava.client import StravaClient
from stravasync.strava.governor import Governor
from stravasync.strava.tokens import TokenSet, TokenStore
from stravasync.strava.wire import MAX_REPLY_BYTES

CONFIG = StravaConfig(client_id="4242", client_secret="client-secret-xyz-123",
                      api_url="http://strava.test/api/v3", oauth_url="http://strava.test/oauth")
CHUNK = 64 * 1024


def client_over(tmp_path: Path, handler: httpx.MockTransport) -> StravaClient:
    tokens = TokenStore(state_dir=tmp_path)
    tokens.save_initial(TokenSet(access_token="a" * 40, refresh_token="r" * 40,
                                 expires_at=int(time.time()) + 21600, scope="activity:write"))
    return StravaClient(config=CONFIG, tokens=tokens, governor=Governor(state_file=None),
                        transport=handler)


def test_a_huge_reply_is_not_read_past_the_cap(tmp_path: Path) -> None:
    """A 50 MB reply stops being read just past the cap and counts as a transient fault."""
    sent: list[int] = []

    def endless() -> Iterator[bytes]:
        yield b'{"id": 1, "id_str": "1", "status": "x", "error": "'
        for _ in range(50 * 1024 * 1024 // CHUNK):
            sent.append(CHUNK)
            yield b"x" * CHUNK
        yield b'"}'

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/json"},
                              content=endless(), request=request)

    client = client_over(tmp_path, httpx.MockTransport(handle))
    with pytest.raises(ReplyTooLarge) as caught:
        client.get_upload("1")
    assert isinstance(caught.value, TransientError)
    assert sum(sent) <= MAX_REPLY_BYTES + CHUNK


def test_a_reply_under_the_cap_is_read_whole(tmp_path: Path) -> None:
    """A large but plausible gzipped reply (a full list page) is read and understood."""
    page = [{"id": n, "upload_id_str": str(9000000 + n), "external_id": f"e{n}.fit",
             "name": "x" * 2000, "start_date": "2026-03-01T08:00:00Z"} for n in range(1, 201)]
    body = json.dumps(page).encode()

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/json",
                                            "content-encoding": "gzip"},
                              content=gzip.compress(body), request=request)

    client = client_over(tmp_path, httpx.MockTransport(handle))
    assert 200 == len(client.list_activities(after=None, before=None))
