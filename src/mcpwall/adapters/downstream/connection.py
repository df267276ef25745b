"""One agent's connection to the data plane: an :class:`asyncio.Protocol` parsing HTTP/1.1
requests with ``httptools`` and running the ASGI app on each (:mod:`.exchange`).

Requests are answered one at a time in the order they came: when a pipelined request's head
arrives while another is being answered, reading stops until that answer is written (as
uvicorn does). Refused before the app sees them: heads over the size or header-count limit
(431), what is not HTTP/1.1 (400, and the connection closes), ``CONNECT`` and protocol
upgrades (501). A connection idle between requests, slow to send a request's head, or whose
request body stops arriving, is closed after its timeout.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, cast
from urllib.parse import unquote

import httptools

from mcpwall.adapters.downstream import responses
from mcpwall.adapters.downstream.exchange import App, Exchange

# Read no more while this much of a request body waits for the app, and resume below this.
HIGH_WATER: Final = 256 * 1024
LOW_WATER: Final = 64 * 1024
_ASGI: Final = {"version": "3.0", "spec_version": "2.3"}


@dataclass(frozen=True, slots=True)
class Limits:
    """How long and how large: timeouts in seconds, sizes in bytes."""

    idle_timeout: float = 5.0  # keep-alive: an open connection with no request (uvicorn's)
    head_timeout: float = 10.0  # from a request's first byte to the end of its head
    body_timeout: float = 30.0  # the longest pause in a request body's arrival
    max_head_bytes: int = 64 * 1024
    max_headers: int = 100
    shutdown_timeout: float = 10.0  # graceful stop: then remaining connections are closed


@dataclass(slots=True)
class Shared:
    """What the connections of one server share."""

    app: App
    limits: Limits
    connections: set[HttpConnection] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    stopping: bool = False
    on_empty: Callable[[], None] | None = None


class _RefusedHeadError(Exception):
    """Raised from a parser callback to stop parsing a request head that is refused: over a
    limit (431, ``_too_large`` says why) or without a knowable body length (400, ``_unframed``)."""


class HttpConnection(asyncio.Protocol):
    """The server side of one connection."""

    def __init__(self, shared: Shared) -> None:
        self._shared = shared
        self._limits = shared.limits
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0  # of the head parsed so far (URL and headers)
        self._raw_head_bytes = 0  # received since the head began, which the parser may hold
        self._in_head = False
        self._expect_continue = False
        self._too_large: str | None = None
        self._unframed: str | None = None
        self._parsing: Exchange | None = None
        self._current: Exchange | None = None
        self._queue: deque[Exchange] = deque()
        self._final: bytes | None = None  # a refusal to write after the answers in flight
        self._read_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_received = 0  # bytes of bodies so far, to tell a stalled one
        self._body_mark = 0
        self._client: tuple[str, int] | None = None
        self._server: tuple[str, int] | None = None
        self.writing_paused = False
        self.closed = False

    @property
    def stopping(self) -> bool:
        return self._shared.stopping

    @property
    def idle(self) -> bool:
        """Between requests: nothing being answered, no head half-received."""
        return self._current is None and not self._in_head

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is not an asyncio.Transport subclass, hence the cast).
        self._transport = cast(asyncio.Transport, transport)
        self._client = _address(transport.get_extra_info("peername"))
        self._server = _address(transport.get_extra_info("sockname"))
        self._shared.connections.add(self)
        self._arm(self._limits.idle_timeout)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(501, self._upgrade_refusal())
            return
        except httptools.HttpParserError as error:
            if self._too_large is not None:
                self._refuse(431, self._too_large)
            elif self._unframed is not None:
                self._refuse(400, self._unframed)
            else:
                self._refuse(400, f"malformed HTTP/1.1 request ({error})")
            return
        if self._in_head:  # the parser holds a partial head: bound it
            self._raw_head_bytes += len(data)
            if self._raw_head_bytes > self._limits.max_head_bytes:
                self._refuse(431, f"request head over {self._limits.max_head_bytes} bytes")
        elif self._parsing is not None and self._body_timer is None:
            self._arm_body()  # a body is on its way (the whole request in one read needs none)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._transport = None
        self._disarm()
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        for exchange in (self._current, self._parsing, *self._queue):
            if exchange is not None:
                exchange.disconnect()
        self._wake_drain()
        shared = self._shared
        shared.connections.discard(self)
        if not shared.connections and shared.on_empty is not None:
            shared.on_empty()

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._wake_drain()

    # -- httptools callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._head_bytes = 0
        self._raw_head_bytes = 0
        self._expect_continue = False
        self._in_head = True
        self._arm(self._limits.head_timeout)

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._count(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        self._headers.append((name, value))
        if name == b"expect" and value.lower() == b"100-continue":
            self._expect_continue = True
        self._count(len(name) + len(value) + 4)
        if len(self._headers) > self._limits.max_headers:
            self._too_large = f"more than {self._limits.max_headers} request headers"
            raise _RefusedHeadError

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        codings = b",".join(v for n, v in self._headers if n == b"transfer-encoding")
        if codings and codings.rsplit(b",", 1)[-1].strip().lower() != b"chunked":
            # RFC 9112 §6.3: without chunked last, a request body's length can't be known.
            self._unframed = "Transfer-Encoding must end with chunked in a request"
            raise _RefusedHeadError
        parser = self._parser
        if parser.should_upgrade():
            return  # refused when the parser raises HttpParserUpgrade, right after this
        exchange = Exchange(
            self,
            self._scope(parser),
            keep_alive=parser.should_keep_alive(),
            expect_continue=self._expect_continue,
        )
        self._parsing = exchange
        if self._current is None:
            self._start(exchange)
        else:
            self._queue.append(exchange)
            self._pause_reading()

    def on_body(self, body: bytes) -> None:
        self._body_received += len(body)
        exchange = self._parsing
        if exchange is not None:
            exchange.feed_body(body)
            if exchange.buffered > HIGH_WATER:
                self._pause_reading()

    def on_message_complete(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        exchange = self._parsing
        if exchange is not None:
            exchange.end_body()
            self._parsing = None

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self._limits.max_head_bytes:
            self._too_large = f"request head over {self._limits.max_head_bytes} bytes"
            raise _RefusedHeadError

    def _scope(self, parser: httptools.HttpRequestParser) -> dict[str, object]:
        url = httptools.parse_url(self._url)
        raw_path: bytes = url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = unquote(path)
        return {
            "type": "http",
            "asgi": _ASGI,
            "http_version": parser.get_http_version(),
            "server": self._server,
            "client": self._client,
            "scheme": "http",
            "method": parser.get_method().decode("ascii"),
            "root_path": "",
            "path": path,
            "raw_path": raw_path,
            "query_string": url.query or b"",
            "headers": self._headers,
        }

    def _upgrade_refusal(self) -> str:
        if self._parser.get_method() == b"CONNECT":
            return "CONNECT is not supported: this is not a proxy"
        upgrade = next((value for name, value in self._headers if name == b"upgrade"), b"")
        protocol = upgrade.decode("latin-1")
        return f"upgrading to {protocol!r} is not supported: the data plane speaks HTTP/1.1"

    # -- the exchanges' link (see exchange.Link) ----------------------------------------------

    def write(self, data: bytes) -> None:
        if self._transport is not None:
            self._transport.write(data)

    async def drain(self) -> None:
        while self.writing_paused and not self.closed:
            self._drain_waiter = self._loop.create_future()
            try:
                await self._drain_waiter
            finally:
                self._drain_waiter = None

    def body_taken(self) -> None:
        self._maybe_resume_reading()

    def response_done(self, exchange: Exchange) -> None:
        if exchange is not self._current:
            return
        self._current = None
        if self.closed:
            return  # the client is gone: what it pipelined will never be answered
        if not exchange.keep_alive or self._shared.stopping:
            self.close()
        elif self._queue:
            self._start(self._queue.popleft())
        elif self._final is not None:
            self.write(self._final)
            self.close()
        else:
            self._maybe_resume_reading()
            if not self._in_head:
                self._arm(self._limits.idle_timeout)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    # -- used by the server -------------------------------------------------------------------

    def shutdown(self) -> None:
        """The server is stopping: close now if idle, else after the answer in flight."""
        if self.idle:
            self.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # -- internals ----------------------------------------------------------------------------

    def _start(self, exchange: Exchange) -> None:
        self._current = exchange
        self._maybe_resume_reading()
        task = self._loop.create_task(exchange.run(self._shared.app))
        tasks = self._shared.tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` after what is in flight, read nothing more, then close."""
        self._final = responses.error_response(status, message)
        self._in_head = False
        self._disarm()
        self._pause_reading()
        if self._current is None:
            self.write(self._final)
            self.close()

    def _pause_reading(self) -> None:
        if not self._read_paused and self._transport is not None:
            self._read_paused = True
            self._transport.pause_reading()

    def _maybe_resume_reading(self) -> None:
        if not self._read_paused or self._transport is None or self._final is not None:
            return
        if self._queue or (self._current is not None and self._current.buffered > LOW_WATER):
            return
        self._read_paused = False
        self._transport.resume_reading()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._timer = self._loop.call_later(seconds, self._timed_out)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm_body(self) -> None:
        self._body_mark = self._body_received
        self._body_timer = self._loop.call_later(self._limits.body_timeout, self._body_check)

    def _body_check(self) -> None:
        """A body's timeout passed: close if nothing of it came meanwhile (a client trickling
        or holding a body would otherwise hold its connection and request for ever). While
        reading is paused the wait is the app's, not the client's: keep waiting."""
        self._body_timer = None
        if self._parsing is None or self.closed:
            return
        if self._body_received != self._body_mark or self._read_paused:
            self._arm_body()
            return
        self.close()  # the app's receive() then says http.disconnect

    def _timed_out(self) -> None:
        """Idle too long between requests, or too slow sending a head: close."""
        self._timer = None
        if self._current is None:
            self.close()

    def _wake_drain(self) -> None:
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _address(value: object) -> tuple[str, int] | None:
    if isinstance(value, tuple) and len(value) >= 2:
        return (str(value[0]), int(value[1]))
    return None
