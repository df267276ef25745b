"""One HTTP/1.1 client connection: an :class:`asyncio.Protocol` with an ``httptools`` parser.

The gateway's upstream client (:mod:`.httpclient`) is built on this rather than on a general
client library because the allowed-call path has a latency budget of 0.3 ms (DESIGN §7) and
a general client spends a good part of it on itself: ``bench/relay.py`` measures a bare relay
with this client against the same with aiohttp (50–90 µs less per call on the development
machine). ``httptools`` (the parser
uvicorn uses, llhttp underneath) does the parsing — status line, headers, chunked and
length-delimited bodies — so what is left here is the bookkeeping around it.

A connection carries one exchange at a time. Its :class:`Response` hands the body over in
the chunks the network delivers, pausing the socket while too much is buffered, so a long
SSE stream costs a bounded amount of memory however slowly it is read.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Final, cast

import httptools

# Read no more from the socket while this much body is waiting for its reader...
HIGH_WATER: Final = 256 * 1024
# ...and start again once it is down to this.
LOW_WATER: Final = 64 * 1024
# The status line and headers of one response may not take more than this.
MAX_HEAD_BYTES: Final = 64 * 1024


class HttpClientError(Exception):
    """The connection failed or the peer's answer was not HTTP we can read.

    The message says what happened, for an operator; :mod:`.httpio` turns it into an
    :class:`~mcpwall.core.errors.UpstreamError`.
    """


class ConnectError(HttpClientError):
    """No connection could be made. ``os_error`` is the reason, or None on a timeout."""

    def __init__(self, message: str, os_error: OSError | None) -> None:
        super().__init__(message)
        self.os_error = os_error


class Headers:
    """Response headers, looked up without regard to case; a repeated header's values are
    joined with ``", "`` as RFC 9110 §5.3 allows."""

    __slots__ = ("_values",)

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        values: dict[str, str] = {}
        for name, value in pairs:
            previous = values.get(name)
            values[name] = value if previous is None else f"{previous}, {value}"
        self._values = values

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._values.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values


_NO_HEADERS = Headers([])  # until the head arrives (never changed: Headers has no setter)


class Response:
    """The answer to one request: status and headers at once, the body as it arrives.

    Read the body with :meth:`read` or :meth:`chunks`; end with :meth:`release` (the
    connection goes back to its pool when the body was read to the end and both sides keep
    it alive) or :meth:`close` (the connection is dropped: how a stream is abandoned).
    """

    __slots__ = (
        "_buffered",
        "_chunks",
        "_complete",
        "_connection",
        "_error",
        "_waiter",
        "headers",
        "reason",
        "status",
    )

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._complete = False
        self._error: HttpClientError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.status = 0
        self.reason = ""
        self.headers = _NO_HEADERS

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-case ("" when there is none)."""
        value = self.headers.get("content-type") or ""
        return value.partition(";")[0].strip().lower()

    async def read(self, limit: int) -> bytes:
        """The rest of the body, or its first ``limit + 1`` bytes if it is longer than
        ``limit`` (so that the caller can tell, without buffering the whole of it)."""
        if self._complete and self._buffered <= limit:  # all here (a small JSON answer)
            body = b"".join(self._chunks)
            self._chunks.clear()
            self._buffered = 0
            self._connection.resume()
            return body
        parts: list[bytes] = []
        size = 0
        async for chunk in self.chunks():
            parts.append(chunk)
            size += len(chunk)
            if size > limit:
                break
        return b"".join(parts)[: limit + 1]

    def chunks(self) -> _Chunks:
        """The body's chunks as they arrive (an async iterator)."""
        return _Chunks(self)

    def release(self) -> None:
        """Done with this response: keep the connection if it is reusable, else close it."""
        self._connection.finish(self)

    def close(self) -> None:
        """Drop the connection, mid-body or not."""
        self._connection.abort()

    # -- fed by the connection ---------------------------------------------------------------

    def _feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        if self._buffered > HIGH_WATER:
            self._connection.pause()
        self._wake()

    def _finish(self) -> None:
        self._complete = True
        self._wake()

    def _fail(self, error: HttpClientError) -> None:
        self._error = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _next(self) -> bytes | None:
        """The next chunk, or None at the end of the body."""
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                if self._buffered <= LOW_WATER:
                    self._connection.resume()
                return chunk
            if self._complete:
                return None
            if self._error is not None:
                raise self._error
            self._waiter = self._connection.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None


class _Chunks:
    """Async iterator over a :class:`Response`'s body."""

    __slots__ = ("_response",)

    def __init__(self, response: Response) -> None:
        self._response = response

    def __aiter__(self) -> _Chunks:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self._response._next()
        if chunk is None:
            raise StopAsyncIteration
        return chunk


