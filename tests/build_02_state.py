"""Record a planned state folder with stravasync 0.2.0's own code (run by ``legacy_rig``).

Run as ``python build_02_state.py PLAN.json`` with 0.2.0's package first on
``PYTHONPATH``: every row is written through 0.2.0's ``Store`` the way its engine
wrote it (record the file, claim before the POST, record the upload, finish), the
sign-in through 0.2.0's ``TokenStore`` and the rate-limit state through 0.2.0's
``Governor``. Nothing of the code under test runs here. (No tests here.)
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from stravasync.ratelimit import Governor
from stravasync.tokens import Athlete, TokenSet, TokenStore

from stravasync.state import FileFacts, State, Store
from stravasync.validate.result import Facts


def record(store: Store, row: dict, index: int) -> None:
    """One file, through the calls 0.2.0's intake and engine made for its final state."""
    final = State(row["state"])
    first = State.INVALID if final is State.INVALID else State.QUEUED
    start = datetime.fromtimestamp(row["start"], UTC) if row["start"] is not None else None
    store.record_file(row["path"], size=row["size"], mtime_ns=row["mtime_ns"], facts=FileFacts(
        sha256=row["sha256"], state=first, format=row["format"],
        error=row["error"] if first is State.INVALID else None,
        reason_code="invalid" if first is State.INVALID else None,
        facts=Facts(start_time=start, sport=row["sport"])))
    if final in (State.INVALID, State.QUEUED):
        return
    owner = f"stravasync-0.2:{index}"
    sha = row["sha256"]
    store.claim_post(sha, owner=owner, external_id=f"stravasync-{sha[:20]}")
    if final is State.RETRYING:
        store.release_post(sha, owner=owner, state=State.RETRYING, sent=False,
                           next_attempt_at=row["next_attempt_at"], error=row["error"],
                           failures=1)
        return
    store.record_upload(sha, owner=owner, upload_id=str(row["upload_id"]),
                        posted_at=row["start"], next_attempt_at=row["start"])
    store.finish(sha, owner=owner, state=final, activity_id=row["activity_id"],
                 error=row["error"], promote_copy=False)


def main() -> None:
    plan = json.loads(Path(sys.argv[1]).read_text())
    state_dir = Path(plan["state_dir"])
    store = Store.open(state_dir)
    try:
        for index, row in enumerate(plan["files"]):
            record(store, row, index)
    finally:
        store.close()
    tokens = plan["tokens"]
    TokenStore(state_dir=state_dir).save_initial(TokenSet(
        access_token=tokens["access_token"], refresh_token=tokens["refresh_token"],
        expires_at=int(tokens["expires_at"]), scope=tokens["scope"],
        athlete=Athlete(id=tokens["athlete_id"], firstname=tokens.get("firstname", ""))))
    Governor(state_file=state_dir / "ratelimit.json").observe(plan["rate_headers"])


if __name__ == "__main__":
    main()
