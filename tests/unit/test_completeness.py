"""Tests for stravasync.intake.completeness: which files prove themselves whole."""

from __future__ import annotations

import csv
import gzip
import os
from pathlib import Path

import pytest
from fitdecode.utils import compute_crc

from stravasync.intake import completeness
from stravasync.intake.completeness import (
    StatSignature,
    can_read,
    fit_crc,
    fit_is_complete,
    gzip_is_complete,
    proves_complete,
    stat_signature,
    xml_is_complete,
)

GPX = b"""<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">
 <trk><trkseg><trkpt lat="46.5" lon="6.6"><time>2024-05-01T10:00:00Z</time></trkpt></trkseg></trk>
</gpx>
"""
TCX = b"""<?xml version="1.0"?>
<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2">
 <Activities/>
</TrainingCenterDatabase>\r\n"""


def make_fit(payload: bytes, *, header_size: int = 14) -> bytes:
    """Build a FIT file around ``payload`` with fitdecode's CRC (an independent implementation)."""
    header = bytes([header_size, 0x20]) + (2132).to_bytes(2, "little")
    header += len(payload).to_bytes(4, "little") + b".FIT"
    if header_size == 14:
        header += int(compute_crc(header)).to_bytes(2, "little")
    body = header + payload
    return body + int(compute_crc(body)).to_bytes(2, "little")