class Connection(asyncio.Protocol):
    """One keep-alive connection to an origin; :meth:`exchange` sends a request on it.

    Opened by :class:`~mcpwall.adapters.upstream.httpclient.HttpClient`, which also decides
    what happens to it after each response (``on_done``).
    """

    def __init__(self) -> None:
        # Made by the loop's create_connection; kept, as asyncio.get_running_loop() costs a
        # getpid() system call on Python 3.11, and each exchange needs the loop.
        self.loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._response: Response | None = None
        self._head: asyncio.Future[None] | None = None
        self._header_pairs: list[tuple[str, str]] = []
        self._head_bytes = 0
        self._reusable = False
        self._interim = False
        self._paused = False
        self.lost = False
        self.origin: tuple[str, str, int] = ("", "", 0)
        self.idle_since = 0.0
        self.on_done: Callable[[Connection, bool], None] | None = None

    # -- used by the client -------------------------------------------------------------------

    @property
    def idle_and_open(self) -> bool:
        """Whether a new exchange may start on this connection now."""
        return self._response is None and not self.lost and self._transport is not None

    async def exchange(self, request: bytes) -> Response:
        """Send ``request`` (head and body, ready to write) and wait for the response head."""
        assert self._transport is not None
        assert self._response is None
        response = Response(self)
        self._response = response
        self._parser = httptools.HttpResponseParser(self)
        self._header_pairs = []
        self._head_bytes = 0
        self._reusable = False
        self._interim = False
        self._head = self.loop.create_future()
        self._transport.write(request)
        try:
            await self._head
        except BaseException:
            self.abort()
            raise
        return response

    def finish(self, response: Response) -> None:
        """The caller is done with ``response``: reuse the connection or drop it."""
        if response is not self._response:
            return  # already finished (released twice, or closed first)
        if not (response._complete and self._reusable and not self.lost):
            self.abort()
            return
        self._response = None
        self._resume_if_paused()
        self._done(keep=True)

    def abort(self) -> None:
        """Close the connection now; a response being read ends with an error."""
        if self._transport is not None:
            self._transport.abort()
        self._lose(HttpClientError("the connection was closed by the gateway"))

    def pause(self) -> None:
        if not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    def resume(self) -> None:
        self._resume_if_paused()

    def _resume_if_paused(self) -> None:
        if self._paused and self._transport is not None and not self.lost:
            self._paused = False
            self._transport.resume_reading()

    def _done(self, *, keep: bool) -> None:
        if self.on_done is not None:
            self.on_done(self, keep)

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is not an asyncio.Transport subclass, hence the cast).
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None or self._response is None:
            # Bytes when no request is out: the peer is not speaking HTTP to us.
            self.abort()
            return
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._protocol_error("it switched protocols, which was not asked for")
            return
        except httptools.HttpParserError as error:
            self._protocol_error(f"its response is not valid HTTP/1.1 ({error})")
            return
        head = self._head
        if head is not None and not head.done():
            # Still no end of the head: the parser is buffering it, so bound it.
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._protocol_error(f"its response head is over {MAX_HEAD_BYTES} bytes")

    def eof_received(self) -> bool | None:
        return None  # close the transport: a half-closed upstream is a closed one

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        reason = "the upstream closed the connection"
        if exc is not None:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            reason = f"the connection broke ({why or type(exc).__name__})"
        self._lose(HttpClientError(reason), at_eof=exc is None)

    # -- httptools callbacks ------------------------------------------------------------------

    def on_status(self, status: bytes) -> None:
        assert self._response is not None
        self._response.reason += status.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_pairs.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        response, parser = self._response, self._parser
        assert response is not None
        assert parser is not None
        status = parser.get_status_code()
        if status == 101:
            self._protocol_error("it switched protocols, which was not asked for")
            return
        if status < 200:  # 100 Continue, 103 Early Hints: the real answer follows
            self._interim = True
            self._header_pairs = []
            response.reason = ""
            return
        response.status = status
        response.headers = Headers(self._header_pairs)
        if self._head is not None and not self._head.done():
            self._head.set_result(None)

    def on_body(self, body: bytes) -> None:
        assert self._response is not None
        self._response._feed(body)

    def on_message_complete(self) -> None:
        response, parser = self._response, self._parser
        assert response is not None
        assert parser is not None
        if self._interim:
            self._interim = False
            return
        self._reusable = parser.should_keep_alive()
        response._finish()

    # -- ending -------------------------------------------------------------------------------

    def _protocol_error(self, reason: str) -> None:
        if self._transport is not None:
            self._transport.abort()
        self._lose(HttpClientError(reason))

    def _lose(self, error: HttpClientError, *, at_eof: bool = False) -> None:
        first = not self.lost
        self.lost = True
        response, head = self._response, self._head
        if head is not None and not head.done():
            head.set_exception(error)
        elif response is not None and not response._complete:
            if at_eof and self._ends_at_eof(response):
                response._finish()  # a body delimited by the connection's end: complete
            else:
                response._fail(HttpClientError(f"{error} before the end of the response"))
        if first:
            self._done(keep=False)

    @staticmethod
    def _ends_at_eof(response: Response) -> bool:
        headers = response.headers
        return (
            "content-length" not in headers
            and "chunked" not in (headers.get("transfer-encoding") or "").lower()
        )
