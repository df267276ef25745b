"""A gateway wired in process: real store (in memory), real pipeline, fake upstreams.

Agents talk to it over HTTP through ``httpx``'s ASGI transport, so everything from header
parsing to SSE framing runs as it does behind uvicorn, without a socket.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from mcpwall.adapters.downstream.http import DownstreamApp
from mcpwall.control import ControlPlane
from mcpwall.core.mcp import CursorSeal
from mcpwall.core.registry import Upstream
from mcpwall.gateway.grants import GrantCache
from mcpwall.gateway.http import HttpGateway
from mcpwall.gateway.pipeline import Pipeline
from mcpwall.gateway.upstreams import UpstreamPool
from mcpwall.ports.changes import RevisionSignal
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.counters import MemoryCounters
from mcpwall.ports.logsink import MemorySink
from mcpwall.ports.memory_store import MemoryStore
from mcpwall.ports.upstream import ClientOffer, Message, Negotiated, Receiver, UpstreamConnector

SEED = (Path(__file__).parents[1] / "core" / "policy" / "cases" / "seed.policy.json").read_text()
K8S_TOOLS = [
    "list_pods",
    "delete_pod",
    "apply_manifest",
    "get_secret",
    "delete_namespace",
    "exec_pod",
]


def asgi_client(app: DownstreamApp) -> httpx.AsyncClient:
    """An HTTP client that talks to ``app`` in process, as an agent would over the socket."""
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8700")


class RecordingSession:
    """What every fake upstream session here does besides answering requests: it records
    what it is sent in ``calls``, and never ends on its own."""

    calls: list[Message]
    closed: bool

    async def notify(self, method: str, params: Mapping[str, object] | None) -> None:
        self.calls.append({"notify": method, "params": params})

    async def respond(self, request_id: str | int, response: Message) -> None:
        self.calls.append({"respond": request_id, "response": response})

    async def aclose(self) -> None:
        self.closed = True

    async def wait_closed(self) -> str:
        await asyncio.Event().wait()  # these sessions never end on their own
        return ""


@dataclass
class FakeSession(RecordingSession):
    """An upstream that lists ``tools`` (in pages of ``page_size``) and echoes calls."""

    name: str
    tools: list[str]
    page_size: int = 100
    calls: list[Message] = field(default_factory=list)
    closed: bool = False
    on_unsolicited: Receiver | None = None
    schemas: Mapping[str, dict[str, object]] = field(default_factory=dict)  # else no params

    @property
    def negotiated(self) -> Negotiated:
        return Negotiated(
            "2025-11-25", "legacy", {"tools": {"listChanged": True}}, {"name": self.name}
        )

    async def request(
        self,
        method: str,
        params: Mapping[str, object] | None,
        *,
        related: Receiver | None = None,
        timeout: float,
    ) -> Message:
        if method == "tools/list":
            start = int(str((params or {}).get("cursor", "0")))
            page = [
                {"name": n, "inputSchema": self.schemas.get(n, {"type": "object"})}
                for n in self.tools[start : start + self.page_size]
            ]
            result: dict[str, object] = {"tools": page}
            if start + self.page_size < len(self.tools):
                result["nextCursor"] = str(start + self.page_size)
            return {"result": result}
        if method == "tools/call":
            self.calls.append({"method": method, "params": params})
            assert params is not None
            if related is not None and params.get("name") == "exec_pod":
                await related(
                    {
                        "jsonrpc": "2.0",
                        "method": "notifications/progress",
                        "params": {"progressToken": 1, "progress": 1},
                    }
                )
            text = json.dumps(
                {"upstream": self.name, "arguments": params.get("arguments")}, sort_keys=True
            )
            return {"result": {"content": [{"type": "text", "text": text}]}}
        self.calls.append({"method": method, "params": params})
        return {"result": {"relayed": method}}


ToolCallAnswer = Callable[[Receiver | None], Awaitable[Message]]


MethodAnswer = Callable[
    ["FakeSession", str, Mapping[str, object] | None, Receiver | None], Awaitable[Message]
]


def answer_requests(
    monkeypatch: pytest.MonkeyPatch, methods: set[str], answer: MethodAnswer
) -> None:
    """Have every :class:`FakeSession` answer ``methods`` with ``answer(session, method,
    params, related)``, and every other method as before (the gateway lists tools to check a
    call's tool)."""
    relay = FakeSession.request

    async def request(
        self: FakeSession,
        method: str,
        params: Mapping[str, object] | None,
        *,
        related: Receiver | None = None,
        timeout: float,
    ) -> Message:
        if method not in methods:
            return await relay(self, method, params, related=related, timeout=timeout)
        return await answer(self, method, params, related)

    monkeypatch.setattr(FakeSession, "request", request)


def answer_tool_calls(monkeypatch: pytest.MonkeyPatch, answer: ToolCallAnswer) -> None:
    """Have every :class:`FakeSession` answer ``tools/call`` with ``answer(related)``."""

    async def call(
        _session: FakeSession,
        _method: str,
        _params: Mapping[str, object] | None,
        related: Receiver | None,
    ) -> Message:
        return await answer(related)

    answer_requests(monkeypatch, {"tools/call"}, call)


@dataclass
class FakeConnector:
    """Opens :class:`FakeSession` s and remembers them, so tests can see what upstream saw."""

    tools: dict[str, list[str]]
    page_size: int = 100
    sessions: list[FakeSession] = field(default_factory=list)
    schemas: dict[str, dict[str, object]] = field(default_factory=dict)  # tool → inputSchema

    async def connect(
        self, upstream: Upstream, offer: ClientOffer, on_unsolicited: Receiver
    ) -> FakeSession:
        session = FakeSession(
            upstream.name,
            self.tools[upstream.name],
            self.page_size,
            on_unsolicited=on_unsolicited,
            schemas=self.schemas,
        )
        self.sessions.append(session)
        return session

    def calls(self, method: str = "tools/call") -> list[Any]:
        return [
            call
            for session in self.sessions
            for call in session.calls
            if call.get("method") == method
        ]


@dataclass
class Wired:
    plane: ControlPlane
    connector: FakeConnector
    sink: MemorySink
    app: DownstreamApp
    token: str
    gateway: HttpGateway

    def client(self) -> httpx.AsyncClient:
        return asgi_client(self.app)


@pytest.fixture
async def wired() -> AsyncIterator[Wired]:
    clock = FakeClock()
    store = MemoryStore(clock)
    plane = ControlPlane(store, clock)
    store.add_upstream(Upstream.stdio("k8s", "kubectl-mcp"), actor="t")
    store.add_upstream(Upstream.remote("docs", "https://127.0.0.1:9/mcp"), actor="t")
    plane.set_policy("seed", SEED, actor="t")
    plane.set_policy("open", '{"version": "1", "default": "allow"}', actor="t")
    token = plane.issue_grant("alice", {"k8s": "seed", "docs": "open"}, actor="t").token
    connector = FakeConnector({"k8s": K8S_TOOLS, "docs": ["search", "read_page"]})
    sink = MemorySink()
    gateway = wire_gateway(store, clock, connector, sink)
    yield Wired(plane, connector, sink, DownstreamApp(gateway), token, gateway)
    await gateway.pool.aclose()


def wire_gateway(
    store: MemoryStore, clock: FakeClock, connector: UpstreamConnector, sink: MemorySink
) -> HttpGateway:
    """The real gateway over ``store``, reaching upstreams through ``connector``."""

    async def lookup(name: str) -> Upstream:
        return store.get_upstream(name)

    pool = UpstreamPool(lookup, connector, timeout=5.0)
    pipeline = Pipeline(pool, MemoryCounters(), sink, clock, CursorSeal(b"k" * 32))
    return HttpGateway(GrantCache(store, RevisionSignal(store), clock), pipeline, pool)