def write(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` and return the path."""
    path.write_bytes(data)
    return path


def test_fit_crc_agrees_with_fitdecode() -> None:
    """Our FIT CRC equals fitdecode's on arbitrary bytes."""
    data = bytes(range(256)) * 7
    assert compute_crc(data) == fit_crc(data)


@pytest.mark.parametrize("header_size", [12, 14])
def test_whole_fit_proves_complete(header_size: int) -> None:
    """A FIT file with its declared size and a matching CRC is complete."""
    assert fit_is_complete(make_fit(b"\x40" * 300, header_size=header_size))


def test_no_prefix_of_a_fit_file_proves_complete() -> None:
    """Every strict prefix of a FIT file (a copy in progress) is incomplete."""
    data = make_fit(bytes(range(200)))
    assert [] == [n for n in range(len(data)) if fit_is_complete(data[:n])]


def test_fit_with_a_bad_crc_does_not_prove_complete() -> None:
    """A FIT file whose CRC does not match (or preallocated with zeros) is not proven."""
    data = bytearray(make_fit(b"\x01" * 100))
    data[-1] ^= 0xFF
    assert not fit_is_complete(bytes(data))
    preallocated = make_fit(b"\x01" * 100)[:60].ljust(len(data), b"\0")
    assert not fit_is_complete(preallocated)


def test_chained_fit_files_are_walked() -> None:
    """Chained FIT files are complete only when every part is whole."""
    first, second = make_fit(b"\x02" * 50), make_fit(b"\x03" * 70, header_size=12)
    assert fit_is_complete(first + second)
    assert not fit_is_complete(first + second[:-1])
    assert not fit_is_complete(first + second[:10])
    assert not fit_is_complete(first + b"garbage")


@pytest.mark.parametrize("document", [GPX, TCX, b"<x:gpx>\n</x:gpx>", GPX.rstrip() + b"\n\n  \t"])
def test_closed_xml_proves_complete(document: bytes) -> None:
    """A GPX/TCX document ending with its closing root tag (and whitespace) is complete."""
    assert xml_is_complete(document[-256:])


@pytest.mark.parametrize("cut", [10, 100, len(GPX) - 3, len(GPX) - 8])
def test_cut_xml_does_not_prove_complete(cut: int) -> None:
    """A GPX document cut short anywhere before its closing tag is not complete."""
    assert not xml_is_complete(GPX[:cut])


def test_nul_padded_xml_does_not_prove_complete() -> None:
    """A preallocated XML file padded with NUL bytes is not complete."""
    assert not xml_is_complete(GPX + b"\0" * 16)


def test_gzip_stream_must_end(tmp_path: Path) -> None:
    """A gzip file is complete only with its trailer; every cut copy is not."""
    data = gzip.compress(os.urandom(3000) + GPX * 50)
    assert gzip_is_complete(write(tmp_path / "a.gpx.gz", data))
    cuts = [
        n for n in range(1, len(data), 97) if gzip_is_complete(write(tmp_path / "c.gz", data[:n]))
    ]
    assert [] == cuts
    assert not gzip_is_complete(write(tmp_path / "b.gz", data[:-1]))


def test_multi_member_gzip(tmp_path: Path) -> None:
    """Concatenated gzip members are complete when the last one ends; trailing junk is not."""
    data = gzip.compress(GPX) + gzip.compress(b"more")
    assert gzip_is_complete(write(tmp_path / "m.gz", data))
    assert not gzip_is_complete(write(tmp_path / "n.gz", data[:-4]))
    assert not gzip_is_complete(write(tmp_path / "j.gz", data + b"junk"))


def test_proves_complete_sniffs_content_not_name(tmp_path: Path) -> None:
    """The format comes from the bytes: a gzipped FIT named .fit is judged as gzip."""
    fit = make_fit(b"\x05" * 40)
    assert proves_complete(write(tmp_path / "x.fit", gzip.compress(fit)))
    assert proves_complete(write(tmp_path / "y.gpx", fit))
    assert proves_complete(write(tmp_path / "z.tcx", TCX))
    assert not proves_complete(write(tmp_path / "e.fit", b""))
    assert not proves_complete(write(tmp_path / "n.fit", b"not a workout"))
    assert not proves_complete(tmp_path / "missing.fit")


def test_size_caps_make_big_files_settle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files over the proof caps are not read to the end; they settle instead."""
    monkeypatch.setattr(completeness, "MAX_FIT_PROOF_BYTES", 100)
    monkeypatch.setattr(completeness, "MAX_GZIP_PROOF_BYTES", 100)
    assert not proves_complete(write(tmp_path / "big.fit", make_fit(b"\x01" * 200)))
    assert not proves_complete(write(tmp_path / "big.gz", gzip.compress(os.urandom(300))))
    assert proves_complete(write(tmp_path / "small.fit", make_fit(b"\x01" * 20)))


def test_stat_signature_changes_when_written(tmp_path: Path) -> None:
    """The signature is (size, mtime_ns) and differs after an append."""
    path = write(tmp_path / "a.fit", b"abc")
    before = stat_signature(path)
    st = path.stat()
    assert StatSignature(3, st.st_mtime_ns) == before
    with path.open("ab") as fh:
        fh.write(b"d")
    assert before != stat_signature(path)
    with pytest.raises(FileNotFoundError):
        stat_signature(tmp_path / "gone.fit")


@pytest.mark.corpus
def test_corpus_files_prove_complete(corpus: Path) -> None:
    """Every real corpus file that is not broken proves itself complete; truncated ones do not."""
    with (corpus / "MANIFEST.tsv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    unproven = [
        r["file"]
        for r in rows
        if r["expected"] != "invalid" and not proves_complete(corpus / r["file"])
    ]
    assert [] == unproven
    truncated = ["fit_truncated-eof.fit", "fit_course_truncated.fit", "gpx_empty-file.gpx"]
    assert [] == [name for name in truncated if proves_complete(corpus / name)]


LATIN = os.fsdecode(b"Ger\xe4t")  # a Latin-1 name from a FAT device: not valid UTF-8


@pytest.mark.parametrize("suffix", [".fit", ".gpx", ".fit.gz"])
def test_non_utf8_names_are_checked_like_any_other(tmp_path: Path, suffix: str) -> None:
    """A file whose name is not UTF-8 is checked, stat'ed and read without an error."""
    data = {".fit": make_fit(b"\x40" * 100), ".gpx": GPX,
            ".fit.gz": gzip.compress(make_fit(b"\x40" * 100))}[suffix]
    path = write(tmp_path / f"{LATIN}{suffix}", data)
    assert (True, len(data), True) == (
        proves_complete(path), stat_signature(path).size, can_read(path)
    )


def test_can_read_says_no_for_missing_files_and_never_blocks_on_a_fifo(tmp_path: Path) -> None:
    """A file that is gone cannot be read; a FIFO named like a workout does not hang the check."""
    fifo = tmp_path / "pipe.fit"
    os.mkfifo(fifo)
    assert (False, True) == (can_read(tmp_path / "gone.fit"), can_read(fifo))
