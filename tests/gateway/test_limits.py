"""Limits in the pipeline: reserved before forwarding, given back only when the call certainly
never reached the upstream, and what happens when the counters can't be reached (fail closed, or open).

Agents speak the 2026-07-28 stateless shape over HTTP (in process, through ``httpx``'s ASGI
transport) to a gateway with a fake upstream whose answer each call chooses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from mcpwall.adapters.downstream.http import DownstreamApp
from mcpwall.control import ControlPlane
from mcpwall.core.errors import (
    LimitsUnavailable,
    UpstreamClosed,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from mcpwall.core.mcp import CursorSeal
from mcpwall.core.registry import Upstream
from mcpwall.core.windows import UNCHECKED_MESSAGE, Budget
from mcpwall.gateway.grants import GrantCache
from mcpwall.gateway.http import HttpGateway
from mcpwall.gateway.pipeline import Pipeline
from mcpwall.gateway.upstreams import UpstreamPool
from mcpwall.ports.changes import RevisionSignal
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.counters import CounterStore, MemoryCounters, Refusal, Reservation
from mcpwall.ports.logsink import MemorySink
from mcpwall.ports.memory_store import MemoryStore
from mcpwall.ports.upstream import ClientOffer, Message, Receiver
from tests.gateway.conftest import K8S_TOOLS, SEED, FakeConnector, FakeSession
from tests.gateway.test_http import modern_body, modern_headers

pytestmark = pytest.mark.anyio

DELETE = {"namespace": "staging", "name": "p"}


class ChoosingSession(FakeSession):
    """A fake upstream whose ``tools/call`` answer is the call's ``outcome`` argument."""

    async def request(
        self,
        method: str,
        params: Mapping[str, object] | None,
        *,
        related: Receiver | None = None,
        timeout: float,
    ) -> Message:
        arguments = (params or {}).get("arguments")
        outcome = arguments.get("outcome") if isinstance(arguments, dict) else None
        if method == "tools/call" and outcome is not None:
            self.calls.append({"method": method, "params": params})
            if outcome == "unsent":
                raise UpstreamUnavailable(self.name, "connection refused", unsent=True)
            if outcome == "lost":
                raise UpstreamClosed(self.name, "the connection broke after sending")
            if outcome == "timeout":
                raise UpstreamTimeout(self.name, "no answer within 5 s; cancelled upstream")
            if outcome == "protocol_error":
                return {"error": {"code": -32603, "message": "internal error"}}
            if outcome == "garbage":
                raise UpstreamProtocolError(self.name, "it sent something that is not JSON")
            return {"result": {"content": [], "isError": True}}  # a tool error
        return await super().request(method, params, related=related, timeout=timeout)


class ChoosingConnector(FakeConnector):
    async def connect(
        self, upstream: Upstream, offer: ClientOffer, on_unsolicited: Receiver
    ) -> FakeSession:
        session = ChoosingSession(upstream.name, self.tools[upstream.name])
        self.sessions.append(session)
        return session


class UnreachableCounters:
    """A counter store that can't be reached, as a Redis that went away."""

    async def reserve(self, requests: Sequence[Budget], now: float) -> Reservation | Refusal:
        raise LimitsUnavailable("redis://127.0.0.1:9/0", "Connection refused")

    async def release(self, reservation: Reservation) -> None:
        raise AssertionError("nothing was reserved")

    async def usage(self, requests: Sequence[Budget], now: float) -> list[int]:
        raise LimitsUnavailable("redis://127.0.0.1:9/0", "Connection refused")

    async def ping(self) -> None:
        raise LimitsUnavailable("redis://127.0.0.1:9/0", "Connection refused")

    async def aclose(self) -> None:
        return None


