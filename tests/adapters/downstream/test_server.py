"""The data plane's HTTP/1.1 server, on 127.0.0.1 with raw sockets and httpx."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from mcpwall.adapters.downstream.capacity import VOUCH
from mcpwall.adapters.downstream.connection import Limits
from mcpwall.adapters.downstream.exchange import CUT_SHORT, CUT_SHORT_STATUS, Message, Scope
from mcpwall.adapters.downstream.http import DownstreamApp
from mcpwall.adapters.downstream.server import HttpServer
from mcpwall.ports.downstream import HttpExchange, HttpReply
from tests.adapters.downstream.handlers import AdmitsAll
from tests.conftest import BOTH_EVENT_LOOPS, event_loop_backend

pytestmark = pytest.mark.anyio

Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


anyio_backend = pytest.fixture(params=BOTH_EVENT_LOOPS)(event_loop_backend)


@asynccontextmanager
async def serving(app: App, limits: Limits | None = None) -> AsyncIterator[HttpServer]:
    server = HttpServer(app, limits)
    await server.start("127.0.0.1", 0)
    try:
        yield server
    finally:
        await server.shutdown()


async def reply(send: Send, body: bytes, status: int = 200, **headers: str) -> None:
    pairs = [(b"content-length", str(len(body)).encode())]
    pairs += [(name.encode(), value.encode()) for name, value in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": pairs})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        assert message["type"] == "http.request"
        parts.append(message["body"])
        if not message["more_body"]:
            return b"".join(parts)


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the request's path and body."""
    body = await read_body(receive)
    await reply(send, scope["path"].encode() + b":" + body)


async def open_raw(server: HttpServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port)


