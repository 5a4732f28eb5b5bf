"""Whether a workout file on disk is whole: the watcher's test before handing it over.

A file *proves itself complete* when its own structure says nothing is missing:

- FIT: walking the headers (chained files: one after another) lands exactly on the
  end of the file, and every part's 2-byte file CRC matches;
- GPX/TCX: the last non-whitespace bytes are the closing root tag
  (``</gpx>``, ``</TrainingCenterDatabase>``);
- gzip: the compressed stream (every member) ends with its trailer, whose CRC-32
  and length zlib checks while decompressing.

The format is sniffed from the content, never from the name. A file that does not
prove itself (unknown content, a broken CRC, bigger than the caps below) is not
"incomplete": the watcher then waits until it has been quiet for ``settle_seconds``
and hands it over anyway; validation decides what it is.

The contract with the consumer (who reads the file after ``on_ready``)::

    before = stat_signature(path)
    data = path.read_bytes()
    if stat_signature(path) != before:
        ...  # it changed while being read: drop ``data``; the watcher reports it again

A file still being written is therefore never uploaded half-written: either it proves
itself complete, or it was quiet for the settle time *and* did not change while read.
Nothing here raises for bad content; only ``stat_signature`` raises ``OSError`` (the
file is gone).
"""

from __future__ import annotations

import os
import re
import zlib
from typing import NamedTuple

from stravasync.validate.fitwalk import fast_crc

__all__ = [
    "MAX_FIT_PROOF_BYTES",
    "MAX_GZIP_PROOF_BYTES",
    "StatSignature",
    "can_read",
    "fit_is_complete",
    "gzip_is_complete",
    "looks_cut_short",
    "proves_complete",
    "stat_signature",
    "xml_is_complete",
]

#: FIT files above this size are not CRC-checked (pure-Python CRC, ~0.12 s per MiB);
#: they settle instead. Real activity files are well below 10 MiB.
MAX_FIT_PROOF_BYTES = 16 * 1024 * 1024
#: Compressed files above this size are not decompressed to prove their end; they settle.
MAX_GZIP_PROOF_BYTES = 64 * 1024 * 1024
#: Stop decompressing once this much output was produced (a zip bomb does not prove itself).
_MAX_GZIP_OUTPUT = 512 * 1024 * 1024

_TAIL_BYTES = 256
_CLOSING_TAG = re.compile(
    rb"</(?:[A-Za-z_][\w.-]*:)?(?:gpx|TrainingCenterDatabase)\s*>\Z",
)
_XML_WHITESPACE = b" \t\r\n"
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1024 * 1024


class StatSignature(NamedTuple):
    """What changes when a file is written: compare two to see whether it was."""

    size: int
    """Size in bytes."""
    mtime_ns: int
    """Modification time in nanoseconds."""


def stat_signature(path: str | os.PathLike[str]) -> StatSignature:
    """Return the file's ``(size, mtime_ns)``; raises ``OSError`` if it is gone."""
    st = os.stat(path)
    return StatSignature(st.st_size, st.st_mtime_ns)


