"""Tests for the emulator's FIT walk (``fitscan``): where it finds a workout's start time."""

from __future__ import annotations

import struct

from stravasync.emulator.fitscan import FIT_EPOCH, scan_fit

# -- the FIT walk -----------------------------------------------------------------------


def test_fit_walk_rolls_compressed_timestamps_over() -> None:
    """A record with a compressed header gets its 5-bit offset rolled onto the last full time."""
    full = 1_000_000_030  # low five bits: 30
    definition_event = struct.pack("<BBBHB", 0x41, 0, 0, 21, 1) + bytes([253, 4, 0x86])
    event = struct.pack("<BI", 0x01, full)
    definition_record = struct.pack("<BBBHB", 0x42, 0, 0, 20, 1) + bytes([3, 1, 0x02])
    compressed = bytes([0x80 | (2 << 5) | 2, 120])  # offset 2 < 30: rolls over to +4
    facts = scan_fit(definition_event + event + definition_record + compressed)
    assert (full + 4, float(full + 4 + FIT_EPOCH)) == (facts.record_time, facts.start_unix())