async def read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One content-length response: (head, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head, await reader.readexactly(length)


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection, gracefully or not."""
    received = b""
    try:
        while chunk := await reader.read(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


async def accepted(server: HttpServer, count: int) -> None:
    """Return once the server has ``count`` connections open (a bounded yield loop)."""
    async with asyncio.timeout(5):
        while server.connections != count:
            await asyncio.sleep(0)


def get(path: str, *extra: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "host: 127.0.0.1", *extra, "", ""]
    return "\r\n".join(lines).encode()


# -- keep-alive and pipelining ---------------------------------------------------------------


async def test_keeps_the_connection_alive_across_requests() -> None:
    clients: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        clients.append(scope["client"])
        await reply(send, b"ok")

    async with serving(app) as server, httpx.AsyncClient() as http:
        url = f"http://127.0.0.1:{server.port}/"
        answers = [await http.get(url) for _ in range(3)]
        assert server.connections == 1
    assert [a.text for a in answers] == ["ok", "ok", "ok"]
    assert len(set(clients)) == 1


async def test_answers_pipelined_requests_one_at_a_time_in_order() -> None:
    release = asyncio.Event()
    log: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        log.append(f"start {scope['path']}")
        if scope["path"] == "/1":
            await release.wait()
        log.append(f"end {scope['path']}")
        await reply(send, scope["path"].encode())

    async with serving(app) as server:
        reader, writer = await open_raw(server)
        writer.write(get("/1") + get("/2") + get("/3"))
        while not log:
            await asyncio.sleep(0)  # yield until the first request is in the app
        release.set()
        bodies = [(await read_response(reader))[1] for _ in range(3)]
        writer.close()
    assert bodies == [b"/1", b"/2", b"/3"]
    assert log == ["start /1", "end /1", "start /2", "end /2", "start /3", "end /3"]


async def test_connection_close_from_the_client_is_honoured() -> None:
    async with serving(echo) as server:
        reader, writer = await open_raw(server)
        writer.write(get("/a", "connection: close"))
        head, body = await read_response(reader)
        assert await reader.read() == b""  # then EOF
        writer.close()
    assert b"connection: close" in head
    assert body == b"/a:"


async def test_connection_close_from_the_app_is_honoured() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await reply(send, b"bye", connection="close")

    async with serving(app) as server:
        reader, writer = await open_raw(server)
        writer.write(get("/"))
        head, _ = await read_response(reader)
        assert await reader.read() == b""
        writer.close()
    assert head.count(b"connection: close") == 1


async def test_http_10_without_keep_alive_closes() -> None:
    async with serving(echo) as server:
        reader, writer = await open_raw(server)
        writer.write(b"GET /old HTTP/1.0\r\n\r\n")
        everything = await reader.read()
        writer.close()
    assert everything.startswith(b"HTTP/1.1 200 OK\r\n")
    assert everything.endswith(b"\r\n\r\n/old:")


# -- request bodies ------------------------------------------------------------------------


async def test_reads_a_chunked_request_body() -> None:
    async with serving(echo) as server:
        reader, writer = await open_raw(server)
        writer.write(
            b"POST /c HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n"
        )
        await writer.drain()
        writer.write(b"4\r\ndefg\r\n0\r\n\r\n")
        _, body = await read_response(reader)
        writer.close()
    assert body == b"/c:abcdefg"


async def test_answers_expect_100_continue_before_the_body_is_sent() -> None:
    async with serving(echo) as server:
        reader, writer = await open_raw(server)
        writer.write(
            b"POST /e HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n"
        )
        interim = await reader.readuntil(b"\r\n\r\n")
        writer.write(b"hello")
        _, body = await read_response(reader)
        writer.close()
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert body == b"/e:hello"


async def test_the_apps_body_limit_answers_413() -> None:
    class Handler(AdmitsAll):
        async def handle(self, exchange: HttpExchange) -> HttpReply:
            raise AssertionError("never reached")

    async with (
        serving(DownstreamApp(Handler(), max_body=10)) as server,
        httpx.AsyncClient() as http,
    ):
        answer = await http.post(f"http://127.0.0.1:{server.port}/mcp", content=b"x" * 100)
    assert answer.status_code == 413


# -- refusals ------------------------------------------------------------------------------


async def refused(server: HttpServer, request: bytes) -> bytes:
    """What the server answers to ``request``, read to the connection's end."""
    reader, writer = await open_raw(server)
    writer.write(request)
    everything = await reader.read()
    writer.close()
    return everything


async def test_an_oversized_head_gets_431_and_the_connection_closes() -> None:
    async with serving(echo, Limits(max_head_bytes=4096)) as server:
        big = await refused(server, get("/", "x-big: " + "a" * 10_000))
        many = await refused(server, get("/", *(f"x-{n}: 1" for n in range(200))))
    assert big.startswith(b"HTTP/1.1 431 ")
    assert many.startswith(b"HTTP/1.1 431 ")
    assert b"more than 100 request headers" in many


async def test_a_malformed_request_gets_400_and_the_connection_closes() -> None:
    async with serving(echo) as server:
        answer = await refused(server, b"NOT HTTP AT ALL\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"connection: close" in answer


SMUGGLING = {
    "content-length and transfer-encoding": b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 6"
    b"\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n",
    "two content-lengths": b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n"
    b"content-length: 10\r\n\r\nabcGET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n",
    "transfer-encoding not ending in chunked": b"POST /a HTTP/1.1\r\nhost: x\r\n"
    b"transfer-encoding: xchunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "chunked then another coding": b"POST /a HTTP/1.1\r\nhost: x\r\n"
    b"transfer-encoding: chunked, identity\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "a bare LF": b"GET /a HTTP/1.1\nhost: x\n\n",
    "space before the colon": b"GET /a HTTP/1.1\r\nhost : x\r\n\r\n",
    "a folded header": b"GET /a HTTP/1.1\r\nhost: x\r\nx-a: a\r\n b\r\n\r\n",
}


@pytest.mark.parametrize("raw", SMUGGLING.values(), ids=list(SMUGGLING))
async def test_requests_whose_framing_is_ambiguous_get_400_and_nothing_else(raw: bytes) -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["path"])
        await echo(scope, receive, send)

    async with serving(app) as server:
        answer = await refused(server, raw)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"200 OK" not in answer  # no second, smuggled request answered
    assert seen == []


async def test_upgrades_and_connect_are_refused() -> None:
    async with serving(echo) as server:
        websocket = await refused(server, get("/mcp", "connection: upgrade", "upgrade: websocket"))
        connect = await refused(server, b"CONNECT example.com:443 HTTP/1.1\r\nhost: x\r\n\r\n")
    assert websocket.startswith(b"HTTP/1.1 501 ")
    assert b"websocket" in websocket
    assert connect.startswith(b"HTTP/1.1 501 ")
    assert b"CONNECT is not supported" in connect


REFUSED_HEADS = {
    "a transfer coding other than chunked": (
        b"POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding: gzip, chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n",
        501,
    ),
    "chunked on HTTP/1.0": (
        b"POST /a HTTP/1.0\r\nconnection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n",
        400,
    ),
    "no Host": (b"GET /a HTTP/1.1\r\n\r\n", 400),
    "two Hosts": (b"GET /a HTTP/1.1\r\nhost: 127.0.0.1\r\nhost: evil.example\r\n\r\n", 400),
    "HTTP/2.0 in a request line": (b"GET /a HTTP/2.0\r\nhost: x\r\n\r\n", 505),
    "an asterisk target on POST": (b"POST * HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n", 400),
    "a request line over the head limit": (get("/" + "a" * 70_000), 414),
}


@pytest.mark.parametrize(("raw", "status"), REFUSED_HEADS.values(), ids=list(REFUSED_HEADS))
async def test_heads_the_server_does_not_serve_are_refused_before_the_app(
    raw: bytes, status: int
) -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["path"])
        await echo(scope, receive, send)

    async with serving(app) as server:
        answer = await refused(server, raw)
    assert answer.startswith(b"HTTP/1.1 %d " % status), answer
    assert b"connection: close" in answer
    assert seen == []


