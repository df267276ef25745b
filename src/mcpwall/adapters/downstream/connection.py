"""One agent's connection to the data plane: an :class:`asyncio.Protocol` parsing HTTP/1.1
requests with ``httptools`` and running the ASGI app on each (:mod:`.exchange`).

Requests are answered one at a time in the order they came: when a pipelined request's head
arrives while another is being answered, reading stops until that answer is written (as
uvicorn does). Refused before the app sees them, and the connection then closed: what is not
HTTP/1.1 (400: ``httptools`` is strict about framing — one ``Content-Length`` or
``Transfer-Encoding: chunked``, never both — line endings, and characters in names, values
and chunk sizes), a request without exactly one ``Host`` (400, RFC 9112 §3.2), a request
target other than a path or an absolute URL (400), a transfer coding other than ``chunked``
(501; 400 when ``chunked`` is not last, or on HTTP/1.0, whose framing it would make faulty),
an HTTP version other than 1.0 and 1.1 (505), heads over the size or header-count limit (414
for the request line, else 431), ``CONNECT`` and protocol upgrades (501), and connections past
the caps of :mod:`.capacity` (503). An absolute-form target's authority stands for ``Host``
(RFC 9112 §3.2.2), so that the app's host checks see the host the request names.

A request whose body turns out malformed (a bad chunk size or extension), or whose chunked
framing grows past ``max_chunk_framing`` beyond twice its body (a chunk extension a megabyte
long, or a body sent a byte per chunk: the parser's work, not the body, is then what grows),
is cut short: the app is told (:data:`~.exchange.CUT_SHORT`), the client gets 400 and the
connection closes. The gateway's own body limit bounds the rest.

What a client can hold is bounded in time by deadlines, not by pauses between bytes, so a
client trickling its bytes cannot stretch them: a connection is closed when it stays idle
between requests past ``idle_timeout``, when a request's head has not arrived whole
``head_timeout`` after its first byte, or when its body has not arrived whole
``body_timeout`` after the app asked for it (408). A request body is read only once the app
asks for it (``receive()``), so a request the app refuses from its head alone (the gateway's
401) has no more of its body read than came with the head; the answer is then sent, the
connection half-closed and what the client still sends dropped for up to ``linger_timeout``
before it closes, so that the client reads the answer rather than a reset.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, cast
from urllib.parse import unquote

import httptools
from httptools.parser.url_parser import URL

from mcpwall.adapters.downstream import responses
from mcpwall.adapters.downstream.capacity import VOUCH, Capacity
from mcpwall.adapters.downstream.exchange import App, Exchange

# Read no more while this much of a request body waits for the app, and resume below this.
HIGH_WATER: Final = 256 * 1024
LOW_WATER: Final = 64 * 1024
_ASGI: Final = {"version": "3.0", "spec_version": "2.3"}
# A timer may fire this much before its deadline (event loops count timers in milliseconds):
# that is due, rather than set again for a fraction of a millisecond.
TIMER_SLACK: Final = 0.001


@dataclass(frozen=True, slots=True)
class Limits:
    """How long, how large and how many: timeouts in seconds, sizes in bytes. Each timeout is
    a deadline from the moment named, however the bytes arrive."""

    idle_timeout: float = 5.0  # keep-alive: an open connection with no request (uvicorn's)
    head_timeout: float = 10.0  # from a request's first byte to the end of its head
    body_timeout: float = 30.0  # from the app asking for a request's body to its end
    linger_timeout: float = 2.0  # reading what follows a refusal that left a body unread
    max_head_bytes: int = 64 * 1024
    max_headers: int = 100
    max_chunk_framing: int = 128 * 1024  # a chunked body's framing, past twice its size
    max_connections: int = 1000  # open at once, in all (see .capacity)
    max_connections_per_client: int = 1000  # open at once from one client address
    eviction_grace: float = 0.25  # how long a new connection with nothing read keeps its place
    shutdown_timeout: float = 10.0  # graceful stop: then remaining connections are closed
    cancel_grace: float = 1.0  # after that, for the app cancelled where it still runs to end


@dataclass(slots=True)
class Shared:
    """What the connections of one server share."""

    app: App
    limits: Limits
    connections: set[HttpConnection] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    stopping: bool = False
    on_empty: Callable[[], None] | None = None
    capacity: Capacity = field(init=False)

    def __post_init__(self) -> None:
        limits = self.limits
        self.capacity = Capacity(
            limits.max_connections,
            limits.max_connections_per_client,
            grace=limits.eviction_grace,
        )


class _RefusedHeadError(Exception):
    """Raised from a parser callback to stop parsing a request head that is refused
    (``_refusal`` says with which status, and why)."""


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
        self._hosts = 0  # Host header lines in the head
        self._codings: list[bytes] = []  # Transfer-Encoding values in the head
        self._chunked = False  # reading a chunked body
        self._framing = 0  # bytes received while reading the chunked body
        self._body_bytes = 0  # of the body, so far
        self._refusal: tuple[int, str] | None = None
        self._parsing: Exchange | None = None
        self._current: Exchange | None = None
        self._queue: deque[Exchange] = deque()
        self._final: bytes | None = None  # a refusal to write after the answers in flight
        self._read_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._deadline: float | None = None  # of the idle, head or linger timeout (loop time)
        self._timer: asyncio.TimerHandle | None = None  # fires at _timer_at, then sees
        self._timer_at = 0.0
        self._body_timer: asyncio.TimerHandle | None = None
        self._lingering = False
        self._client: tuple[str, int] | None = None
        self._server: tuple[str, int] | None = None
        self._vouch = self.vouch  # bound once, handed to every request's scope
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
        host = self._client[0] if self._client is not None else ""
        refusal = self._shared.capacity.admit(self, host)
        if refusal is not None:
            self._refuse(503, refusal)
            return
        self._arm(self._limits.idle_timeout)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # the rest of a refused request: dropped
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(501, self._upgrade_refusal())
            return
        except httptools.HttpParserError as error:
            refusal = self._refusal or (400, f"malformed HTTP/1.1 request ({error})")
            if self._parsing is not None:  # in a body the app may be reading
                self._cut_body(*refusal)
            else:
                self._refuse(*refusal)
            return
        if self._chunked:  # still in a chunked body: bound its framing
            self._framing += len(data)
            if self._framing > self._limits.max_chunk_framing + 2 * self._body_bytes:
                self._cut_body(400, "the chunked body's framing is too large for its size")
                return
        if self._in_head:  # the parser holds a partial head: bound it
            self._raw_head_bytes += len(data)
            if self._raw_head_bytes > self._limits.max_head_bytes:
                self._refuse(431, f"request head over {self._limits.max_head_bytes} bytes")
            elif self._current is None:
                self._shared.capacity.stalling(self)  # waiting on the client for the rest
        elif self._parsing is not None and not self._parsing.body_wanted:
            self._pause_reading()  # the rest of the body waits until the app asks for it

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._transport = None
        self._disarm()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._disarm_body()
        self._shared.capacity.release(self)
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
        self._hosts = 0
        self._codings = []
        self._in_head = True
        self._arm(self._limits.head_timeout)

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_bytes += len(url)
        if self._head_bytes > self._limits.max_head_bytes:
            self._refuse_head(414, f"request target over {self._limits.max_head_bytes} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        self._headers.append((name, value))
        # The few names the server itself reads, looked at here, once, rather than by a
        # scan of every request's headers.
        if name == b"host":
            self._hosts += 1
        elif name == b"transfer-encoding":
            self._codings.append(value)
        elif name == b"expect" and value.lower() == b"100-continue":
            self._expect_continue = True
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes > self._limits.max_head_bytes:
            self._refuse_head(431, f"request head over {self._limits.max_head_bytes} bytes")
        if len(self._headers) > self._limits.max_headers:
            self._refuse_head(431, f"more than {self._limits.max_headers} request headers")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        self._shared.capacity.busy(self)
        parser = self._parser
        version = parser.get_http_version()
        if version != "1.1" and version != "1.0":
            self._refuse_head(505, f"HTTP/{version} is not supported: this is an HTTP/1.1 server")
        if self._hosts != 1 and (self._hosts or version == "1.1"):
            self._refuse_head(400, "a request must have exactly one Host header (RFC 9112 §3.2)")
        if self._codings:
            self._check_codings(version)
        if parser.should_upgrade():
            return  # refused when the parser raises HttpParserUpgrade, right after this
        exchange = Exchange(
            self,
            self._scope(parser, version),
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
        self._body_bytes += len(body)
        exchange = self._parsing
        if exchange is not None:
            exchange.feed_body(body)
            if exchange.buffered > HIGH_WATER:
                self._pause_reading()

    def on_message_complete(self) -> None:
        self._disarm_body()
        self._chunked = False
        exchange = self._parsing
        if exchange is not None:
            exchange.end_body()
            self._parsing = None

    def _refuse_head(self, status: int, message: str) -> None:
        self._refusal = (status, message)
        raise _RefusedHeadError

    def _check_codings(self, version: str) -> None:
        """A request's transfer codings: ``chunked`` alone, the one the server decodes."""
        codings = [c.strip().lower() for v in self._codings for c in v.split(b",")]
        if codings != [b"chunked"]:
            if codings[-1] != b"chunked" or b"chunked" in codings[:-1]:
                # RFC 9112 §6.3: without chunked last, once, a body's length can't be known.
                self._refuse_head(400, "Transfer-Encoding must end with chunked, used once")
            # RFC 9112 §6.1: a coding the server does not decode would reach the app as if
            # the body were plain.
            self._refuse_head(501, "no transfer coding but chunked is supported")
        if version == "1.0":
            # RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
            self._refuse_head(400, "Transfer-Encoding in an HTTP/1.0 request")
        self._chunked = True
        self._framing = 0
        self._body_bytes = 0

    def _scope(self, parser: httptools.HttpRequestParser, version: str) -> dict[str, object]:
        url = httptools.parse_url(self._url)
        if self._url[:1] != b"/":
            self._other_form(url, parser)
        raw_path: bytes = url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = unquote(path)
        return {
            "type": "http",
            "asgi": _ASGI,
            "http_version": version,
            "server": self._server,
            "client": self._client,
            "scheme": "http",
            "method": parser.get_method().decode("ascii"),
            "root_path": "",
            "path": path,
            "raw_path": raw_path,
            "query_string": url.query or b"",
            "headers": self._headers,
            VOUCH: self._vouch,
        }

    def _other_form(self, url: URL, parser: httptools.HttpRequestParser) -> None:
        """A request target that is not a path: an absolute URL's authority replaces ``Host``
        (RFC 9112 §3.2.2); ``*`` is for ``OPTIONS`` alone; anything else is refused."""
        if url.host:
            authority = b"%b:%d" % (url.host, url.port) if url.port else url.host
            headers = [(n, v) for n, v in self._headers if n != b"host"]
            headers.append((b"host", authority))
            self._headers = headers
        elif not (self._url == b"*" and parser.get_method() == b"OPTIONS"):
            self._refuse_head(400, "the request target must be a path or an absolute URL")

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

    def body_wanted(self) -> None:
        """The app asks for the body of the request it answers: read it, by its deadline."""
        exchange = self._parsing
        if exchange is not None and exchange is self._current and self._body_timer is None:
            self._body_timer = self._loop.call_later(self._limits.body_timeout, self._body_overdue)
        self._maybe_resume_reading()

    def body_taken(self) -> None:
        self._maybe_resume_reading()

    def response_done(self, exchange: Exchange) -> None:
        if exchange is not self._current:
            return
        self._current = None
        if self.closed:
            return  # the client is gone: what it pipelined will never be answered
        if exchange is self._parsing:
            self._linger()  # answered before its body was read
        elif not exchange.keep_alive or self._shared.stopping:
            self.close()
        elif self._queue:
            self._start(self._queue.popleft())
        elif self._final is not None:
            self.write(self._final)
            self.close()
        else:
            self._maybe_resume_reading()
            self._shared.capacity.stalling(self)  # waiting on the client for a next request
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

    def evict(self) -> None:
        """Close at once, for room (:mod:`.capacity`): a newer connection takes the place."""
        self.abort()

    def vouch(self, vouched: bool) -> None:
        """A request on this connection passed authentication, or failed it (the app's word,
        through the scope's :data:`~.capacity.VOUCH`)."""
        self._shared.capacity.vouch(self, vouched)

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
        self._end_after_answer(responses.error_response(status, message))

    def _end_after_answer(self, final: bytes) -> None:
        """Read nothing more; write ``final`` after the answer in flight (now if there is
        none), then close."""
        self._final = final
        self._in_head = False
        self._disarm()
        self._pause_reading()
        if self._current is None:
            self.write(self._final)
            self.close()

    def _linger(self) -> None:
        """Close after answering a request whose body was not read whole: closing at once
        with unread bytes would reset the connection, and a client still sending its body
        could lose the answer with it. So: send what is written and a FIN, then drop what
        comes for up to ``linger_timeout`` (RFC 9112 §9.6), and close."""
        transport = self._transport
        if transport is None or self._lingering:
            return
        self._lingering = True
        self._parsing = None
        self._disarm_body()
        self._shared.capacity.stalling(self)
        if transport.can_write_eof():
            transport.write_eof()
        self._arm(self._limits.linger_timeout)
        if self._read_paused:
            self._read_paused = False
            transport.resume_reading()

    def _pause_reading(self) -> None:
        if not self._read_paused and self._transport is not None:
            self._read_paused = True
            self._transport.pause_reading()

    def _maybe_resume_reading(self) -> None:
        if not self._read_paused or self._transport is None or self._final is not None:
            return
        if self._queue or (self._current is not None and self._current.buffered > LOW_WATER):
            return
        if self._parsing is not None and not self._parsing.body_wanted:
            return  # a body is read only once the app asks for it
        self._read_paused = False
        self._transport.resume_reading()

    def _arm(self, seconds: float) -> None:
        """Time out ``seconds`` from now (replacing the deadline set before, if any).

        Every request moves the deadline twice (its head, then idle again), so moving it
        sets a number; the one timer is replaced only when it would fire too late, and a
        timer firing before the deadline sets itself again for the rest (:meth:`_fire`)."""
        deadline = self._loop.time() + seconds
        self._deadline = deadline
        timer = self._timer
        if timer is None or self._timer_at > deadline:
            if timer is not None:
                timer.cancel()
            self._timer = self._loop.call_at(deadline, self._fire)
            self._timer_at = deadline

    def _disarm(self) -> None:
        self._deadline = None  # a timer still set finds nothing due when it fires

    def _fire(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None:
            return
        if self._loop.time() + TIMER_SLACK < deadline:  # moved later since the timer was set
            self._timer = self._loop.call_at(deadline, self._fire)
            self._timer_at = deadline
            return
        self._deadline = None
        self._timed_out()

    def _disarm_body(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_overdue(self) -> None:
        """The body's deadline passed before its end (a client trickling or holding a body
        would otherwise hold its connection for ever): cut it short with 408."""
        self._body_timer = None
        deadline = self._limits.body_timeout
        self._cut_body(408, f"the request body did not arrive within {deadline:g} s")

    def _cut_body(self, status: int, reason: str) -> None:
        """Give up on the body being read: the app is told the client is gone (why, and with
        which ``status``), the client gets ``status`` unless an answer began, and the
        connection closes. A request still waiting behind an answer in flight is dropped, and
        refused after that answer."""
        exchange = self._parsing
        if exchange is None or self.closed:
            return
        if exchange is not self._current:
            self._queue.remove(exchange)
            self._parsing = None
            self._refuse(status, reason)
            return
        exchange.disconnect(cut_short=reason, status=status)
        if not exchange.started:
            self.write(responses.error_response(status, reason))
        self._current = None
        self._linger()

    def _timed_out(self) -> None:
        """Idle too long between requests, or a head not whole by its deadline: close, after
        the answer in flight for a head pipelined behind it. The end of a linger: abort, so
        that a client reading nothing can't hold the connection either."""
        if self._lingering:
            self.abort()
        elif self._current is None:
            self.close()
        else:
            self._end_after_answer(b"")

    def _wake_drain(self) -> None:
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _address(value: object) -> tuple[str, int] | None:
    if isinstance(value, tuple) and len(value) >= 2:
        return (str(value[0]), int(value[1]))
    return None
