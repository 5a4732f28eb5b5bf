"""Request-body parsing: multipart/form-data, url-encoded forms and JSON.

Hand-written multipart splitting (the `cgi` module is gone from Python 3.13), with
each part's headers read by `email.parser.BytesHeaderParser`. Binary file content is
kept byte for byte.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import HTTP
from urllib.parse import parse_qsl


class FormError(ValueError):
    """The body cannot be parsed as its Content-Type says."""


@dataclass(frozen=True)
class FilePart:
    """One uploaded file."""

    filename: str | None
    """The filename the client gave, if any."""
    data: bytes
    """The file's bytes, exactly as sent."""


@dataclass(frozen=True)
class Form:
    """Text fields and files of a request body."""

    fields: dict[str, str] = field(default_factory=dict)
    """Text fields; the last value wins for a repeated name."""
    files: dict[str, FilePart] = field(default_factory=dict)
    """File parts by field name (multipart parts carrying a filename)."""
    raw: dict[str, bytes] = field(default_factory=dict)
    """Every multipart part's bytes by field name, filename or not."""


def parse_content_type(value: str | None) -> tuple[str, dict[str, str]]:
    """Split a Content-Type header into a lower-case media type and its parameters."""
    message = Message()
    message["content-type"] = value or "application/octet-stream"
    params = {key.lower(): val for key, val in message.get_params(failobj=[])[1:]}
    return message.get_content_type(), params


def parse_body(body: bytes, content_type: str | None) -> Form:
    """Parse `body` according to `content_type`; an empty body is an empty form."""
    media, params = parse_content_type(content_type)
    if not body:
        return Form()
    if media == "multipart/form-data":
        boundary = params.get("boundary")
        if not boundary:
            raise FormError("multipart body without a boundary")
        return parse_multipart(body, boundary)
    if media == "application/json":
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise FormError("body is not valid JSON") from exc
        if not isinstance(data, dict):
            raise FormError("JSON body is not an object")
        return Form(fields={str(k): _text(v) for k, v in data.items() if v is not None})
    text = body.decode("utf-8", errors="replace")
    return Form(fields=dict(parse_qsl(text, keep_blank_values=True)))


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return value if isinstance(value, str) else json.dumps(value)


def parse_multipart(body: bytes, boundary: str) -> Form:
    """Split a multipart/form-data `body` delimited by `boundary`."""
    delimiter = b"--" + boundary.encode("latin-1")
    start = body.find(delimiter)
    if start < 0:
        raise FormError("multipart boundary not found")
    fields: dict[str, str] = {}
    files: dict[str, FilePart] = {}
    raw: dict[str, bytes] = {}
    position = start + len(delimiter)
    while True:
        if body[position : position + 2] == b"--":
            break  # closing delimiter
        line_end = body.find(b"\r\n", position)
        if line_end < 0:
            raise FormError("multipart body ends inside a delimiter line")
        head_end = body.find(b"\r\n\r\n", line_end)
        if head_end < 0:
            raise FormError("multipart part without a header end")
        if head_end == line_end:  # a part with no headers at all
            headers = Message()
        else:
            headers = BytesHeaderParser(policy=HTTP).parsebytes(body[line_end + 2 : head_end])
        content_start = head_end + 4
        next_delimiter = body.find(b"\r\n" + delimiter, content_start)
        if next_delimiter < 0:
            raise FormError("multipart part without a closing delimiter")
        content = body[content_start:next_delimiter]
        _store_part(headers, content, fields=fields, files=files, raw=raw)
        position = next_delimiter + 2 + len(delimiter)
    return Form(fields=fields, files=files, raw=raw)


def _store_part(
    headers: Message,
    content: bytes,
    *,
    fields: dict[str, str],
    files: dict[str, FilePart],
    raw: dict[str, bytes],
) -> None:
    name = headers.get_param("name", header="content-disposition")
    if not isinstance(name, str):
        return  # not a form-data part we can address: ignore it
    raw[name] = content
    filename = headers.get_filename()
    if filename is not None:
        files[name] = FilePart(filename=filename, data=content)
        return
    charset = headers.get_content_charset() or "utf-8"
    try:
        fields[name] = content.decode(charset, errors="replace")
    except LookupError:
        fields[name] = content.decode("utf-8", errors="replace")