async def test_an_asterisk_target_is_for_options() -> None:
    async with serving(echo) as server:
        reader, writer = await open_raw(server)
        writer.write(b"OPTIONS * HTTP/1.1\r\nhost: x\r\n\r\n")
        _, body = await read_response(reader)
        writer.close()
    assert body == b"*:"


async def test_an_absolute_form_target_names_the_host_the_app_sees() -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)
        await reply(send, b"")

    async with serving(app) as server:
        reader, writer = await open_raw(server)
        # RFC 9112 §3.2.2: the target's authority, not the Host header, names the host.
        writer.write(get("http://evil.example:81/mcp/a?x=1", "x-one: 1"))
        await read_response(reader)
        writer.close()
    (scope,) = scopes
    assert (scope["path"], scope["query_string"]) == ("/mcp/a", b"x=1")
    assert scope["headers"] == [(b"x-one", b"1"), (b"host", b"evil.example:81")]


async def body_reader(
    told: list[Message],
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An app that reads the body and notes the message that ended it, then echoes."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] != "http.request" or not message["more_body"]:
                told.append(message)
                break
        await reply(send, b"read")

    return app


CHUNKED_POST = b"POST /c HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
MALFORMED_BODIES = {
    "a negative chunk size": CHUNKED_POST + b"-1\r\na\r\n0\r\n\r\n",
    "a chunk size with 0x": CHUNKED_POST + b"0x1\r\na\r\n0\r\n\r\n",
    "a chunk size overflowing": CHUNKED_POST + b"1" + b"0" * 16 + b"\r\na\r\n0\r\n\r\n",
    "a NUL in a chunk extension": CHUNKED_POST + b"1;a=\x00\r\na\r\n0\r\n\r\n",
    "a chunk without its CRLF": CHUNKED_POST + b"1\r\nab0\r\n\r\n",
}


@pytest.mark.parametrize("raw", MALFORMED_BODIES.values(), ids=list(MALFORMED_BODIES))
async def test_a_malformed_body_is_answered_400_at_once_and_the_app_told(raw: bytes) -> None:
    told: list[Message] = []
    # Before, the app waited for a body that would never end, and the client got 408 at the
    # body's deadline: here an hour, so that only the fix answers within the bound.
    async with serving(await body_reader(told), Limits(body_timeout=3600)) as server:
        async with asyncio.timeout(10):
            answer = await refused(server, raw)
            while not told:
                await asyncio.sleep(0)  # yield until the app has its message
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
    assert b"read" not in answer  # the app's own answer is not sent after it
    [message] = told
    assert message["type"] == "http.disconnect"
    assert message[CUT_SHORT_STATUS] == 400
    assert message[CUT_SHORT].startswith("malformed HTTP/1.1 request")


def chunked_body(body: bytes, size: int, extension: bytes = b"") -> bytes:
    pieces = (body[i : i + size] for i in range(0, len(body), size))
    return b"".join(b"%x%b\r\n%b\r\n" % (len(p), extension, p) for p in pieces) + b"0\r\n\r\n"


FRAMING_HEAVY = {
    "a 1 MiB chunk extension": chunked_body(b"abc", 3, b";" + b"x" * (1 << 20)),
    "one-byte chunks with 1 KiB extensions": chunked_body(b"a" * 1000, 1, b";" + b"x" * 1024),
    "100,000 one-byte chunks": chunked_body(b"a" * 100_000, 1),
}


@pytest.mark.parametrize("body", FRAMING_HEAVY.values(), ids=list(FRAMING_HEAVY))
async def test_a_chunked_body_whose_framing_outgrows_it_is_refused(body: bytes) -> None:
    told: list[Message] = []
    async with serving(await body_reader(told)) as server:
        answer = await refused(server, CHUNKED_POST + body)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer[:200]
    assert b"framing is too large" in answer
    assert told[0][CUT_SHORT_STATUS] == 400


@pytest.mark.parametrize("size", [4, 16, 4096])
async def test_a_body_in_small_chunks_is_read_whole(size: int) -> None:
    body = bytes(range(256)) * 1000
    async with serving(echo) as server:
        reader, writer = await open_raw(server)
        writer.write(CHUNKED_POST + chunked_body(body, size))
        _, answer = await read_response(reader)
        writer.close()
    assert answer == b"/c:" + body


async def test_a_malformed_body_behind_an_answer_in_flight_is_refused_after_it() -> None:
    release = asyncio.Event()
    paths: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        paths.append(scope["path"])
        await release.wait()
        await reply(send, b"first")

    async with serving(app) as server:
        reader, writer = await open_raw(server)
        writer.write(get("/1") + MALFORMED_BODIES["a negative chunk size"])
        while not paths:
            await asyncio.sleep(0)  # yield until the first request is in the app
        release.set()
        received = await read_until_closed(reader)
        writer.close()
    assert paths == ["/1"]
    first, _, second = received.partition(b"first")
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert second.startswith(b"HTTP/1.1 400 Bad Request\r\n")


# -- responses -----------------------------------------------------------------------------


async def test_head_and_body_arrive_in_one_write() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await reply(send, b"tiny")

    async with serving(app) as server:
        reader, writer = await open_raw(server)
        writer.write(get("/"))
        first = await reader.read(65536)  # what one recv returns
        writer.close()
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert first.endswith(b"\r\n\r\ntiny")
    assert b"date: " in first


async def test_streams_sse_incrementally_and_chunked() -> None:
    second = asyncio.Event()

    async def events() -> AsyncIterator[bytes]:
        yield b'{"n":1}'
        await second.wait()
        yield b'{"n":2}'

    class Handler(AdmitsAll):
        async def handle(self, exchange: HttpExchange) -> HttpReply:
            return HttpReply(200, [], stream=events())

    async with serving(DownstreamApp(Handler())) as server, httpx.AsyncClient() as http:
        url = f"http://127.0.0.1:{server.port}/mcp"
        async with http.stream("GET", url) as answer:
            chunks = answer.aiter_raw()
            first = await chunks.__anext__()
            second.set()
            rest = b"".join([chunk async for chunk in chunks])
    assert answer.headers["transfer-encoding"] == "chunked"
    assert answer.headers["content-type"] == "text/event-stream"
    assert first == b'event: message\ndata: {"n":1}\n\n'
    assert rest == b'event: message\ndata: {"n":2}\n\n'


async def test_the_scope_is_what_uvicorn_would_build() -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)
        await reply(send, b"")

    async with serving(app) as server:
        reader, writer = await open_raw(server)
        writer.write(get("/mcp/a%20b?x=1&y=2", "X-One: 1", "x-two: Two"))
        await read_response(reader)
        writer.close()
    (scope,) = scopes
    assert scope["type"] == "http"
    assert scope["asgi"]["version"] == "3.0"
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/mcp/a b"
    assert scope["raw_path"] == b"/mcp/a%20b"
    assert scope["query_string"] == b"x=1&y=2"
    assert scope["root_path"] == ""
    assert scope["headers"] == [(b"host", b"127.0.0.1"), (b"x-one", b"1"), (b"x-two", b"Two")]
    assert scope["server"] == ("127.0.0.1", server.port)
    assert scope["client"][0] == "127.0.0.1"


