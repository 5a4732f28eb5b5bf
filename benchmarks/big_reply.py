"""Peak memory of one API call whose reply is huge: is a reply read whole, or capped?

A local server on 127.0.0.1 answers every ``GET /api/v3/uploads/{id}`` with a JSON
upload object padded to ``--size-mb`` MB (the ``error`` field holds the padding). A
fresh subprocess signs in with stored tokens, makes that one call through the real
:class:`~stravasync.strava.client.StravaClient` and reports its peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and what the call raised. The same is
done with a small reply as the baseline.

Usage: python -m benchmarks.big_reply [--size-mb 50] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_CHILD = r"""
import resource, sys, time
from pathlib import Path
from stravasync.config.settings import StravaConfig
from stravasync.errors import StravaSyncError
from stravasync.strava.client import StravaClient
from stravasync.strava.governor import Governor
from stravasync.strava.tokens import TokenSet, TokenStore

port, state = sys.argv[1], Path(sys.argv[2])
tokens = TokenStore(state_dir=state)
tokens.save_initial(TokenSet(access_token="a" * 40, refresh_token="r" * 40,
                             expires_at=int(time.time()) + 21600, scope="activity:write"))
config = StravaConfig(client_id="1", client_secret="s", api_url=f"http://127.0.0.1:{port}/api/v3",
                      oauth_url=f"http://127.0.0.1:{port}/oauth")
client = StravaClient(config=config, tokens=tokens, governor=Governor(state_file=None))
try:
    client.get_upload("1")
    outcome = "read"
except StravaSyncError as exc:
    outcome = type(exc).__name__
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, outcome)
"""


_HEAD = b'{"id": 1, "id_str": "1", "external_id": null, "status": "x", "activity_id": null, '


def _server(size: int) -> ThreadingHTTPServer:
    """A server answering a JSON upload object of ``size`` bytes, made as it is sent.

    The padding is written piece by piece, so this process never holds the reply: a
    subprocess may inherit its parent's peak RSS, and that must stay small.
    """
    head, tail = _HEAD + b'"error": "', b'"}'
    pad = max(0, size - len(head) - len(tail))
    piece = b"x" * (1 << 20)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(head) + pad + len(tail)))
            self.end_headers()
            try:
                self.wfile.write(head)
                left = pad
                while left > 0:
                    self.wfile.write(piece[:left])
                    left -= len(piece)
                self.wfile.write(tail)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading: what a cap should do

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def measure(size: int) -> tuple[int, str]:
    """Peak RSS (KiB) of a subprocess making one call answered with ``size`` bytes."""
    server = _server(size)
    try:
        with tempfile.TemporaryDirectory() as state:
            out = subprocess.run(
                [sys.executable, "-c", _CHILD, str(server.server_address[1]), state],
                capture_output=True, text=True, check=True, timeout=300).stdout.split()
    finally:
        server.shutdown()
        server.server_close()
    return int(out[-2]), out[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=50.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    small_kib, small_outcome = measure(200)
    big_kib, big_outcome = measure(int(args.size_mb * 1_000_000))
    result = {"small_reply": {"peak_rss_mb": round(small_kib / 1024, 1), "call": small_outcome},
              "big_reply": {"size_mb": args.size_mb, "peak_rss_mb": round(big_kib / 1024, 1),
                            "call": big_outcome}}
    if args.json:
        print(json.dumps(result))
        return
    print(f"small reply: peak RSS {result['small_reply']['peak_rss_mb']} MB ({small_outcome})")
    print(f"{args.size_mb:g} MB reply: peak RSS {result['big_reply']['peak_rss_mb']} MB "
          f"({big_outcome})")


if __name__ == "__main__":
    main()
