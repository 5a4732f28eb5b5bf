"""Copies of one ride arriving together: the richest is sent (issue 18.15), on the real daemon.

A ride copied as GPX, TCX and FIT 40 ms apart used to go to Strava as the GPX (the
first judged), with the FIT a duplicate. A fresh workout now waits a moment
(``dedupe.SIBLING_HOLD_S``) before its first POST, so its siblings are compared first.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_rig import START, Rig, make_rig, running

from stravasync.demo.samples import sample_fit, sample_gpx, sample_tcx

pytestmark = pytest.mark.integration


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """An emulator and a signed-in rig in tmp_path."""
    with make_rig(tmp_path) as r:
        yield r


def test_one_ride_copied_as_gpx_tcx_and_fit_goes_to_strava_as_the_fit(rig: Rig) -> None:
    """GPX, TCX, FIT of one ride 40 ms apart: the FIT is uploaded, the others are duplicates."""
    copies = [("ride.gpx", sample_gpx), ("ride.tcx", sample_tcx), ("ride.fit", sample_fit)]
    with running(rig.config()):
        for name, make in copies:
            (rig.watch / name).write_bytes(make(start=START, sport="ride"))
            time.sleep(0.04)  # the copy tool's pace in the report, not a wait for a result
        files = rig.wait_final(3)
    uploads = rig.emulator.inspect(requests=False)["uploads"]
    assert ["fit.gz"] == [u["data_type"] for u in uploads]
    assert {"ride.fit": "uploaded", "ride.tcx": "duplicate", "ride.gpx": "duplicate"} == {
        Path(path).name: state for path, state in files.items()}
