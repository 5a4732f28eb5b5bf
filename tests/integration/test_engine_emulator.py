"""The engine, threaded, against the emulator over HTTP with faults switched on."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from emulator_rig import serving
from processes import reaped

from stravasync.config.settings import config_from_dict
from stravasync.demo.samples import sample_broken, sample_fit, sample_gpx
from stravasync.emulator import Emulator, Knobs
from stravasync.stack import build_engine, open_api
from stravasync.state import State, Store
from stravasync.strava.tokens import Athlete, TokenSet, TokenStore
from stravasync.upload.polling import Pacing

pytestmark = pytest.mark.integration

QUICK = Pacing(min_poll_s=0.2, initial_estimate_s=0.5, min_estimate_s=0.2, backoff_base_s=0.2,
               backoff_cap_s=1.0, park_after_s=20.0)
DELETED = "The created activity has been deleted."


@pytest.fixture
def faulty() -> Iterator[Emulator]:
    """20 % 5xx, a quarter of uploads dropped after creation, duplicates in both forms,
    some activities deleted, processing up to a second."""
    knobs = Knobs(processing_min_s=0.1, processing_max_s=1.0, error_5xx_share=0.2,
                  drop_upload_share=0.25, duplicate_html_share=0.5, deleted_share=0.1)
    with serving(seed=11, knobs=knobs) as strava:
        yield strava


def test_every_distinct_workout_ends_as_exactly_one_activity(
    tmp_path: Path, faulty: Emulator
) -> None:
    """Under faults: one live activity per workout (or a verbatim rejection); bad files unsent."""
    watch, state_dir = tmp_path / "watch", tmp_path / "state"
    watch.mkdir()
    config = config_from_dict({
        "strava": {"client_id": "12345", "client_secret": "emulator-secret",
                   "api_url": faulty.api_url, "oauth_url": faulty.oauth_url},
        "watch": {"paths": [str(watch)]}, "state": {"dir": str(state_dir)},
        "upload": {"concurrency": 3},
    })
    body = faulty.issue_tokens()
    TokenStore(state_dir=state_dir).save_initial(TokenSet(
        access_token=body["access_token"], refresh_token=body["refresh_token"],
        expires_at=int(body["expires_at"]), scope="read,activity:write",
        athlete=Athlete(id=int(body["athlete"]["id"]))))
    base = datetime.now(UTC) - timedelta(days=2)
    for i in range(12):
        (watch / f"w{i:02d}.fit").write_bytes(sample_fit(start=base - timedelta(hours=i)))
    seeded = {faulty.add_activity((watch / f"w{i:02d}.fit").read_bytes()) for i in (3, 7)}
    (watch / "copy-of-w01.fit").write_bytes((watch / "w01.fit").read_bytes())
    (watch / "w00.gpx").write_bytes(sample_gpx(start=base))
    (watch / "bad.fit").write_bytes(sample_broken())

    store = Store.open(state_dir)
    api = open_api(config)
    client = api.client
    engine = build_engine(config=config, store=store, client=client, governor=client.governor,
                    timing=QUICK)
    engine.scan(sorted(watch.iterdir()))
    engine.start()
    outcome = engine.wait_idle(timeout=90)
    engine.stop()
    api.close()

    assert "done" == outcome.status
    seen = faulty.inspect(requests=False)
    live: dict[str, list[int]] = {}
    for activity in seen["activities"]:
        if not activity["deleted"]:
            live.setdefault(activity["sha256"], []).append(activity["id"])
    fits = {hashlib.sha256((watch / f"w{i:02d}.fit").read_bytes()).hexdigest(): i
            for i in range(12)}
    for sha in fits:
        w = store.workout(sha)
        assert w is not None
        if w.state is State.REJECTED:
            assert (DELETED, []) == (w.error, live.get(sha, []))
        else:
            assert w.state in (State.UPLOADED, State.DUPLICATE)
            assert [w.activity_id] == live[sha]
    for i in (3, 7):
        w = store.workout(next(sha for sha, n in fits.items() if n == i))
        assert w is not None
        assert w.activity_id in seeded
        # Only when an earlier POST of ours may have gone through is it called ours.
        assert w.state is (State.UPLOADED if w.maybe_posted else State.DUPLICATE)
    sent = {u["sha256"] for u in seen["uploads"]}
    assert sent <= set(fits)  # the GPX twin, the copy and the bad file were never sent
    files = {Path(f.path).name: f for f in store.files()}
    assert (State.INVALID, State.DUPLICATE) == (files["bad.fit"].state, files["w00.gpx"].state)
    pair = (files["w01.fit"], files["copy-of-w01.fit"])  # one content, two paths
    if pair[1].state is State.REJECTED:  # Strava deleted the one activity: both say so
        assert State.REJECTED == pair[0].state
    else:
        assert State.DUPLICATE in {f.state for f in pair}
        assert pair[0].activity_id == pair[1].activity_id
    assert seen["counters"]["notes"].get("dropped", 0) > 0
    assert seen["counters"]["notes"].get("fault_5xx", 0) > 0


_SECOND_PROCESS = """
import sys
from pathlib import Path
from stravasync.config.settings import load_config
from stravasync.upload.engine import Engine
from stravasync.upload.polling import Pacing
from stravasync.state import Store
from stravasync.stack import build_engine, open_api
config = load_config(Path(sys.argv[1]))
store = Store.open(config.state_dir)
api = open_api(config)
client = api.client
engine = build_engine(config=config, store=store, client=client, governor=client.governor,
                timing=Pacing(min_poll_s=0.2, initial_estimate_s=0.5, min_estimate_s=0.2))
