"""The data plane's HTTP server: routes, DNS-rebinding checks, body limits, SSE framing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import anyio
import httpx
import pytest

from mcpwall.adapters.downstream.capacity import VOUCH
from mcpwall.adapters.downstream.exchange import Message
from mcpwall.adapters.downstream.http import DownstreamApp
from mcpwall.ports.downstream import (
    ALWAYS_READY,
    Admitted,
    Check,
    HttpExchange,
    HttpReply,
    Readiness,
)
from tests.adapters.downstream.handlers import AdmitsAll
from tests.conftest import until_cancelled

pytestmark = pytest.mark.anyio


class Recorder(AdmitsAll):
    """A handler that records what reached it and answers with a fixed reply."""

    def __init__(self, reply: HttpReply | None = None) -> None:
        self.seen: list[HttpExchange] = []
        self.reply = reply or HttpReply(200, [("content-type", "application/json")], b"{}")
        self.readiness_now = ALWAYS_READY

    async def handle(self, exchange: HttpExchange) -> HttpReply:
        self.seen.append(exchange)
        return self.reply

    async def readiness(self) -> Readiness:
        return self.readiness_now


def client(app: DownstreamApp, host: str = "127.0.0.1:8700") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}")


async def test_routes_and_upstream_names() -> None:
    handler = Recorder()
    async with client(DownstreamApp(handler)) as http:
        assert (await http.post("/mcp", content=b"{}")).status_code == 200
        assert (await http.post("/mcp/k8s", content=b"{}")).status_code == 200
        assert (await http.post("/mcp/K8S", content=b"{}")).status_code == 404
        assert (await http.post("/mcp/a/b", content=b"{}")).status_code == 404
        assert (await http.post("/other", content=b"{}")).status_code == 404
        put = await http.put("/mcp/k8s", content=b"{}")
    assert [e.upstream for e in handler.seen] == [None, "k8s"]
    assert put.status_code == 405
    assert put.headers["allow"] == "POST, GET, DELETE"


async def test_health_and_readiness() -> None:
    handler = Recorder()
    ok, down = Check(True, "reachable"), Check(False, "database sqlite:///x is unavailable: gone")
    handler.readiness_now = Readiness({"store": ok, "grants": ok})
    async with client(DownstreamApp(handler)) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = await http.get("/readyz")
        assert ready.status_code == 200
        assert ready.headers["cache-control"] == "no-store"
        assert ready.json() == {
            "ready": True,
            "checks": {
                "store": {"ok": True, "detail": "reachable"},
                "grants": {"ok": True, "detail": "reachable"},
            },
        }
        handler.readiness_now = Readiness({"store": down, "grants": ok})
        unready = await http.get("/readyz")
        health = await http.get("/healthz")
    assert unready.status_code == 503
    assert unready.json()["ready"] is False
    assert unready.json()["checks"]["store"] == {"ok": False, "detail": down.detail}
    assert health.status_code == 200  # liveness: the process serves


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True),
        ("http://localhost:3000", True),
        ("http://127.0.0.1:6274", True),
        ("http://[::1]:8080", True),
        ("https://evil.example", False),
        ("http://localhost.evil.example", False),
        ("null", False),
    ],
)
async def test_origin_is_validated_against_dns_rebinding(origin: str | None, allowed: bool) -> None:
    handler = Recorder()
    headers = {} if origin is None else {"origin": origin}
    async with client(DownstreamApp(handler)) as http:
        response = await http.post("/mcp/k8s", content=b"{}", headers=headers)
    assert (response.status_code == 200) is allowed
    assert len(handler.seen) == (1 if allowed else 0)


async def test_configured_origins_and_hosts() -> None:
    handler = Recorder()
    app = DownstreamApp(
        handler,
        allowed_origins=frozenset({"https://agents.example"}),
        allowed_hosts=frozenset({"gw.example"}),
    )
    async with client(app, host="gw.example:8700") as http:
        assert (
            await http.post("/mcp", content=b"{}", headers={"origin": "https://agents.example"})
        ).status_code == 200
    async with client(app, host="127.0.0.1:8700") as http:
        assert (await http.post("/mcp", content=b"{}")).status_code == 421


async def test_a_rebound_host_name_is_refused() -> None:
    async with client(DownstreamApp(Recorder()), host="attacker.example:8700") as http:
        response = await http.post("/mcp/k8s", content=b"{}")
    assert response.status_code == 421


async def test_bodies_over_the_limit_are_refused_before_the_handler() -> None:
    handler = Recorder()
    async with client(DownstreamApp(handler, max_body=1000)) as http:
        declared = await http.post("/mcp", content=b"x" * 1001)
        exact = await http.post("/mcp", content=b"x" * 1000)

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(20):
                yield b"x" * 100

        streamed = await http.post("/mcp", content=chunks())
    assert (declared.status_code, exact.status_code, streamed.status_code) == (413, 200, 413)
    assert [len(e.body) for e in handler.seen] == [1000]


async def test_headers_are_lowercased_and_duplicates_named() -> None:
    handler = Recorder()
    async with client(DownstreamApp(handler)) as http:
        await http.post(
            "/mcp", content=b"{}", headers=[("Mcp-Method", "tools/call"), ("MCP-Method", "x")]
        )
    [exchange] = handler.seen
    assert exchange.headers["mcp-method"] == "tools/call"
    assert exchange.duplicated == ("mcp-method",)


async def test_streamed_replies_are_framed_as_server_sent_events() -> None:
    async def messages() -> AsyncIterator[bytes]:
        yield b'{"jsonrpc":"2.0","method":"notifications/progress"}'
        yield b'{"jsonrpc":"2.0","id":1,"result":{}}'

    async with client(DownstreamApp(Recorder(HttpReply(200, [], stream=messages())))) as http:
        response = await http.post("/mcp", content=b"{}")
    assert response.headers["content-type"] == "text/event-stream"
    assert response.text == (
        'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress"}\n\n'
        'event: message\ndata: {"jsonrpc":"2.0","id":1,"result":{}}\n\n'
    )


async def test_a_client_that_goes_away_before_the_reply_cancels_the_request() -> None:
    # 2026-07-28: closing the request's stream is how an agent cancels it (research §1.12).
    cancelled = asyncio.Event()

    class Stuck(AdmitsAll):
        async def handle(self, exchange: HttpExchange) -> HttpReply:
            await until_cancelled(cancelled)

    inbound = [{"type": "http.request", "body": b"{}", "more_body": False}]
    inbound.append({"type": "http.disconnect"})
    sent: list[object] = []

    async def receive() -> dict[str, object]:
        return inbound.pop(0)

    async def send(message: object) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "path": "/mcp/k8s",
        "method": "POST",
        "headers": [(b"host", b"127.0.0.1")],
    }
    with anyio.fail_after(5):
        await DownstreamApp(Stuck())(scope, receive, send)
    assert cancelled.is_set()
    assert sent == []  # nobody is left to answer


async def test_a_pushed_answer_is_streamed_as_it_is_made_and_ended_by_the_server() -> None:
    class Pushing(AdmitsAll):
        async def handle(self, exchange: HttpExchange) -> HttpReply:
            assert exchange.responder is not None
            await exchange.responder.start(200, [])
            await exchange.responder.send(b'{"jsonrpc":"2.0","method":"notifications/progress"}')
            await exchange.responder.send(b'{"jsonrpc":"2.0","id":1,"result":{}}')
            return HttpReply(200, pushed=True)

    async with client(DownstreamApp(Pushing())) as http:
        response = await http.post("/mcp", content=b"{}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert response.text == (
        'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress"}\n\n'
        'event: message\ndata: {"jsonrpc":"2.0","id":1,"result":{}}\n\n'
    )


class Grant(Admitted):
    """What a test handler admits requests as."""


class Guarded(AdmitsAll):
    """Admits requests bearing ``Authorization: yes``, refuses the others with 401."""

    def __init__(self) -> None:
        self.grant = Grant()
        self.seen: list[HttpExchange] = []
        self.refusals: list[tuple[HttpExchange, int, str]] = []

    async def admit(
        self, headers: Mapping[str, str], duplicated: tuple[str, ...]
    ) -> Admitted | HttpReply:
        if headers.get("authorization") == "yes":
            return self.grant
        return HttpReply(401, [("www-authenticate", "Bearer")], b"{}")

    async def handle(self, exchange: HttpExchange) -> HttpReply:
        self.seen.append(exchange)
        return HttpReply(200, [], exchange.body)

    async def refused(self, exchange: HttpExchange, status: int, message: str) -> None:
        self.refusals.append((exchange, status, message))


async def run_app(
    app: DownstreamApp,
    authorization: bytes,
    inbound: list[dict[str, object]],
    length: bytes = b"1000000",
) -> tuple[list[Message], list[bool]]:
    """One POST to /mcp through the app, as its server would run it: what the app sent, and
    what it said about the request's authentication."""
    sent: list[Message] = []
    vouched: list[bool] = []

    async def receive() -> dict[str, object]:
        return inbound.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    headers = [(b"host", b"127.0.0.1"), (b"content-length", length)]
    scope = {
        "type": "http",
        "path": "/mcp",
        "method": "POST",
        "headers": [*headers, (b"authorization", authorization)],
        VOUCH: vouched.append,
    }
    with anyio.fail_after(5):
        await app(scope, receive, send)
    return sent, vouched


