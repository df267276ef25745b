"""The upstream HTTP client against raw sockets on 127.0.0.1: framing, keep-alive, headers,
back-pressure and the ways a peer can fail."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from mcpwall.adapters.upstream.http11 import MAX_HEAD_BYTES, ConnectError, HttpClientError
from mcpwall.adapters.upstream.httpclient import IDLE_SECONDS, HttpClient
from tests.conftest import BOTH_EVENT_LOOPS, event_loop_backend

pytestmark = pytest.mark.anyio

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Server"], Awaitable[None]]


@dataclass
class Server:
    """A raw TCP server: what it received, and how many connections it accepted."""

    port: int = 0
    connections: int = 0
    heads: list[dict[str, str]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp?x=1"


async def read_request(reader: asyncio.StreamReader, server: Server) -> bool:
    """Read one request into ``server``; False at the end of the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return False
    lines = head.decode("latin-1").split("\r\n")
    headers = {"": lines[0]}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    server.heads.append(headers)
    server.bodies.append(body)
    return True


def answering(*responses: bytes) -> Handler:
    """A handler answering each request on a connection with the next of ``responses``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, s: Server) -> None:
        for response in responses:
            if not await read_request(reader, s):
                return
            writer.write(response)
            await writer.drain()
        await reader.read()  # then wait for the client to close

    return handle


def ok(body: bytes, *extra: str) -> bytes:
    head = "".join(f"{line}\r\n" for line in extra)
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode() + body


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[Server]:
    server = Server()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.connections += 1
        try:
            await handler(reader, writer, server)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    listener = await asyncio.start_server(accept, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield server


anyio_backend = pytest.fixture(params=BOTH_EVENT_LOOPS)(event_loop_backend)


async def test_keeps_one_connection_alive_across_requests() -> None:
    async with serving(answering(ok(b"one"), ok(b"two"), ok(b"three"))) as server:
        client = HttpClient({}, connect_timeout=5)
        bodies = []
        for body in (b"a", b"b", b"c"):
            async with client.post(server.url, headers={}, data=body) as response:
                bodies.append(await response.read(100))
        await client.close()
    assert bodies == [b"one", b"two", b"three"]
    assert server.connections == 1
    assert server.bodies == [b"a", b"b", b"c"]
    assert server.heads[0][""] == "POST /mcp?x=1 HTTP/1.1"
    assert server.heads[0]["host"] == f"127.0.0.1:{server.port}"
    assert server.heads[0]["accept-encoding"] == "identity"


async def test_sends_registered_headers_and_lets_a_request_override_them() -> None:
    async with serving(answering(ok(b""), ok(b""))) as server:
        client = HttpClient({"X-Api-Key": "k1", "Accept": "text/plain"}, connect_timeout=5)
        async with client.get(server.url, headers={}):
            pass
        async with client.get(server.url, headers={"accept": "application/json"}):
            pass
        await client.close()
    first, second = server.heads
    assert (first["x-api-key"], first["accept"]) == ("k1", "text/plain")
    assert (second["x-api-key"], second["accept"]) == ("k1", "application/json")
    assert first["user-agent"] == "mcpwall"


async def test_url_credentials_become_basic_auth() -> None:
    async with serving(answering(ok(b""))) as server:
        client = HttpClient({}, connect_timeout=5)
        url = server.url.replace("http://", "http://svc%40x:p%3Ass@")
        async with client.get(url, headers={}):
            pass
        await client.close()
    assert server.heads[0]["authorization"] == "Basic " + base64.b64encode(b"svc@x:p:ss").decode()
    assert server.heads[0]["host"] == f"127.0.0.1:{server.port}"


@pytest.mark.parametrize(
    ("headers", "match"),
    [
        ({"X-Evil": "a\r\nInjected: yes"}, "line break"),
        ({"X Evil": "a"}, "not a valid header name"),
        ({"X-Name": "é€"}, "HTTP/1.1 can't carry"),
    ],
)
async def test_refuses_headers_that_would_break_the_framing(
    headers: dict[str, str], match: str
) -> None:
    async with serving(answering(ok(b""))) as server:
        client = HttpClient({}, connect_timeout=5)
        with pytest.raises(HttpClientError, match=match):
            await client.get(server.url, headers=headers)
        await client.close()
    assert server.heads == []


def test_refuses_a_registered_header_with_a_line_break() -> None:
    with pytest.raises(HttpClientError, match="line break"):
        HttpClient({"Authorization": "Bearer x\nHost: elsewhere"}, connect_timeout=5)


async def test_reads_a_chunked_body_arriving_in_pieces() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, s: Server) -> None:
        await read_request(reader, s)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n")
        writer.write(b"Content-Type: Text/Event-Stream; charset=utf-8\r\n\r\n")
        for piece in (b"data: 1\n\n", b"data: 2\n\n"):
            writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await reader.read()

    async with serving(handle) as server:
        client = HttpClient({}, connect_timeout=5)
        async with client.post(server.url, headers={}, data=b"{}") as response:
            assert response.content_type == "text/event-stream"
            chunks = [chunk async for chunk in response.chunks()]
        await client.close()
    assert b"".join(chunks) == b"data: 1\n\ndata: 2\n\n"


async def test_a_body_ended_by_the_connection_is_complete_and_not_reused() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, s: Server) -> None:
        await read_request(reader, s)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
        await writer.drain()

    async with serving(handle) as server:
        client = HttpClient({}, connect_timeout=5)
        for _ in range(2):
            async with client.get(server.url, headers={}) as response:
                assert await response.read(100) == b"until the end"
        await client.close()
    assert server.connections == 2


async def test_a_body_cut_short_fails_the_read() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, s: Server) -> None:
        await read_request(reader, s)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
        await writer.drain()

    async with serving(handle) as server:
        client = HttpClient({}, connect_timeout=5)
        async with client.get(server.url, headers={}) as response:
            with pytest.raises(HttpClientError, match="before the end of the response"):
                await response.read(1000)
        await client.close()


async def test_read_stops_just_past_its_limit() -> None:
    async with serving(answering(ok(b"x" * 5000))) as server:
        client = HttpClient({}, connect_timeout=5)
        async with client.get(server.url, headers={}) as response:
            assert len(await response.read(10)) == 11
        await client.close()


async def test_a_large_body_read_slowly_arrives_whole() -> None:
    # Bigger than the high-water mark, so the socket is paused and resumed on the way.
    body = bytes(range(256)) * 8192  # 2 MiB
    async with serving(answering(ok(body), ok(b"after"))) as server:
        client = HttpClient({}, connect_timeout=5)
        async with client.get(server.url, headers={}) as response:
            received = bytearray()
            async for chunk in response.chunks():
                received += chunk
                await asyncio.sleep(0)  # a slow reader: give the socket a chance to fill
        async with client.get(server.url, headers={}) as response:
            after = await response.read(10)
        await client.close()
    assert bytes(received) == body
    assert after == b"after"
    assert server.connections == 1


async def test_a_stream_left_unread_is_not_reused() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, s: Server) -> None:
        while await read_request(reader, s):
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            await writer.drain()

    async with serving(handle) as server:
        client = HttpClient({}, connect_timeout=5)
        for _ in range(2):
            async with client.get(server.url, headers={}) as response:
                assert response.status == 200
        await client.close()
    assert server.connections == 2


async def test_an_idle_connection_past_its_keep_alive_is_not_reused() -> None:
    now = [0.0]
    async with serving(answering(ok(b"1"), ok(b"2"))) as server:
        client = HttpClient({}, connect_timeout=5, clock=lambda: now[0])
        async with client.get(server.url, headers={}) as response:
            await response.read(10)
        now[0] += IDLE_SECONDS - 0.1
        async with client.get(server.url, headers={}) as response:
            await response.read(10)
        now[0] += IDLE_SECONDS + 0.1
        async with client.get(server.url, headers={}) as response:
            await response.read(10)
        await client.close()
    assert server.connections == 2


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (b"SSH-2.0-OpenSSH_9.2\r\n", "not valid HTTP/1.1"),
        (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * MAX_HEAD_BYTES, "head is over"),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n",
            "switched",
        ),
        (b"", "closed the connection"),
    ],
)
async def test_a_peer_that_does_not_answer_in_http_fails_the_request(
    reply: bytes, match: str
) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, s: Server) -> None:
        await read_request(reader, s)
        writer.write(reply)
        await writer.drain()
        if reply:
            await reader.read()

    async with serving(handle) as server:
        client = HttpClient({}, connect_timeout=5)
        with pytest.raises(HttpClientError, match=match):
            async with client.get(server.url, headers={}) as response:
                await response.read(10)
        await client.close()


async def test_an_interim_response_is_skipped() -> None:
    reply = b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" + ok(b"final", "X-Final: 1")
    async with serving(answering(reply, ok(b"next"))) as server:
        client = HttpClient({}, connect_timeout=5)
        async with client.get(server.url, headers={}) as response:
            assert (response.status, response.reason) == (200, "OK")
            assert response.headers.get("x-final") == "1"
            assert "link" not in response.headers
            assert await response.read(10) == b"final"
        async with client.get(server.url, headers={}) as response:
            assert await response.read(10) == b"next"
        await client.close()
    assert server.connections == 1


async def test_a_refused_connection_says_so() -> None:
    listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()
    client = HttpClient({}, connect_timeout=5)
    with pytest.raises(ConnectError) as raised:
        await client.get(f"http://127.0.0.1:{port}/", headers={})
    assert isinstance(raised.value.os_error, ConnectionRefusedError)
    await client.close()


async def test_a_closed_client_refuses_requests_and_ends_open_streams() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, s: Server) -> None:
        await read_request(reader, s)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with serving(handle) as server:
        client = HttpClient({}, connect_timeout=5)
        response = await client.get(server.url, headers={})
        await client.close()
        with pytest.raises(HttpClientError, match="closed by the gateway"):
            await response.read(10)
        with pytest.raises(HttpClientError, match="the client is closed"):
            await client.get(server.url, headers={})


async def test_waits_for_a_free_connection_at_the_limit() -> None:
    async with serving(answering(ok(b"1"), ok(b"2"))) as server:
        client = HttpClient({}, connect_timeout=5, max_connections=1)

        async def second() -> bytes:
            async with client.get(server.url, headers={}) as response:
                return await response.read(10)

        first = await client.get(server.url, headers={})
        waiting = asyncio.create_task(second())
        assert await first.read(10) == b"1"
        first.release()
        assert await waiting == b"2"
        await client.close()
    assert server.connections == 1  # the second request waited for the first's connection


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "http:///nohost", "http://127.0.0.1:99999/"])
async def test_refuses_urls_it_cannot_serve(url: str) -> None:
    client = HttpClient({}, connect_timeout=5)
    with pytest.raises(HttpClientError):
        await client.get(url, headers={})
    await client.close()