async def test_an_app_error_is_answered_500_and_logged_without_header_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise ValueError("broken")

    async with serving(app) as server:
        answer = await refused(server, get("/x", "authorization: Bearer secret-token"))
    assert answer.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert "error answering GET /x" in caplog.text
    assert "secret-token" not in caplog.text


@pytest.mark.parametrize(
    ("name", "value"),
    [(b"x-a", b"1\r\nset-cookie: x=1"), (b"x-a", b"1\nx-b: 2"), (b"x-a\r\nx-b", b"2")],
)
async def test_a_header_that_would_split_the_response_is_never_written(
    name: bytes, value: bytes
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-length", b"2"), (name, value)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    async with serving(app) as server:
        answer = await refused(server, get("/"))
    assert answer.startswith(b"HTTP/1.1 500 ")
    assert b"x-b" not in answer
    assert b"set-cookie" not in answer


async def test_an_app_returning_without_answering_gets_500() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    async with serving(app) as server:
        answer = await refused(server, get("/"))
    assert answer.startswith(b"HTTP/1.1 500 ")


async def test_an_app_returning_mid_response_closes_the_connection() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})

    async with serving(app) as server:
        answer = await refused(server, get("/"))
    assert b"transfer-encoding: chunked" in answer
    assert answer.endswith(b"4\r\npart\r\n")  # no last chunk: the client knows it is cut


