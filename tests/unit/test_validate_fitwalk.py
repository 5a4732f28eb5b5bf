"""The fast FIT path: same answers as the full fitdecode pass, on real and mutated files."""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

import pytest
from fit_tool.profile.profile_type import FileType, Sport
from fitgen import time_rule_files
from fixtures import NOW, START, fit_bytes
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import stravasync.validate as validate_pkg
from stravasync.demo.samples import sample_fit
from stravasync.intake.completeness import fit_crc
from stravasync.validate import ValidationResult, validate_bytes
from stravasync.validate.fit import analyse_fit, analyse_fit_fast
from stravasync.validate.fitwalk import Unsure, _walk, fast_crc
from stravasync.validate.result import Analysis

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
FIT_TOOL = fit_bytes(points=8)
FIT_OWN = sample_fit(start=START, points=8)
CHAINED = FIT_OWN + fit_bytes(file_type=FileType.SETTINGS, points=2)
GENERATED: dict[str, bytes] = {
    "fit-tool activity": fit_bytes(),
    "fit-tool no type": fit_bytes(file_type=None),
    "fit-tool no type, no summary": fit_bytes(file_type=None, with_summary=False),
    "fit-tool course": fit_bytes(file_type=FileType.COURSE),
    "fit-tool settings": fit_bytes(file_type=FileType.SETTINGS, points=0, with_summary=False),
    "fit-tool cycling": fit_bytes(sport=Sport.CYCLING),
    "fit-tool no records": fit_bytes(points=0, with_summary=False),
    "fit-tool one record": fit_bytes(points=1),
    "fit-tool 1999": fit_bytes(start=datetime(1999, 1, 1, tzinfo=START.tzinfo)),
    "fit-tool future": fit_bytes(start=NOW + timedelta(days=30)),
    "sample run 3600": sample_fit(start=START, points=3600),
    "sample ride": sample_fit(start=START, sport="ride"),
    "sample swim": sample_fit(start=START, sport="swim", points=5),
    "sample walk": sample_fit(start=START, sport="walk", points=1),
    "chained activity + settings": CHAINED,
    "chained activity + activity": FIT_OWN + FIT_TOOL,
    "empty": b"",
    **{f"time rule: {name}": data for name, data in time_rule_files(START).items()},
}
# Time-rule fixtures whose wire features the mutation tests should also cover.
TIME_RULE_BASES = [
    GENERATED["time rule: compressed timestamps"],
    GENERATED["time rule: untimed pool swim"],
    GENERATED["time rule: sets + untimed records"],
    GENERATED["time rule: system time + correlation + local"],
]
# Corpus files the walker leaves to the full pass: damage (which the full pass must
# describe), hr messages (fitdecode's event_timestamp_12 bookkeeping) and
# compressed_speed_distance records (distance by accumulation).
CORPUS_FULL_PASS = {
    "fit_bad-file-crc.fit",
    "fit_chained_2nd-file-nodata.fit",
    "fit_chained_corrupt-2nd-header.fit",
    "fit_chained_second-bad-crc.fit",
    "fit_course_truncated.fit",
    "fit_sigma_ride_missing-crc.fit",
    "fit_strava-android_run_undefined-local-msg.fit",
    "fit_truncated-eof.fit",
    "fit_garmin-fr920xt_multisport_chained.fit",
    "fit_zwift_virtual-ride.fit",
}


def _corpus_fits(corpus: Path) -> dict[str, bytes]:
    files = {}
    for path in sorted(corpus.glob("fit_*")):
        data = path.read_bytes()
        files[path.name] = gzip.decompress(data) if path.suffix == ".gz" else data
    return files


def _both(data: bytes) -> tuple[Analysis, Analysis]:
    return analyse_fit(data, now=NOW, fast=False), analyse_fit(data, now=NOW)


def _results(
    monkeypatch: pytest.MonkeyPatch, data: bytes, full: Analysis
) -> tuple[ValidationResult, ...]:
    """validate_bytes given the full pass's analysis ``full``, then with the default (fast) path."""

    def full_only(content: bytes, *, now: datetime | None, zone: tzinfo | None) -> Analysis:
        assert (data, NOW, None) == (content, now, zone)
        return full

    with monkeypatch.context() as patch:
        patch.setattr(validate_pkg, "analyse_fit", full_only)
        slow = validate_bytes(data, name="x.fit", now=NOW)
    return slow, validate_bytes(data, name="x.fit", now=NOW)


def reseal(data: bytes) -> bytes:
    """Recompute header and file CRCs wherever the chained headers still frame the bytes."""
    out = bytearray(data)
    pos = 0
    while pos + 12 <= len(out):
        size = out[pos]
        (body,) = struct.unpack_from("<I", out, pos + 4)
        end = pos + size + body
        if size not in (12, 14) or end + 2 > len(out):
            break
        if size == 14:
            struct.pack_into("<H", out, pos + 12, fit_crc(bytes(out[pos : pos + 12])))
        struct.pack_into("<H", out, end, fit_crc(bytes(out[pos:end])))
        pos = end + 2
    return bytes(out)


@st.composite
def mutated(draw: st.DrawFn, base: bytes) -> bytes:
    """``base`` with 1-4 bytes overwritten, inserted or deleted, CRCs maybe made right again."""
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["set", "set", "insert", "delete", "truncate"]))
        if action == "set":
            data[pos] = draw(st.integers(0, 255))
        elif action == "insert":
            data.insert(pos, draw(st.integers(0, 255)))
        elif action == "truncate":
            del data[pos:]
        elif len(data) > 1:
            del data[pos]
    return reseal(bytes(data)) if draw(st.booleans()) else bytes(data)


