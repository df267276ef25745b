"""Sealed legacy sessions in process: three gateways ("replicas") over one store, one
keyring and one record of ended sessions. Any of them serves a session another opened;
the lifetime, a DELETE, and a store that can't say whether a session ended are honoured."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import httpx
import pytest

from mcpwall.adapters.downstream.http import DownstreamApp
from mcpwall.control import ControlPlane
from mcpwall.core.errors import StoreUnavailable
from mcpwall.core.registry import Upstream
from mcpwall.gateway import ended as ended_module, sessions
from mcpwall.gateway.ended import EndedSessions
from mcpwall.gateway.http import HttpGateway
from mcpwall.gateway.sealing import SessionKeyring, SessionSealing
from mcpwall.gateway.sessions import SessionTable
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.ended_sessions import Ended, MemoryEndedSessions
from mcpwall.ports.logsink import MemorySink
from mcpwall.ports.memory_store import MemoryStore
from tests.gateway.conftest import K8S_TOOLS, SEED, FakeConnector, asgi_client, wire_gateway
from tests.gateway.test_http import LEGACY_ACCEPT, bearer, initialize, legacy

pytestmark = pytest.mark.anyio

LIFETIME = 3_600
CALL: dict[str, object] = {"name": "list_pods", "arguments": {"namespace": "dev"}}


class Ledger(MemoryEndedSessions):
    """The shared record of ended sessions; unreadable while ``down``."""

    down = False

    def ended_sessions(self, after: int) -> Ended:
        if self.down:
            raise StoreUnavailable("postgresql://db/x", "connection refused")
        return super().ended_sessions(after)

    def end_session(self, key: str, expires_at: datetime) -> None:
        if self.down:
            raise StoreUnavailable("postgresql://db/x", "connection refused")
        super().end_session(key, expires_at)


class Monotonic:
    """Stands in for ``time`` in ``mcpwall.gateway.sessions``: moved by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def monotonic(self) -> float:
        return self.now


@dataclass
class Replicas:
    gateways: list[HttpGateway]
    connectors: list[FakeConnector]
    token: str
    other: str
    clock: FakeClock
    ledger: Ledger
    sinks: list[MemorySink]

    def client(self, n: int) -> httpx.AsyncClient:
        return asgi_client(DownstreamApp(self.gateways[n]))


@pytest.fixture
async def replicas() -> AsyncIterator[Replicas]:
    clock = FakeClock()
    store = MemoryStore(clock)
    plane = ControlPlane(store, clock)
    store.add_upstream(Upstream.stdio("k8s", "kubectl-mcp"), actor="t")
    plane.set_policy("seed", SEED, actor="t")
    token = plane.issue_grant("alice", {"k8s": "seed"}, actor="t").token
    other = plane.issue_grant("bob", {"k8s": "seed"}, actor="t").token
    ledger = Ledger()
    keyring = SessionKeyring([os.urandom(32)])
    gateways, connectors, sinks = [], [], []
    for check_every in (0.0, 0.0, 3_600.0):  # the third checks for ended sessions hourly
        connector = FakeConnector({"k8s": K8S_TOOLS})
        sink = MemorySink()
        gateway = wire_gateway(store, clock, connector, sink)
        ended = EndedSessions(ledger, clock, check_every=check_every)
        gateway.sealing = SessionSealing(keyring, ended, clock, LIFETIME)
        gateways.append(gateway)
        connectors.append(connector)
        sinks.append(sink)
    yield Replicas(gateways, connectors, token, other, clock, ledger, sinks)
    for gateway in gateways:
        await gateway.pool.aclose()


async def status(client: httpx.AsyncClient, token: str, session: str) -> int:
    body = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    headers = bearer(token) | LEGACY_ACCEPT | {"mcp-session-id": session}
    return (await client.post("/mcp/k8s", json=body, headers=headers)).status_code


