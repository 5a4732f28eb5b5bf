"""A notice about a file whose name holds ESC, BEL or a newline carries it escaped."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx

from stravasync.fsutil import shown
from stravasync.owner.notices import Notices

HOSTILE = "/w/ride\x1b[2J\x1b]0;pwned\x07\nforged line\u202e.fit"
ESCAPED = "/w/ride\\x1b[2J\\x1b]0;pwned\\x07\\nforged line\\u202e.fit"
SETTLE = 20.0


def test_command_and_url_get_the_escaped_name(tmp_path: Path) -> None:
    """The command's last argument, $STRAVASYNC_MESSAGE and the POSTed body are escaped."""
    script = tmp_path / "record.py"
    script.write_text(
        "import json, os, sys\n"
        f"with open({str(tmp_path / 'call.json')!r}, 'w') as f:\n"
        "    json.dump({'argv': sys.argv[1:],\n"
        "               'message': os.environ['STRAVASYNC_MESSAGE']}, f)\n",
        encoding="utf-8",
    )
    bodies: list[str] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content.decode("utf-8"))
        return httpx.Response(200)

    notices = Notices(url="https://ntfy.example/topic", on={"problem"},
                      command=(sys.executable, str(script)),
                      state_path=tmp_path / "notices.json",
                      transport=httpx.MockTransport(receiver))
    # As owner.attention words it: the name as shown() renders it for the state.
    notices.problem("file:abc", f"{shown(HOSTILE)} was refused by Strava: bad data")
    assert notices.flush(SETTLE)
    notices.close(SETTLE)
    expected = f"{ESCAPED} was refused by Strava: bad data"
    call = json.loads((tmp_path / "call.json").read_text(encoding="utf-8"))
    assert {"argv": [expected], "message": expected} == call
    assert [expected] == bodies
