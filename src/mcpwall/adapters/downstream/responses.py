"""The bytes the data plane's HTTP server writes itself: status lines, the ``date`` header,
chunk frames, and the answers it gives without the app (400, 431, 500, 501)."""

from __future__ import annotations

import time
from email.utils import formatdate
from http import HTTPStatus
from typing import Final

import orjson

_STATUS_LINES: Final = {
    status.value: f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode("ascii")
    for status in HTTPStatus
}
CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
LAST_CHUNK: Final = b"0\r\n\r\n"


def status_line(status: int) -> bytes:
    """``HTTP/1.1 200 OK\\r\\n``; a status without a registered phrase gets none."""
    line = _STATUS_LINES.get(status)
    return line if line is not None else b"HTTP/1.1 %d \r\n" % status


class _DateCache:
    """The ``date`` header line, formatted at most once a second (as uvicorn does)."""

    __slots__ = ("line", "second")

    def __init__(self) -> None:
        self.second = -1
        self.line = b""

    def current(self) -> bytes:
        now = int(time.time())
        if now != self.second:
            self.second = now
            self.line = b"date: " + formatdate(now, usegmt=True).encode("ascii") + b"\r\n"
        return self.line


date_header: Final = _DateCache().current


def chunk(body: bytes) -> bytes:
    """One chunk of a chunked body (not the last: that is :data:`LAST_CHUNK`)."""
    return b"%x\r\n%b\r\n" % (len(body), body)


def error_response(status: int, message: str) -> bytes:
    """A whole response refusing a request the app never sees; the connection closes after
    it. JSON like the app's own refusals, so that an agent reads them the same way."""
    body = orjson.dumps({"error": {"code": status, "message": message}})
    return b"".join((
        status_line(status),
        date_header(),
        b"content-type: application/json\r\n",
        b"content-length: %d\r\n" % len(body),
        b"connection: close\r\n\r\n",
        body,
    ))  # fmt: skip