async def test_any_replica_serves_a_session_another_opened(replicas: Replicas) -> None:
    async with replicas.client(0) as a, replicas.client(1) as b:
        session = await initialize(a, "/mcp/k8s", replicas.token, {"roots": {}})
        assert session.startswith("s1.")
        called = await legacy(b, "/mcp/k8s", replicas.token, session, "tools/call", CALL)
        assert "result" in called
        assert await status(b, replicas.other, session) == 404  # another grant's token
    # B opened its own upstream session (a stdio upstream: a process of its own).
    assert len(replicas.connectors[1].sessions) == 1
    assert replicas.connectors[1].sessions[0].calls[-1]["method"] == "tools/call"


async def test_an_id_past_its_lifetime_is_refused_everywhere(replicas: Replicas) -> None:
    async with replicas.client(0) as a, replicas.client(1) as b:
        session = await initialize(a, "/mcp/k8s", replicas.token)
        assert await status(b, replicas.token, session) == 202
        replicas.clock.advance(LIFETIME - 1)
        assert await status(a, replicas.token, session) == 202
        replicas.clock.advance(1)
        assert await status(a, replicas.token, session) == 404
        assert await status(b, replicas.token, session) == 404


async def test_a_delete_on_one_is_refused_by_the_others(replicas: Replicas) -> None:
    async with replicas.client(0) as a, replicas.client(1) as b, replicas.client(2) as c:
        session = await initialize(a, "/mcp/k8s", replicas.token)
        assert await status(b, replicas.token, session) == 202
        ended = await b.delete(
            "/mcp/k8s", headers=bearer(replicas.token) | {"mcp-session-id": session}
        )
        assert ended.status_code == 200
        assert await status(b, replicas.token, session) == 404
        assert await status(a, replicas.token, session) == 404  # A checks on every request
        # C never served it: it asks the record before carrying a session on, whatever its
        # interval between checks.
        assert await status(c, replicas.token, session) == 404


async def test_a_replica_checking_hourly_serves_an_ended_session_until_its_check(
    replicas: Replicas, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documented bound: a replica that served a session before it ended elsewhere
    refuses it at its next check (``MCPWALL_SESSION_END_CHECK``), not before."""
    clock = Monotonic()
    monkeypatch.setattr(ended_module, "time", clock)
    async with replicas.client(0) as a, replicas.client(2) as c:
        session = await initialize(a, "/mcp/k8s", replicas.token)
        assert await status(c, replicas.token, session) == 202
        headers = bearer(replicas.token) | {"mcp-session-id": session}
        assert (await a.delete("/mcp/k8s", headers=headers)).status_code == 200
        clock.now += 3_599
        assert await status(c, replicas.token, session) == 202
        clock.now += 1
        assert await status(c, replicas.token, session) == 404


async def test_unable_to_tell_whether_it_ended_a_replica_refuses_to_carry_it_on(
    replicas: Replicas,
) -> None:
    async with replicas.client(0) as a, replicas.client(1) as b:
        session = await initialize(a, "/mcp/k8s", replicas.token)
        replicas.ledger.down = True
        assert await status(b, replicas.token, session) == 503
        assert [r.message for r in replicas.sinks[1].records] == [
            "HTTP 503: this session can't be checked now: retry shortly"
        ]
        assert await status(a, replicas.token, session) == 202  # A goes on with what it knew
        ended = await a.delete(
            "/mcp/k8s", headers=bearer(replicas.token) | {"mcp-session-id": session}
        )
        assert ended.status_code == 503  # ended here, the others can't be told: retry
        assert "DELETE again" in ended.json()["error"]["message"]
        replicas.ledger.down = False


async def test_a_session_idle_here_is_let_go_of_and_carried_on_again(
    replicas: Replicas, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Monotonic()
    monkeypatch.setattr(sessions, "time", clock)
    gateway = replicas.gateways[0]
    gateway.sessions = SessionTable(idle_seconds=60)
    async with replicas.client(0) as a:
        session = await initialize(a, "/mcp/k8s", replicas.token)
        assert await legacy(a, "/mcp/k8s", replicas.token, session, "tools/call", CALL)
        first = replicas.connectors[0].sessions[0]
        clock.now += 120
        assert await status(a, replicas.token, session) == 202  # swept, then carried on anew
        assert first.closed  # its upstream session (a process) was stopped when let go of
        assert len(gateway.sessions) == 1
        assert "result" in await legacy(a, "/mcp/k8s", replicas.token, session, "tools/call", CALL)
