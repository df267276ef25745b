"""One server connection against a recording transport: what it writes, and when it waits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from mcpwall.adapters.downstream.capacity import VOUCH
from mcpwall.adapters.downstream.connection import HttpConnection, Limits, Shared
from mcpwall.adapters.downstream.exchange import Message, Scope

pytestmark = pytest.mark.anyio

Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Transport:
    """Records writes and what the connection asks of the socket."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.reading = True
        self.closed = False
        self.eof_written = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def close(self) -> None:
        self.closed = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

    def abort(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 1234)


async def settle() -> None:
    """Give the loop a few turns, so the apps started run to where they wait: yields, not a
    timed wait (nothing here waits on the clock)."""
    for _ in range(10):
        await asyncio.sleep(0)


async def finish(shared: Shared) -> None:
    """Wait for the apps started so far to end."""
    await asyncio.gather(*shared.tasks)


def connect(
    app: Callable[[Scope, Receive, Send], Awaitable[None]],
) -> tuple[HttpConnection, Transport, Shared]:
    shared = Shared(app, Limits())
    connection = HttpConnection(shared)
    transport = Transport()
    connection.connection_made(transport)  # type: ignore[arg-type]
    return connection, transport, shared


async def test_a_response_is_one_write() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})

    connection, transport, shared = connect(app)
    connection.data_received(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
    await finish(shared)
    assert len(transport.writes) == 1
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.writes[0].endswith(b"\r\n\r\nok")


async def test_a_whole_chunked_response_sent_at_once_is_one_write() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"abc"})

    connection, transport, shared = connect(app)
    connection.data_received(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
    await finish(shared)
    assert len(transport.writes) == 1
    assert transport.writes[0].endswith(b"transfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")


async def test_send_waits_while_the_socket_is_paused() -> None:
    sent: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for n in range(3):
            await send({"type": "http.response.body", "body": b"x", "more_body": True})
            sent.append(n)
        await send({"type": "http.response.body", "body": b""})

    connection, transport, _shared = connect(app)
    connection.pause_writing()
    connection.data_received(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
    await settle()
    assert sent == []
    connection.resume_writing()
    await settle()
    assert sent == [0, 1, 2]
    assert b"".join(transport.writes).endswith(b"0\r\n\r\n")


async def test_reading_pauses_while_a_pipelined_request_waits() -> None:
    release = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await release.wait()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    connection, transport, _shared = connect(app)
    connection.data_received(
        b"GET /1 HTTP/1.1\r\nhost: x\r\n\r\nGET /2 HTTP/1.1\r\nhost: x\r\n\r\n"
    )
    await settle()
    assert not transport.reading
    release.set()
    await settle()
    assert transport.reading
    assert [w.split(b"\r\n")[0] for w in transport.writes] == [b"HTTP/1.1 204 No Content"] * 2


async def test_a_large_body_pauses_reading_until_the_app_takes_it() -> None:
    taken = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await taken.wait()
        await receive()

    connection, transport, _shared = connect(app)
    connection.data_received(
        b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000\r\n\r\n" + b"x" * 300_000
    )
    assert not transport.reading
    taken.set()
    await settle()
    assert transport.reading


async def test_a_head_under_the_limit_is_accepted_however_it_arrives() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    connection, transport, shared = connect(app)
    head = b"GET / HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 40_000 + b"\r\n\r\n"
    connection.data_received(head[:30_000])  # 64 KiB limit: counted once, not twice
    connection.data_received(head[30_000:])
    await finish(shared)
    assert transport.writes[0].startswith(b"HTTP/1.1 204 No Content\r\n")


async def test_nothing_more_is_answered_once_the_client_is_gone() -> None:
    paths: list[str] = []
    release = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        paths.append(scope["path"])
        await release.wait()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    connection, transport, shared = connect(app)
    connection.data_received(
        b"GET /1 HTTP/1.1\r\nhost: x\r\n\r\nGET /2 HTTP/1.1\r\nhost: x\r\n\r\n"
    )
    await settle()
    connection.connection_lost(None)
    release.set()
    await finish(shared)
    assert paths == ["/1"]
    assert transport.writes == []


async def test_a_body_is_read_only_once_the_app_asks_for_it() -> None:
    asked = asyncio.Event()
    bodies: list[bytes] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await asked.wait()
        bodies.append((await receive())["body"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    connection, transport, _shared = connect(app)
    connection.data_received(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nabc")
    assert not transport.reading  # the rest of the body waits for the app
    await settle()
    assert not transport.reading
    asked.set()
    await settle()
    assert transport.reading
    assert bodies == [b"abc"]


async def test_a_request_answered_before_its_body_is_read_lingers_then_closes() -> None:
    """Closing at once with unread bytes would reset the connection, and a client still
    sending could lose the answer: half-close, and drop what comes until the linger ends."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 401, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    connection, transport, shared = connect(app)
    connection.data_received(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 9999\r\n\r\nab")
    await finish(shared)
    [answer] = transport.writes
    assert answer.startswith(b"HTTP/1.1 401 Unauthorized\r\n")
    assert b"connection: close\r\n" in answer
    assert (transport.eof_written, transport.reading, transport.closed) == (True, True, False)
    connection.data_received(b"GET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n")  # dropped
    await settle()
    assert transport.writes == [answer]


async def test_the_app_vouches_for_its_connection_through_the_scope() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope[VOUCH](scope["path"] == "/good")
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    shared = Shared(app, Limits(max_connections=1, eviction_grace=0))
    first, first_transport = HttpConnection(shared), Transport()
    first.connection_made(first_transport)  # type: ignore[arg-type]
    first.data_received(b"GET /good HTTP/1.1\r\nhost: x\r\n\r\n")
    await finish(shared)
    second, second_transport = HttpConnection(shared), Transport()
    second.connection_made(second_transport)  # type: ignore[arg-type]
    assert (second_transport.closed, first_transport.closed) == (True, False)
    assert second_transport.writes[0].startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    first.data_received(b"GET /bad HTTP/1.1\r\nhost: x\r\n\r\n")  # no longer vouched
    await finish(shared)
    third, third_transport = HttpConnection(shared), Transport()
    third.connection_made(third_transport)  # type: ignore[arg-type]
    assert (first_transport.closed, third_transport.closed) == (True, False)