async def test_a_request_refused_from_its_headers_is_answered_without_reading_its_body() -> None:
    handler = Guarded()
    sent, vouched = await run_app(DownstreamApp(handler), b"no", [])  # receive() would fail
    assert sent[0]["status"] == 401
    assert vouched == [False]
    assert handler.seen == []


async def test_an_admitted_request_brings_its_admission_to_the_handler_with_its_body() -> None:
    handler = Guarded()
    inbound: list[dict[str, object]] = [{"type": "http.request", "body": b"{}", "more_body": False}]
    sent, vouched = await run_app(DownstreamApp(handler), b"yes", inbound)
    assert sent[0]["status"] == 200
    assert vouched == [True]
    [exchange] = handler.seen
    assert exchange.admitted is handler.grant
    assert exchange.body == b"{}"


@pytest.mark.parametrize(
    ("inbound", "status", "message"),
    [
        (
            [{"type": "http.disconnect", "mcpwall.cut_short": "the request body did not arrive"}],
            408,
            "the request body did not arrive",
        ),
        (
            [
                {
                    "type": "http.disconnect",
                    "mcpwall.cut_short": "malformed HTTP/1.1 request (invalid chunk size)",
                    "mcpwall.cut_short_status": 400,
                }
            ],
            400,
            "malformed HTTP/1.1 request (invalid chunk size)",
        ),
        ([{"type": "http.disconnect"}], 400, "the client went away before sending the whole body"),
        (
            [{"type": "http.request", "body": b"x" * 1001, "more_body": False}],
            413,
            "body is over the limit of 1000 bytes",
        ),
    ],
)
async def test_an_admitted_request_refused_for_its_body_is_told_to_the_handler(
    inbound: list[dict[str, object]], status: int, message: str
) -> None:
    handler = Guarded()
    sent, _ = await run_app(DownstreamApp(handler, max_body=1000), b"yes", inbound, b"999")
    assert sent[0]["status"] == status
    [(exchange, told_status, told)] = handler.refusals
    assert (exchange.admitted, exchange.upstream, exchange.body) == (handler.grant, None, b"")
    assert (told_status, told) == (status, message)
    assert handler.seen == []