# -- disconnects, timeouts and shutdown ----------------------------------------------------


async def test_the_app_sees_the_client_go_away() -> None:
    seen = asyncio.Event()
    waiting = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await read_body(receive)
        waiting.set()
        if (await receive())["type"] == "http.disconnect":
            seen.set()

    async with serving(app) as server:
        _, writer = await open_raw(server)
        writer.write(get("/"))
        await waiting.wait()
        writer.close()
        await seen.wait()
    assert seen.is_set()


async def test_an_idle_connection_is_closed_after_its_timeout() -> None:
    async with serving(echo, Limits(idle_timeout=0.05)) as server:
        reader, writer = await open_raw(server)
        writer.write(get("/"))
        await read_response(reader)
        assert await reader.read() == b""  # EOF, once the idle timeout passed
        writer.close()
        silent = await refused(server, b"")
    assert silent == b""


async def test_a_slow_head_is_closed_after_its_timeout() -> None:
    async with serving(echo, Limits(head_timeout=0.05)) as server:
        answer = await refused(server, b"GET / HTTP/1.1\r\nhost: x\r\n")
    assert answer == b""


async def test_a_body_that_stops_arriving_is_closed_after_its_timeout() -> None:
    disconnected = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        disconnected.set()

    async with serving(app, Limits(body_timeout=0.05)) as server:
        reader, writer = await open_raw(server)
        writer.write(b"POST /mcp HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nonly 9 b")
        answer = await reader.read()  # to EOF: the server gave up on the rest
        await disconnected.wait()  # and the app was told the client is gone
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"the request body did not arrive within 0.05 s" in answer