engine.scan(sorted(p for p in config.watch.paths[0].iterdir()))
engine.start()
print(engine.wait_idle(timeout=60).status)
engine.stop()
"""


def test_two_processes_on_one_store_send_each_workout_once(tmp_path: Path) -> None:
    """A daemon and a one-shot process share the store: every workout is POSTed once."""
    import subprocess
    import sys

    knobs = Knobs(processing_min_s=0.3, processing_max_s=1.0)
    with serving(seed=4, knobs=knobs) as strava:
        watch, state_dir = tmp_path / "watch", tmp_path / "state"
        watch.mkdir()
        toml = tmp_path / "config.toml"
        toml.write_text(
            f'[strava]\nclient_id = "12345"\nclient_secret = "emulator-secret"\n'
            f'api_url = "{strava.api_url}"\noauth_url = "{strava.oauth_url}"\n'
            f'[watch]\npaths = ["{watch}"]\n[state]\ndir = "{state_dir}"\n'
            f'[upload]\nconcurrency = 2\n[log]\nformat = "json"\nlevel = "error"\n')
        body = strava.issue_tokens()
        TokenStore(state_dir=state_dir).save_initial(TokenSet(
            access_token=body["access_token"], refresh_token=body["refresh_token"],
            expires_at=int(body["expires_at"]), scope="read,activity:write",
            athlete=Athlete(id=int(body["athlete"]["id"]))))
        base = datetime.now(UTC) - timedelta(days=1)
        for i in range(8):
            (watch / f"w{i}.fit").write_bytes(sample_fit(start=base - timedelta(hours=i)))
        other = subprocess.Popen([sys.executable, "-c", _SECOND_PROCESS, str(toml)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with reaped(other):
            from stravasync.config.settings import load_config

            config = load_config(toml)
            store = Store.open(state_dir)
            api = open_api(config)
            client = api.client
            engine = build_engine(config=config, store=store, client=client, governor=client.governor,
                            timing=QUICK)
            engine.scan(sorted(watch.iterdir()))
            engine.start()
            mine = engine.wait_idle(timeout=60)
            engine.stop()
            api.close()
            out, err = other.communicate(timeout=60)
        seen = strava.inspect(requests=False)
    posts = [u["external_id_sent"] for u in seen["uploads"]]
    assert len(set(posts)) == len(posts)
    assert ("done", "done") == (mine.status, out.strip().splitlines()[-1]), err
    assert 8 == len(seen["uploads"]) == len(seen["activities"])
    assert {"uploaded"} == {f.state.value for f in store.files()}
