"""One request and its response on a server connection: the ASGI ``receive`` and ``send``.

The connection (:mod:`.connection`) parses the request and feeds its body in; the app reads
it with ``receive()`` and answers with ``send()``. The response head is held back until the
first body chunk so that both go out in one ``transport.write`` (one syscall per plain
answer, where uvicorn makes two); a streamed response's head goes out on the next turn of the
loop if no body follows at once, so an SSE client sees its stream open before the first event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final, Protocol

from mcpwall.adapters.downstream import responses

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
App = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
               Awaitable[None]]  # fmt: skip

_DISCONNECT: Final = {"type": "http.disconnect"}
# The keys of an ``http.disconnect`` message saying why the server cut the request short (a
# body past its deadline, or malformed), and the status it answered, where it did; absent when
# the client went away.
CUT_SHORT: Final = "mcpwall.cut_short"
CUT_SHORT_STATUS: Final = "mcpwall.cut_short_status"
_NO_BODY_STATUSES: Final = frozenset({204, 304})


class Link(Protocol):
    """What an exchange needs of its connection."""

    writing_paused: bool

    @property
    def stopping(self) -> bool:
        """Whether the server is shutting down (no more keep-alive)."""

    def write(self, data: bytes) -> None:
        """Write to the socket."""

    async def drain(self) -> None:
        """Return once the socket takes writes again (or is gone)."""

    def body_wanted(self) -> None:
        """The app asks for the request body: read it (not before: see the connection)."""

    def body_taken(self) -> None:
        """The app took the buffered body: reading may resume."""

    def response_done(self, exchange: Exchange) -> None:
        """The response was written whole (or abandoned): on to the next request."""

    def close(self) -> None:
        """Close the connection once what was written is flushed."""


class Exchange:
    """One request/response cycle; ``scope``, :meth:`receive` and :meth:`send` are its ASGI
    side, the ``feed_*``/``end_body``/``disconnect`` methods the connection's."""

    __slots__ = (
        "_body_complete",
        "_body_delivered",
        "_chunked",
        "_chunks",
        "_continue",
        "_cut_short",
        "_cut_status",
        "_head",
        "_head_only",
        "_link",
        "_no_body",
        "_waiter",
        "body_wanted",
        "buffered",
        "disconnected",
        "keep_alive",
        "response_complete",
        "scope",
        "started",
    )

    def __init__(
        self, link: Link, scope: Scope, *, keep_alive: bool, expect_continue: bool
    ) -> None:
        self._link = link
        self.scope = scope
        self.keep_alive = keep_alive
        self._continue = expect_continue
        self._head_only = scope["method"] == "HEAD"
        self._chunks: list[bytes] = []
        self.buffered = 0
        self.body_wanted = False  # whether the app has asked for the body yet
        self._body_complete = False
        self._body_delivered = False
        self._waiter: asyncio.Future[None] | None = None
        self.disconnected = False
        self._cut_short: str | None = None
        self._cut_status = 408
        self.started = False
        self.response_complete = False
        self._head: bytes | None = None
        self._chunked = False
        self._no_body = False

    # -- fed by the connection ----------------------------------------------------------------

    def feed_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self.buffered += len(body)
        self._wake()

    def end_body(self) -> None:
        self._body_complete = True
        self._wake()

    def disconnect(self, cut_short: str | None = None, status: int = 408) -> None:
        """The client is gone, or, ``cut_short`` saying why, the server gave up on it and
        answered ``status``."""
        self.disconnected = True
        self._cut_short = cut_short
        self._cut_status = status
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the app's side -----------------------------------------------------------------------

    async def run(self, app: App) -> None:
        """Run the app on this exchange; answer for it if it fails or leaves the response
        unfinished. Logged without headers or body: tokens travel in headers."""
        try:
            await app(self.scope, self.receive, self.send)
        except Exception:
            logger.exception("error answering %s %s", self.scope["method"], self.scope["path"])
        else:
            if self.response_complete or self.disconnected:
                return
            logger.error(
                "the app returned without completing its response to %s %s",
                self.scope["method"],
                self.scope["path"],
            )
        self._abandon()

    async def receive(self) -> Message:
        """The next ``http.request`` message; ``http.disconnect`` once the body was read and
        the client is gone or the response is complete."""
        if not self.body_wanted:
            self.body_wanted = True
            if not self._body_complete:
                if self._continue and not self.started:
                    self._link.write(responses.CONTINUE)
                self._link.body_wanted()
        while not (
            self._chunks
            or (self._body_complete and not self._body_delivered)
            or self.disconnected
            or self.response_complete
        ):
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self.disconnected or self.response_complete:
            message: Message = dict(_DISCONNECT)
            if self._cut_short is not None:
                message[CUT_SHORT] = self._cut_short
                message[CUT_SHORT_STATUS] = self._cut_status
            return message
        body = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self.buffered = 0
        self._link.body_taken()
        more = not self._body_complete
        self._body_delivered = not more
        return {"type": "http.request", "body": body, "more_body": more}

    async def send(self, message: Message) -> None:
        """``http.response.start`` then ``http.response.body`` messages."""
        kind = message["type"]
        if kind == "http.response.start":
            if self.started:
                raise RuntimeError("the response was already started")
            # Started once the head is good: a head refused (a header that would split the
            # response) leaves nothing sent, so the client gets a 500 instead.
            self._head = self._encode_head(message["status"], message.get("headers", ()))
            self.started = True
            if self._chunked:
                asyncio.get_running_loop().call_soon(self._flush_head)
            return
        if kind != "http.response.body":
            raise RuntimeError(f"unexpected ASGI message {kind!r}")
        if not self.started or self.response_complete:
            raise RuntimeError("http.response.body outside a response")
        if self._link.writing_paused and not self.disconnected:
            await self._link.drain()
        more = bool(message.get("more_body", False))
        self._write_body(message.get("body", b""), more=more)
        if not more:
            self._complete()

    # -- writing ------------------------------------------------------------------------------

    def _encode_head(self, status: int, headers: Any) -> bytes:
        if self._link.stopping or not self._body_complete:
            self.keep_alive = False  # an unread body would be taken for the next request
        parts = [responses.status_line(status), responses.date_header()]
        lines = 3  # the status line, date and the empty line that ends the head
        has_length = False
        for name, value in headers:
            lowered = name.lower()
            if lowered == b"content-length":
                has_length = True
            elif lowered == b"connection" and value.lower() == b"close":
                self.keep_alive = False
                continue
            elif lowered == b"transfer-encoding":
                continue  # the framing is the server's
            parts += (name, b": ", value, b"\r\n")
            lines += 1
        self._no_body = self._head_only or status in _NO_BODY_STATUSES or status < 200
        http_10 = self.scope["http_version"] == "1.0"
        if not (has_length or self._no_body):
            if http_10:
                self.keep_alive = False  # the end of the connection ends the body
            else:
                self._chunked = True
                parts.append(b"transfer-encoding: chunked\r\n")
                lines += 1
        if not self.keep_alive:
            parts.append(b"connection: close\r\n")
            lines += 1
        elif http_10:
            parts.append(b"connection: keep-alive\r\n")
            lines += 1
        parts.append(b"\r\n")
        head = b"".join(parts)
        # Each of the head's lines ends with the one CRLF put there: any other CR or LF came
        # from a header's name or value, and would split the response. Counted once on the
        # whole head (``b"\r" in value``, per header, costs a TypeError raised and caught
        # inside CPython each time).
        if head.count(b"\r") != lines or head.count(b"\n") != lines:
            raise RuntimeError(f"invalid characters in response header {_bad_name(headers)!r}")
        return head

    def _flush_head(self) -> None:
        head = self._head
        if head is not None and not self.disconnected:
            self._head = None
            self._link.write(head)

    def _write_body(self, body: bytes, *, more: bool) -> None:
        if self.disconnected:
            return
        if self._no_body:
            data = b""
        elif self._chunked:
            data = responses.chunk(body) if body else b""
            if not more:
                data += responses.LAST_CHUNK
        else:
            data = body
        head = self._head
        if head is not None:
            self._head = None
            data = head + data
        if data:
            self._link.write(data)

    def _complete(self) -> None:
        self.response_complete = True
        self._wake()
        self._link.response_done(self)

    def _abandon(self) -> None:
        """The app is done but the response is not: 500 if nothing was sent, else close."""
        if self.disconnected or self.response_complete:
            return
        self.keep_alive = False
        if not self.started:
            self.started = True
            self._link.write(responses.error_response(500, "internal error in the gateway"))
            self._complete()
            return
        self._flush_head()
        self.response_complete = True
        self._wake()
        self._link.close()


def _bad_name(headers: Any) -> bytes:
    """The name of the first header with a CR or LF in its name or value."""
    for name, value in headers:
        if any(character in text for text in (name, value) for character in (b"\r", b"\n")):
            return bytes(name)
    return b""