def _walks_or_is_unsure(data: bytes) -> bool:
    """Whether the walker vouches for ``data``; any exception but Unsure fails the test.

    Calls the walker's core, under the guard that turns a walker bug into Unsure.
    """
    try:
        _walk(data, keep=frozenset({0, 12, 18, 19, 34, 101, 162}), on_record=_ignore)
    except Unsure:
        return False
    return True


def _ignore(stamp: int | None, distance: float | None) -> None:
    del stamp, distance


@pytest.mark.parametrize("size", [0, 1, 2, 3, 12, 13, 255, 4096, 4097])
def test_fast_crc_equals_the_byte_by_byte_crc(size: int) -> None:
    """The two-bytes-a-step CRC equals completeness.fit_crc on even and odd lengths."""
    data = os.urandom(size)
    assert fit_crc(data) == fast_crc(data)
    assert fit_crc(data[5:], fit_crc(data[:5])) == fast_crc(data[5:], fast_crc(data[:5]))


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_files_take_the_fast_path_with_the_same_answer(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every generated FIT file is judged by the walker, exactly as by the full pass."""
    data = GENERATED[name]
    full, fast = _both(data)
    assert full == fast
    assert full == analyse_fit_fast(data, now=NOW)
    slow_result, fast_result = _results(monkeypatch, data, full)
    assert slow_result == fast_result


def test_corpus_fast_path_equals_full_pass(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On every corpus FIT file the result is the full pass's, and only known files fall back."""
    mismatched: list[str] = []
    full_pass: set[str] = set()
    files = _corpus_fits(corpus)
    for name, data in files.items():
        full = analyse_fit(data, now=NOW, fast=False)
        fast = analyse_fit_fast(data, now=NOW)
        if fast is None:
            full_pass.add(name)
        elif fast != full:
            mismatched.append(name)
        slow_result, fast_result = _results(monkeypatch, data, full)
        if slow_result != fast_result:
            mismatched.append(name)
    assert [] == mismatched
    assert CORPUS_FULL_PASS == full_pass
    assert len(files) >= 30


@SETTINGS
@given(st.sampled_from([FIT_TOOL, FIT_OWN, CHAINED]).flatmap(mutated))
def test_mutated_generated_fit_same_answer(data: bytes) -> None:
    """A mutated (and maybe resealed) FIT gets the full pass's exact answer; the walker never crashes."""
    event("fast path" if _walks_or_is_unsure(data) else "full pass")
    full, fast = _both(data)
    assert full == fast


@st.composite
def rewritten(draw: st.DrawFn, base: bytes) -> bytes:
    """``base`` with 1-6 bytes overwritten and every CRC made right again (framing mostly kept)."""
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 6))):
        data[draw(st.integers(14, len(data) - 3))] = draw(
            st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF]) | st.integers(0, 255)
        )
    return reseal(bytes(data))


@settings(SETTINGS, max_examples=400)
@given(st.data())
def test_rewritten_fit_same_answer(corpus: Path, data: st.DataObject) -> None:
    """Overwritten bytes behind valid CRCs (types, sizes, sentinels) get the full pass's answer."""
    bases = [FIT_TOOL, FIT_OWN, CHAINED, *TIME_RULE_BASES, *_small_corpus(corpus).values()]
    mutant = data.draw(st.sampled_from(bases).flatmap(rewritten))
    event("fast path" if _walks_or_is_unsure(mutant) else "full pass")
    full, fast = _both(mutant)
    assert full == fast


@SETTINGS
@given(st.data())
def test_mutated_corpus_fit_same_answer(corpus: Path, data: st.DataObject) -> None:
    """Mutated small real files (developer data, compressed timestamps, chains) agree too."""
    base = _small_corpus(corpus)[data.draw(st.sampled_from(_SMALL))]
    mutant = data.draw(mutated(base))
    event("fast path" if _walks_or_is_unsure(mutant) else "full pass")
    full, fast = _both(mutant)
    assert full == fast


_SMALL = [
    "fit_wahoo-elemnt-bolt_devdata-no-appid.fit",
    "fit_garmin-fr70_run_compressed-ts.fit",
    "fit_activity+settings_chained.fit",
    "fit_garmin-edge820_ride.fit",
    "fit_fitsdk_activity.fit",
    "fit_settings_edge510.fit",
]
_CACHE: dict[str, bytes] = {}


def _small_corpus(corpus: Path) -> dict[str, bytes]:
    if not _CACHE:
        _CACHE.update({name: (corpus / name).read_bytes() for name in _SMALL})
    return _CACHE


@SETTINGS
@given(
    st.sampled_from([FIT_TOOL, FIT_OWN, CHAINED]).flatmap(
        lambda b: st.integers(0, len(b) - 1).map(lambda n: b[:n])
    )
)
def test_truncated_fit_same_answer(data: bytes) -> None:
    """Every prefix of a FIT file gets the full pass's exact answer."""
    full, fast = _both(data)
    assert full == fast


def test_fast_path_is_much_faster_than_the_full_pass() -> None:
    """On a one-hour file the fast path costs well under half the full pass (a loose bound)."""
    import time

    data = GENERATED["sample run 3600"]

    def best(fn: Callable[[], object]) -> float:
        times = []
        for _ in range(3):
            began = time.perf_counter()
            fn()
            times.append(time.perf_counter() - began)
        return min(times)

    fast = best(lambda: analyse_fit(data, now=NOW))
    full = best(lambda: analyse_fit(data, now=NOW, fast=False))
    assert fast < full / 2