@dataclass
class Gateway:
    connector: ChoosingConnector
    sink: MemorySink
    client: httpx.AsyncClient
    token: str

    async def call(self, tool: str, arguments: Mapping[str, object]) -> dict[str, Any]:
        response = await self.client.post(
            "/mcp/k8s",
            json=modern_body("tools/call", {"name": tool, "arguments": dict(arguments)}),
            headers=modern_headers(self.token, "tools/call", tool),
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def forwarded(self) -> int:
        return len(self.connector.calls())


Build = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def build() -> AsyncIterator[Build]:
    """``await build(counters, fail_open=False)``: a gateway on those counters."""
    pools: list[UpstreamPool] = []
    clients: list[httpx.AsyncClient] = []

    async def make(counters: CounterStore, *, fail_open: bool = False) -> Gateway:
        clock = FakeClock()
        store = MemoryStore(clock)
        plane = ControlPlane(store, clock)
        store.add_upstream(Upstream.stdio("k8s", "kubectl-mcp"), actor="t")
        plane.set_policy("seed", SEED, actor="t")
        token = plane.issue_grant("alice", {"k8s": "seed"}, actor="t").token
        connector = ChoosingConnector({"k8s": K8S_TOOLS})
        sink = MemorySink()

        async def lookup(name: str) -> Upstream:
            return store.get_upstream(name)

        pool = UpstreamPool(lookup, connector, timeout=5.0)
        seal = CursorSeal(b"k" * 32)
        pipeline = Pipeline(pool, counters, sink, clock, seal, limits_fail_open=fail_open)
        gateway = HttpGateway(GrantCache(store, RevisionSignal(store), clock), pipeline, pool)
        transport = httpx.ASGITransport(app=DownstreamApp(gateway))
        client = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8700")
        pools.append(pool)
        clients.append(client)
        return Gateway(connector, sink, client, token)

    yield make
    for client in clients:
        await client.aclose()
    for pool in pools:
        await pool.aclose()


def denial(answer: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    result = answer["result"]
    assert result["isError"] is True
    return result["content"][0]["text"], result["_meta"]["io.mcpwall/decision"]


# -- reserving and giving back -----------------------------------------------------------------


async def test_a_call_that_never_left_gives_its_budget_back(build: Build) -> None:
    gateway = await build(MemoryCounters())
    for _ in range(7):
        await gateway.call("delete_pod", DELETE | {"outcome": "unsent"})
    assert gateway.forwarded() == 7  # none of them used up the budget
    answers = [await gateway.call("delete_pod", DELETE) for _ in range(6)]
    assert [a["result"].get("isError", False) for a in answers] == [False] * 5 + [True]
    outcomes = [r.outcome for r in gateway.sink.records]
    assert outcomes == ["unreachable"] * 7 + ["ok"] * 5 + ["not_forwarded"]


@pytest.mark.parametrize(
    ("outcome", "logged"),
    [
        ("lost", "unreachable"),
        ("timeout", "timeout"),
        ("protocol_error", "protocol_error"),
        ("garbage", "protocol_error"),  # an answer that is not MCP
    ],
)
async def test_a_call_that_reached_the_upstream_keeps_its_budget_whatever_came_back(
    build: Build, outcome: str, logged: str
) -> None:
    # The tool may have acted before its connection broke, its time ran out or it answered
    # an error: giving the unit back would let an agent that controls how long a tool runs
    # act past the limit.
    gateway = await build(MemoryCounters())
    answers = [await gateway.call("delete_pod", DELETE | {"outcome": outcome}) for _ in range(6)]
    assert gateway.forwarded() == 5
    text, _ = denial(answers[-1])
    assert text == "[POLICY DENIED] Pod deletion limit exceeded for this grant."
    assert [r.outcome for r in gateway.sink.records] == [logged] * 5 + ["not_forwarded"]


async def test_a_tool_error_still_counts(build: Build) -> None:
    gateway = await build(MemoryCounters())
    for _ in range(5):
        await gateway.call("delete_pod", DELETE | {"outcome": "tool_error"})
    text, meta = denial(await gateway.call("delete_pod", DELETE))
    assert text == "[POLICY DENIED] Pod deletion limit exceeded for this grant."
    assert meta["rule"] == "/tools/delete_pod/limits/0"
    assert 3599 < meta["retry_after_s"] <= 3600
    assert gateway.forwarded() == 5


async def test_a_call_refused_earlier_consumes_nothing(build: Build) -> None:
    gateway = await build(MemoryCounters())
    for _ in range(9):
        await gateway.call("delete_pod", {"namespace": "payments-prod", "name": "p"})
    answers = [await gateway.call("delete_pod", DELETE) for _ in range(5)]
    assert not any(a["result"].get("isError") for a in answers)


# -- counters that can't be reached ------------------------------------------------------------


async def test_unreachable_counters_fail_closed_for_calls_with_limits(build: Build) -> None:
    gateway = await build(UnreachableCounters())
    text, meta = denial(await gateway.call("delete_pod", DELETE))
    assert text == f"[POLICY DENIED] {UNCHECKED_MESSAGE}"
    assert text.startswith("[POLICY DENIED] Rate limits can't be checked right now")
    assert meta["rule"] == "/tools/delete_pod/limits/0"
    assert "retry_after_s" not in meta
    assert gateway.forwarded() == 0
    [record] = [r for r in gateway.sink.records if r.method == "tools/call"]
    assert (record.decision, record.rule, record.outcome) == (
        "deny", "/tools/delete_pod/limits/0", "not_forwarded"
    )  # fmt: skip
    assert record.message == UNCHECKED_MESSAGE
    assert record.fail_open is False


async def test_calls_without_limits_are_unaffected(build: Build) -> None:
    for fail_open in (False, True):
        gateway = await build(UnreachableCounters(), fail_open=fail_open)
        answer = await gateway.call("list_pods", {"namespace": "staging"})
        assert "isError" not in answer["result"]
        [record] = [r for r in gateway.sink.records if r.method == "tools/call"]
        assert (record.decision, record.fail_open) == ("allow", False)


async def test_fail_open_lets_calls_through_marked_in_the_proxy_log(build: Build) -> None:
    gateway = await build(UnreachableCounters(), fail_open=True)
    answers = [await gateway.call("delete_pod", DELETE) for _ in range(7)]
    assert not any(a["result"].get("isError") for a in answers)
    assert gateway.forwarded() == 7
    records = [r for r in gateway.sink.records if r.method == "tools/call"]
    assert {(r.decision, r.rule, r.outcome, r.fail_open) for r in records} == {
        ("allow", "(allowed)", "ok", True)
    }
    # A refusal that comes before the limits is not a fail-open call.
    denial(await gateway.call("delete_pod", {"namespace": "payments-prod", "name": "p"}))
    assert gateway.sink.records[-1].fail_open is False
