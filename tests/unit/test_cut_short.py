"""Which files look cut short, and how long one is waited for (issue 18.14)."""

from __future__ import annotations

import gzip

import pytest
from fixtures import START, gpx_text

from stravasync.demo.samples import sample_fit
from stravasync.intake.completeness import looks_cut_short
from stravasync.intake.ingest import CUT_SHORT_QUIET_S, cut_short_recheck_at

FIT = sample_fit(start=START, points=100)
GPX = gpx_text(points=30).encode()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", True),
        (FIT[:6], True),
        (FIT[: len(FIT) // 2], True),
        (FIT[:-1], True),
        (FIT, False),
        (FIT[:-2] + b"\x00\x00", False),  # a wrong CRC: more bytes would not mend it
        (GPX[: len(GPX) // 2], True),
        (GPX, False),
        (gzip.compress(FIT)[:-4], True),
        (gzip.compress(FIT), False),
        (b"hello, not a workout", False),
    ],
    ids=["empty", "fit-header-only", "fit-half", "fit-no-last-byte", "fit-whole",
         "fit-bad-crc", "gpx-half", "gpx-whole", "gzip-no-trailer", "gzip-whole", "text"],
)
def test_a_file_looks_cut_short_only_when_its_structure_ends_early(
    data: bytes, expected: bool
) -> None:
    """Cut short = ends before its own structure says; corrupt or unknown content is not."""
    assert expected == looks_cut_short(data)


def test_a_fresh_cut_short_file_is_read_again_when_the_quiet_time_is_up() -> None:
    """Written 10 s ago: read again when it has been quiet for the full minute."""
    written = 1_700_000_000.0
    assert written + CUT_SHORT_QUIET_S == cut_short_recheck_at(
        FIT[:100], mtime_ns=int(written * 1e9), now=written + 10)


def test_a_quiet_or_whole_file_is_judged_at_once() -> None:
    """Quiet for the minute already, or not cut short: no waiting."""
    written = 1_700_000_000.0
    mtime_ns = int(written * 1e9)
    assert None is cut_short_recheck_at(FIT[:100], mtime_ns=mtime_ns,
                                        now=written + CUT_SHORT_QUIET_S)
    assert None is cut_short_recheck_at(FIT, mtime_ns=mtime_ns, now=written + 1)