async def test_shutdown_finishes_requests_in_flight_and_closes_idle_connections() -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/slow":
            started.set()
            await release.wait()
        await reply(send, b"done")

    server = HttpServer(app)
    await server.start("127.0.0.1", 0)
    idle_reader, idle_writer = await open_raw(server)
    idle_writer.write(get("/quick"))
    await read_response(idle_reader)
    busy_reader, busy_writer = await open_raw(server)
    busy_writer.write(get("/slow"))
    await started.wait()
    stopping = asyncio.ensure_future(server.shutdown())
    assert await idle_reader.read() == b""  # the idle one closes at once
    assert not stopping.done()
    release.set()
    head, body = await read_response(busy_reader)
    assert await busy_reader.read() == b""
    await stopping
    idle_writer.close()
    busy_writer.close()
    assert body == b"done"
    assert b"connection: close" in head
    with pytest.raises(ConnectionRefusedError):
        await open_raw(server)


async def test_shutdown_closes_what_outlives_its_deadline() -> None:
    cancelled = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    server = HttpServer(app, Limits(shutdown_timeout=0.05))
    await server.start("127.0.0.1", 0)
    reader, writer = await open_raw(server)
    writer.write(get("/forever"))
    while server.connections == 0 or not server._shared.tasks:
        await asyncio.sleep(0)
    await server.shutdown()
    assert await reader.read() == b""
    writer.close()
    assert cancelled.is_set()


async def test_shutdown_ends_even_when_the_app_does_not_end_when_cancelled() -> None:
    """Past the deadline the app is cancelled; an app that loses its cancel (and so never
    ends) is left behind after a short grace, rather than holding the stop for ever."""
    release = asyncio.Event()
    cancels = 0

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal cancels
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                cancels += 1  # lost

    server = HttpServer(app, Limits(shutdown_timeout=0.05, cancel_grace=0.05))
    await server.start("127.0.0.1", 0)
    reader, writer = await open_raw(server)
    writer.write(get("/forever"))
    while server.connections == 0 or not server._shared.tasks:
        await asyncio.sleep(0)
    try:
        async with asyncio.timeout(15):  # a bound: a stop that waits for ever fails here
            await server.shutdown()
        assert await reader.read() == b""
    finally:
        release.set()  # the app ends, for the loop's own end
        writer.close()
    assert cancels == 1


async def test_a_trickled_body_is_cut_at_its_deadline_however_it_trickles() -> None:
    async with serving(echo, Limits(body_timeout=0.3)) as server:
        reader, writer = await open_raw(server)
        writer.write(b"POST /t HTTP/1.1\r\nhost: x\r\ncontent-length: 200\r\n\r\n")
        answer = asyncio.ensure_future(read_until_closed(reader))
        sent = 0
        while not answer.done() and sent < 200:  # a byte every 20 ms: never a pause of 0.3 s
            writer.write(b"x")
            sent += 1
            await asyncio.sleep(0.02)
        received = await answer
        writer.close()
    assert received.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), received
    assert sent < 200


