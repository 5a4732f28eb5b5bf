"""Property tests: mutated and truncated files never raise and never pass a bad CRC."""

from __future__ import annotations

import gzip

from fixtures import NOW, START, fit_bytes, fit_chain_ok, gpx_text, tcx_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stravasync.demo.samples import sample_fit
from stravasync.validate import Verdict, validate_bytes

FIT_TOOL = fit_bytes(points=8)
FIT_OWN = sample_fit(start=START, points=8)
CHAINED = FIT_OWN + sample_fit(start=START, points=4)
GPX = gpx_text(points=8).encode()
TCX = tcx_text(points=8).encode()

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mutated(draw: st.DrawFn, base: bytes) -> bytes:
    """``base`` with 1-4 bytes overwritten, inserted or deleted."""
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["set", "insert", "delete"]))
        if action == "set":
            data[pos] = draw(st.integers(0, 255))
        elif action == "insert":
            data.insert(pos, draw(st.integers(0, 255)))
        elif len(data) > 1:
            del data[pos]
    return bytes(data)


@SETTINGS
@given(st.sampled_from([FIT_TOOL, FIT_OWN, CHAINED]).flatmap(mutated))
def test_mutated_fit_is_never_ok_with_a_failing_crc(data: bytes) -> None:
    """A byte-mutated FIT never raises, and ok only when every CRC still verifies."""
    result = validate_bytes(data, name="x.fit", now=NOW)
    if result.verdict is Verdict.OK:
        assert fit_chain_ok(data)


@SETTINGS
@given(
    st.sampled_from([FIT_TOOL, FIT_OWN, CHAINED]).flatmap(
        lambda b: st.integers(0, len(b) - 1).map(lambda n: b[:n])
    )
)
def test_truncated_fit_is_never_ok(data: bytes) -> None:
    """Any strict prefix of a FIT file is refused, unless it ends exactly at a chain link."""
    if data == FIT_OWN:
        # CHAINED cut right after its first file is that whole, valid first file.
        return
    assert Verdict.OK != validate_bytes(data, now=NOW).verdict


@SETTINGS
@given(st.sampled_from([GPX, TCX]).flatmap(mutated))
def test_mutated_xml_never_raises(data: bytes) -> None:
    """Byte-mutated GPX/TCX always gets a verdict; ok implies a payload and a hash."""
    result = validate_bytes(data, now=NOW)
    assert (result.verdict is Verdict.OK) == (result.payload is not None)
    assert (result.payload is None) == (result.sha256 is None)


@SETTINGS
@given(
    st.sampled_from([GPX, TCX]).flatmap(lambda b: st.integers(0, len(b) - 2).map(lambda n: b[:n]))
)
def test_truncated_xml_is_never_ok(data: bytes) -> None:
    """A GPX/TCX cut before its closing root tag is refused."""
    assert Verdict.OK != validate_bytes(data, now=NOW).verdict


@SETTINGS
@given(
    st.sampled_from([FIT_OWN, GPX]).flatmap(
        lambda b: st.integers(1, 60).map(lambda n: gzip.compress(b)[:-n])
    )
)
def test_truncated_gzip_is_never_ok(data: bytes) -> None:
    """A gzip stream missing its tail is refused."""
    assert Verdict.OK != validate_bytes(data, now=NOW).verdict


@SETTINGS
@given(st.binary(max_size=512))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    """Any bytes at all get a verdict, never an exception."""
    result = validate_bytes(data, now=NOW)
    assert result.verdict in set(Verdict)