def can_read(path: str | os.PathLike[str]) -> bool:
    """Whether the file opens for reading now (non-blocking: a FIFO never hangs us)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    os.close(fd)
    return True


def fit_crc(data: bytes | memoryview, crc: int = 0) -> int:
    """Return the FIT CRC-16 (poly 0x8005 reflected, init 0) of ``data``."""
    return fast_crc(data, crc)


def fit_is_complete(data: bytes) -> bool:
    """Whether ``data`` is one or more whole FIT files whose file CRCs match."""
    view = memoryview(data)
    offset = 0
    size = len(data)
    if size == 0:
        return False
    while offset < size:
        if size - offset < 12:
            return False
        header_size = view[offset]
        if header_size not in (12, 14) or bytes(view[offset + 8 : offset + 12]) != b".FIT":
            return False
        data_size = int.from_bytes(view[offset + 4 : offset + 8], "little")
        end = offset + header_size + data_size + 2
        if end > size:
            return False
        expected = int.from_bytes(view[end - 2 : end], "little")
        if fit_crc(view[offset : end - 2]) != expected:
            return False
        offset = end
    return True


def xml_is_complete(tail: bytes) -> bool:
    """Whether the last bytes of a GPX/TCX document end with its closing root tag."""
    return _CLOSING_TAG.search(tail.rstrip(_XML_WHITESPACE)) is not None


def gzip_is_complete(path: str | os.PathLike[str]) -> bool:
    """Whether every gzip member in the file ends with a trailer that zlib verified."""
    with open(path, "rb") as fh:
        decomp = zlib.decompressobj(wbits=31)
        produced = 0
        saw_end = False
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                return saw_end and not decomp.unconsumed_tail
            while chunk:
                try:
                    produced += len(decomp.decompress(chunk, _CHUNK))
                except zlib.error:
                    return False
                if produced > _MAX_GZIP_OUTPUT:
                    return False
                if decomp.eof:
                    saw_end = True
                    chunk = decomp.unused_data
                    if chunk and not chunk.startswith(_GZIP_MAGIC[: len(chunk)]):
                        return False  # trailing garbage after the last member
                    decomp = zlib.decompressobj(wbits=31)
                    if chunk:
                        saw_end = False
                else:
                    saw_end = False
                    chunk = decomp.unconsumed_tail


def looks_cut_short(data: bytes) -> bool:
    """Whether ``data`` ends before its own structure says it should: a copy cut short.

    Empty; a FIT whose header announces more bytes than there are; XML without its
    closing root tag; gzip whose stream stops before its trailer. A wrong CRC or
    unknown content is not "cut short": more bytes would not mend it.
    """
    if not data:
        return True
    if data.startswith(_GZIP_MAGIC):
        return _gzip_cut_short(data)
    if len(data) >= 12 and data[8:12] == b".FIT":
        return _fit_cut_short(data)
    if len(data) < 12 and data[0] in (12, 14):  # a FIT header's first bytes
        return True
    if data.lstrip(b"\xef\xbb\xbf" + _XML_WHITESPACE).startswith(b"<"):
        return not xml_is_complete(data[-_TAIL_BYTES:])
    return False


def _fit_cut_short(data: bytes) -> bool:
    offset, size = 0, len(data)
    while offset < size:
        if size - offset < 12:
            return True
        header_size = data[offset]
        if header_size not in (12, 14) or data[offset + 8 : offset + 12] != b".FIT":
            return False
        end = offset + header_size + int.from_bytes(data[offset + 4 : offset + 8], "little") + 2
        if end > size:
            return True
        offset = end
    return False


def _gzip_cut_short(data: bytes) -> bool:
    decomp = zlib.decompressobj(wbits=31)
    rest = data
    while rest:
        try:
            while rest and not decomp.eof:
                decomp.decompress(rest, _CHUNK)  # output dropped: only the end matters
                rest = decomp.unconsumed_tail
        except zlib.error:
            return False
        if not decomp.eof:
            return True
        rest = decomp.unused_data
        if rest and not rest.startswith(_GZIP_MAGIC[: len(rest)]):
            return False
        decomp = zlib.decompressobj(wbits=31)
        if len(rest) < len(_GZIP_MAGIC):
            return bool(rest)
    return False


def proves_complete(path: str | os.PathLike[str]) -> bool:
    """Whether the file proves itself complete (see the module docstring); never raises."""
    try:
        size = os.stat(path).st_size
        if size == 0:
            return False
        with open(path, "rb") as fh:
            head = fh.read(12)
            if head.startswith(_GZIP_MAGIC):
                return size <= MAX_GZIP_PROOF_BYTES and gzip_is_complete(path)
            if len(head) == 12 and head[8:12] == b".FIT":
                if size > MAX_FIT_PROOF_BYTES:
                    return False
                fh.seek(0)
                return fit_is_complete(fh.read())
            fh.seek(max(0, size - _TAIL_BYTES))
            return xml_is_complete(fh.read())
    except OSError:
        return False
