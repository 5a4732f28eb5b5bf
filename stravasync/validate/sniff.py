"""Recognise content, whatever the file is called: gzip, FIT or XML.

Also owns the two byte-level steps before any parsing: inflating gzip with a hard
cap on the inflated size (a gzip bomb is refused after reading at most ``limit``
bytes of output, never inflated in full) and the XML prelude repairs Strava needs
(a UTF-8 byte order mark or whitespace before ``<?xml``).
"""

from __future__ import annotations

import zlib
from typing import Literal

__all__ = [
    "DEFAULT_MAX_BYTES",
    "GZIP_MAGIC",
    "ContentError",
    "gunzip_capped",
    "is_fit",
    "is_gzip",
    "sniff",
    "strip_xml_prelude",
]

GZIP_MAGIC = b"\x1f\x8b"
#: Largest (inflated) content we look at: real workouts are far smaller (the largest
#: FIT/TCX in our corpus is 8 MB), and it bounds memory for hostile input.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_XML_SPACE = b" \t\r\n"
_CHUNK = 256 * 1024


class ContentError(Exception):
    """The bytes cannot be turned into content to judge; ``str()`` is the reason."""


def is_gzip(data: bytes) -> bool:
    """True when ``data`` starts with the gzip magic number."""
    return data[:2] == GZIP_MAGIC


def is_fit(data: bytes) -> bool:
    """True when ``data`` carries a FIT header: a size byte >= 12 and ``.FIT`` at byte 8."""
    return len(data) >= 12 and data[8:12] == b".FIT" and data[0] >= 12


def gunzip_capped(data: bytes, *, limit: int = DEFAULT_MAX_BYTES) -> bytes:
    """Inflate gzip ``data`` (every member), refusing output over ``limit`` bytes."""
    out = bytearray()
    rest = data
    members = 0
    while rest:
        if members and not rest.strip(b"\x00"):
            break  # zero padding after the last member, as some tools write
        if rest[:2] != GZIP_MAGIC:
            raise ContentError("gzip data is followed by bytes that are not gzip")
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        pos = 0
        try:
            while not inflater.eof:
                if inflater.unconsumed_tail:
                    feed = inflater.unconsumed_tail
                elif pos < len(rest):
                    feed = rest[pos : pos + _CHUNK]
                    pos += len(feed)
                else:
                    raise ContentError("gzip data is truncated (the stream ends early)")
                # max_length caps what one call may inflate: a bomb stops at limit + 1.
                out += inflater.decompress(feed, limit + 1 - len(out))
                if len(out) > limit:
                    raise ContentError(
                        f"gzip content inflates beyond {limit} bytes: "
                        "refused (too large, or a gzip bomb)"
                    )
        except zlib.error as exc:
            raise ContentError(f"corrupt gzip data: {exc}") from exc
        rest = inflater.unused_data + rest[pos:]
        members += 1
    return bytes(out)


def sniff(data: bytes) -> Literal["fit", "xml"]:
    """Say whether inflated ``data`` is FIT or XML; raise ContentError otherwise."""
    if not data:
        raise ContentError("empty file (0 bytes)")
    if is_fit(data):
        return "fit"
    if data.startswith(_UTF16_BOMS):
        raise ContentError("UTF-16 encoded XML: Strava reads GPX/TCX as UTF-8 only")
    head = data[:4096]
    if head.startswith(_UTF8_BOM):
        head = head[len(_UTF8_BOM) :]
    head = head.lstrip(_XML_SPACE)
    if head.startswith(b"<"):
        return "xml"
    if is_gzip(data):
        raise ContentError("gzip inside gzip: unpack the file once before uploading")
    if len(data) >= 12 and data[8:12] != b".FIT" and data[:1] in (b"\x0c", b"\x0e"):
        raise ContentError("not a FIT file: no .FIT signature at byte 8")
    raise ContentError(f"not a FIT, GPX or TCX file ({len(data)} bytes of unrecognised content)")


def strip_xml_prelude(data: bytes) -> tuple[bytes, tuple[str, ...]]:
    """Drop a UTF-8 BOM and whitespace before the first ``<``; name each fix made."""
    fixes: list[str] = []
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
        fixes.append("byte order mark")
    stripped = data.lstrip(_XML_SPACE)
    if len(stripped) != len(data):
        fixes.append("leading whitespace")
    return stripped, tuple(fixes)
