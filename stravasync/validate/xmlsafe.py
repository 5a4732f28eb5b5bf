"""Reading untrusted XML safely, in one streaming pass with bounded memory.

defusedxml's ``iterparse`` refuses a document type declaration outright
(``forbid_dtd``): that stops billion-laughs entity expansion and external entities
(``file://``, ``http://``) before any is declared, so nothing is expanded, read or
fetched. Workout files never need a DTD. Each element is detached from its parent
once its ``end`` event has been handled, so a 50 MB track holds one point at a time.

``guard_prolog`` runs the same checks over a document's text only as far as its
root element: enough before handing the text to a parser that builds the whole tree
(gpxpy), since a DTD, and with it any entity declaration, can only stand before the
root element.

Also the ``...ZZ`` timestamp repair, a byte-level fix applied before parsing.
"""

from __future__ import annotations

import io
import re
from collections.abc import Generator
from typing import Literal
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden
from defusedxml.ElementTree import iterparse

__all__ = ["XmlRefused", "fix_double_z", "guard_prolog", "local", "walk"]

Event = Literal["start", "end"]

_DOUBLE_Z = re.compile(rb"(?<=\d)ZZ(?=[<\"'\s])")


class XmlRefused(Exception):
    """The XML is malformed or hostile; ``str()`` is the reason for the verdict."""


def fix_double_z(data: bytes) -> tuple[bytes, bool]:
    """Turn ``2024-05-01T07:30:00ZZ`` into ``...Z`` (Strava refuses the doubled zone)."""
    if b"ZZ" not in data:
        return data, False
    fixed, count = _DOUBLE_Z.subn(b"Z", data)
    return fixed, count > 0


def local(tag: str) -> str:
    """An element's name without its namespace."""
    return tag.rpartition("}")[2]


def guard_prolog(text: str) -> None:
    """Check ``text`` up to its root element: no DTD, no entity declaration.

    Raises XmlRefused for a DTD or a malformed prolog; the rest is not read.
    """
    events = _walk(io.StringIO(text))
    try:
        next(events, None)
    finally:
        events.close()


def walk(data: bytes) -> Generator[tuple[Event, Element, int], None, None]:
    """Yield ``(event, element, depth)``; an ended element is dropped after its turn.

    Raises XmlRefused for malformed or hostile XML.
    """
    return _walk(io.BytesIO(data))


def _walk(source: io.BytesIO | io.StringIO) -> Generator[tuple[Event, Element, int], None, None]:
    stack: list[Element] = []
    try:
        for event, elem in iterparse(
            source,
            events=("start", "end"),
            forbid_dtd=True,
            forbid_entities=True,
            forbid_external=True,
        ):
            if event == "start":
                stack.append(elem)
                yield "start", elem, len(stack)
            else:
                yield "end", elem, len(stack)
                stack.pop()
                if stack:
                    # Children are handled and dropped in order, so this is the first child: O(1).
                    stack[-1].remove(elem)
    except DTDForbidden as exc:
        raise XmlRefused(
            "XML document type declaration (DTD) refused: workout files never carry one, "
            "and DTDs allow entity-expansion and external-entity attacks"
        ) from exc
    except EntitiesForbidden as exc:
        raise XmlRefused("XML entity declaration refused (entity expansion)") from exc
    except DefusedXmlException as exc:
        raise XmlRefused(f"XML refused: {exc}") from exc
    except ParseError as exc:
        raise XmlRefused(f"malformed XML: {exc}") from exc