async def test_a_head_pipelined_behind_an_answer_is_held_to_its_deadline() -> None:
    release = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await release.wait()
        await reply(send, b"done")

    async with serving(app, Limits(head_timeout=0.1)) as server:
        reader, writer = await open_raw(server)
        writer.write(get("/slow") + b"GET /never-finished HTTP/1.1\r\n")
        # The answer comes after the pipelined head's deadline (timers fire in order).
        asyncio.get_running_loop().call_later(0.3, release.set)
        async with asyncio.timeout(5):  # before: the unfinished head was held for ever
            received = await read_until_closed(reader)
        writer.close()
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert received.endswith(b"done")


async def test_an_answer_given_before_the_body_reaches_a_client_still_sending_it() -> None:
    async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
        await reply(send, b"no", status=401)

    async with serving(refuse, Limits(linger_timeout=0.2)) as server:
        reader, writer = await open_raw(server)
        head = b"POST /mcp HTTP/1.1\r\nhost: x\r\ncontent-length: 4000000\r\n\r\n"
        writer.write(head + b"x" * 1_000_000)
        received = await read_until_closed(reader)
        writer.close()
    assert received.startswith(b"HTTP/1.1 401 Unauthorized\r\n")
    assert b"connection: close\r\n" in received
    assert received.endswith(b"no")


# -- connection caps -----------------------------------------------------------------------


async def vouching(scope: Scope, receive: Receive, send: Send) -> None:
    """Echoes, after saying that the request passed authentication (unless its path says
    it failed)."""
    scope[VOUCH](scope["path"] != "/unauthenticated")
    await echo(scope, receive, send)


async def asked(connection: tuple[asyncio.StreamReader, asyncio.StreamWriter], path: str) -> bytes:
    """The body of the answer to GET ``path`` on an open connection."""
    reader, writer = connection
    writer.write(get(path))
    return (await read_response(reader))[1]


async def test_past_the_cap_the_oldest_unauthenticated_connection_makes_room() -> None:
    async with serving(vouching, Limits(max_connections=2, eviction_grace=0)) as server:
        first = await open_raw(server)
        await accepted(server, 1)
        second = await open_raw(server)
        await accepted(server, 2)
        third = await open_raw(server)
        assert await read_until_closed(first[0]) == b""  # closed for room, unanswered
        assert await asked(third, "/3") == b"/3:"
        assert await asked(second, "/2") == b"/2:"
        for _, writer in (first, second, third):
            writer.close()


async def test_authenticated_connections_keep_their_place_and_a_newcomer_gets_503() -> None:
    async with serving(vouching, Limits(max_connections=2, eviction_grace=0)) as server:
        agents = [await open_raw(server), await open_raw(server)]
        assert [await asked(agent, "/a") for agent in agents] == [b"/a:", b"/a:"]
        newcomer_reader, newcomer_writer = await open_raw(server)
        refused = await read_until_closed(newcomer_reader)
        assert refused.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        assert b"the gateway holds at most 2 connections, all in use" in refused
        assert [await asked(agent, "/b") for agent in agents] == [b"/b:", b"/b:"]
        assert await asked(agents[0], "/unauthenticated") == b"/unauthenticated:"
        third = await open_raw(server)  # takes the place of the one that failed
        assert await read_until_closed(agents[0][0]) == b""
        assert await asked(third, "/c") == b"/c:"
        for _, writer in (*agents, third):
            writer.close()
        newcomer_writer.close()


async def test_the_per_client_cap_counts_each_client_address_apart() -> None:
    async with serving(vouching, Limits(max_connections_per_client=1, eviction_grace=0)) as server:
        agent = await open_raw(server)
        assert await asked(agent, "/a") == b"/a:"
        same_reader, same_writer = await open_raw(server)
        refused = await read_until_closed(same_reader)
        other = await asyncio.open_connection("127.0.0.1", server.port, local_addr=("127.0.0.2", 0))
        assert await asked(other, "/b") == b"/b:"
        for _, writer in (agent, other):
            writer.close()
        same_writer.close()
    assert refused.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"the gateway holds at most 1 connection from one client" in refused
